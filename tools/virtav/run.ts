/**
 * The run recorder for virtav's subcommands, loaded only when it records: `--no-db` runs get a
 * recorder that keeps nothing, and the results store (DuckDB, ~100-180 ms to load here) is
 * imported only when a run is recorded. Same contract as lib/cli's `withRun`.
 *
 * @module
 */
import type { RunInfo, RunRecorder, StoreOptions } from "../../lib/results/mod.ts";
import { resolveDbPath } from "../../lib/results/db_path.ts";

/** A recorder for `--no-db`: every figure and event is dropped. */
function nullRecorder(info: RunInfo): RunRecorder {
  const r = {
    id: crypto.randomUUID(),
    started: Date.now() * 1000,
    dbPath: null,
    info,
    lastWrite: "none",
    metric() {},
    event() {},
    rows() {},
    async flush() {},
    async finish() {},
  };
  return r as unknown as RunRecorder;
}

/**
 * Runs `body` as one run: recorded through lib/cli's `withRun` (imported on demand), or with
 * a recorder that keeps nothing when no store is used (`--no-db`, `HVKIT_DB=none`).
 *
 * @example
 * ```ts
 * import { withRun } from "./run.ts";
 * await withRun({ db: false }, { tool: "virtav", command: "scan", args: {} }, (run) => {
 *   run.metric("files", 1);
 * });
 * ```
 */
export async function withRun<T>(
  opts: StoreOptions,
  info: RunInfo,
  body: (run: RunRecorder) => Promise<T> | T,
): Promise<T> {
  if (resolveDbPath(opts) === null) return await body(nullRecorder(info));
  const { withRun: recorded } = await import("../../lib/cli/with_run.ts");
  return await recorded(opts, info, body);
}
