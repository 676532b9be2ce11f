import { removeUnfinishedOutputs } from "./stream_io.ts";
import { type RunInfo, type RunRecorder, startRun, type StoreOptions } from "../results/mod.ts";

/**
 * Runs `body` as one recorded run: starts it in the store, finishes it `ok` or `failed`
 * (re-throwing), and `interrupted` on SIGINT/SIGTERM before exiting with 130.
 *
 * @example
 * ```ts
 * import { withRun } from "./with_run.ts";
 * await withRun({ db: false }, { tool: "daio", command: "doctor", args: {} }, (run) => {
 *   run.metric("probes", 5);
 * });
 * ```
 */
export async function withRun<T>(
  opts: StoreOptions,
  info: RunInfo,
  body: (run: RunRecorder) => Promise<T> | T,
): Promise<T> {
  const run = await startRun(opts, info);
  const onSignal = async () => {
    removeUnfinishedOutputs();
    await run.finish("interrupted").catch(() => {});
    Deno.exit(130);
  };
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  for (const s of signals) Deno.addSignalListener(s, onSignal);
  try {
    const result = await body(run);
    await run.finish("ok");
    return result;
  } catch (e) {
    run.event("error", { message: (e as Error).message ?? String(e) });
    await run.finish("failed").catch(() => {});
    throw e;
  } finally {
    for (const s of signals) Deno.removeSignalListener(s, onSignal);
  }
}
