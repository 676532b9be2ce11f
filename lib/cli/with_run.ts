import { removeUnfinishedOutputs } from "./stream_io.ts";
import { type RunInfo, type RunRecorder, startRun, type StoreOptions } from "../results/mod.ts";

/** How a run takes SIGINT/SIGTERM. */
export interface InterruptOptions {
  /**
   * The body stops its work itself when `interrupt` aborts (and reports what it has, marked as
   * partial); the run then ends `interrupted` with exit 130. A second signal, or a body still
   * running {@linkcode INTERRUPT_GRACE_MS} after the first, exits at once.
   */
  interruptible?: boolean;
}

/** How long an interruptible body has to finish after the first signal. */
export const INTERRUPT_GRACE_MS = 5000;

/**
 * Runs `body` as one recorded run: starts it in the store, finishes it `ok` or `failed`
 * (re-throwing), and `interrupted` on SIGINT/SIGTERM before exiting with 130 — at once, or,
 * for an `interruptible` body, once the body has returned its partial result.
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
  body: (run: RunRecorder, interrupt: AbortSignal) => Promise<T> | T,
  how: InterruptOptions = {},
): Promise<T> {
  const run = await startRun(opts, info);
  const interrupt = new AbortController();
  const stopNow = async () => {
    removeUnfinishedOutputs();
    await run.finish("interrupted").catch(() => {});
    Deno.exit(130);
  };
  let grace: ReturnType<typeof setTimeout> | undefined;
  // The abort's reason is the signal's name, so a body can say which one stopped it.
  const onSignal = (sig: Deno.Signal) => () => {
    if (!how.interruptible || interrupt.signal.aborted) return void stopNow();
    interrupt.abort(sig);
    grace = setTimeout(stopNow, INTERRUPT_GRACE_MS);
  };
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  const handlers = signals.map((s) => [s, onSignal(s)] as const);
  for (const [s, h] of handlers) Deno.addSignalListener(s, h);
  try {
    const result = await body(run, interrupt.signal);
    if (interrupt.signal.aborted) {
      await run.finish("interrupted").catch(() => {});
      Deno.exit(130);
    }
    await run.finish("ok");
    return result;
  } catch (e) {
    if (interrupt.signal.aborted) await stopNow();
    run.event("error", { message: (e as Error).message ?? String(e) });
    await run.finish("failed").catch(() => {});
    throw e;
  } finally {
    clearTimeout(grace);
    for (const [s, h] of handlers) Deno.removeSignalListener(s, h);
  }
}
