import { type Batch, spoolBatch, writeBatch } from "./store_writer.ts";
import type { TableSpec } from "./schema.ts";
import { resolveDbPath, type StoreOptions } from "./db_path.ts";

/** What a run is: the tool, its subcommand and the arguments it was given. */
export interface RunInfo {
  tool: string;
  command: string;
  args: unknown;
}

/** Labels attached to a metric, e.g. `{ policy: "lru", size: "64M" }`. */
export type Labels = Record<string, string | number | boolean>;

function nowMicros(): number {
  return (performance.timeOrigin + performance.now()) * 1000;
}

function hostName(): string {
  try {
    return Deno.hostname();
  } catch {
    return "unknown";
  }
}

/** The git revision of this hvkit checkout, read from .git without running git. */
function gitRevision(): string {
  try {
    const git = new URL("../../.git/", import.meta.url).pathname;
    const head = Deno.readTextFileSync(git + "HEAD").trim();
    if (!head.startsWith("ref: ")) return head.slice(0, 12);
    const ref = head.slice(5);
    try {
      return Deno.readTextFileSync(git + ref).trim().slice(0, 12);
    } catch {
      const packed = Deno.readTextFileSync(git + "packed-refs");
      const line = packed.split("\n").find((l) => l.endsWith(" " + ref));
      return line ? line.slice(0, 12) : "unknown";
    }
  } catch {
    return "unknown";
  }
}

const reported = new Set<string>();

/** Says a store's failure on stderr, once per store per process. */
function reportOnce(dbPath: string, message: string): void {
  if (reported.has(dbPath)) return;
  reported.add(dbPath);
  console.error(`${message} (later failures of this store are not reported)`);
}

/**
 * One run of one tool in the results store: collects metrics, events and tool-table rows in
 * memory and writes them with {@linkcode RunRecorder.flush} (long runs flush periodically)
 * and {@linkcode RunRecorder.finish}. With the store off (`--no-db`) it records nothing.
 *
 * @example
 * ```ts
 * import { startRun } from "./run_recorder.ts";
 * const run = await startRun({ db: false }, { tool: "daio", command: "bench", args: {} });
 * run.metric("iops", 1234, "1/s", { rw: "randread" });
 * await run.finish("ok");
 * ```
 */
export class RunRecorder {
  readonly id = crypto.randomUUID();
  readonly started = nowMicros();
  /**
   * Where the last flush went: the file, its spool, nowhere (`--no-db`), or nowhere because
   * the store failed (reported on stderr; see {@linkcode RunRecorder.flush}).
   */
  lastWrite: "db" | "spool" | "none" | "failed" = "none";
  #metrics: Batch["metrics"] = [];
  #events: Batch["events"] = [];
  #tables = new Map<string, { spec: TableSpec; rows: unknown[][] }>();
  // Read once per run, not at every flush (a long serve flushes every --stats-interval).
  #host: string | undefined;
  #gitRev: string | undefined;

  /**
   * `failures: "throw"` makes a failed write reject, as a tool whose product is the store
   * itself wants (bench/run); the default reports it once and goes on (see flush).
   */
  constructor(
    readonly dbPath: string | null,
    readonly info: RunInfo,
    readonly failures: "report" | "throw" = "report",
  ) {}

  /** Records one figure. */
  metric(name: string, value: number, unit = "", labels: Labels = {}): void {
    this.#metrics.push([name, value, unit, JSON.stringify(labels), nowMicros()]);
  }

  /** Records something notable that happened. */
  event(kind: string, payload: unknown = null): void {
    this.#events.push([nowMicros(), kind, JSON.stringify(payload)]);
  }

  /** Appends rows to a tool's own table (values in `spec.columns` order). */
  rows(spec: TableSpec, rows: unknown[][]): void {
    let t = this.#tables.get(spec.name);
    if (!t) this.#tables.set(spec.name, t = { spec, rows: [] });
    for (const r of rows) t.rows.push(r);
  }

  /**
   * Writes what was collected so far (and the run row) to the store. Never rejects (unless
   * `failures` is `"throw"`): a store that fails is reported on stderr once (per store and
   * process), and the batch spooled.
   */
  async flush(status = "running", finished: number | null = null): Promise<void> {
    if (this.dbPath === null) return;
    const batch: Batch = {
      run: {
        id: this.id,
        tool: this.info.tool,
        command: this.info.command,
        args: this.info.args,
        started: this.started,
        finished,
        host: this.#host ??= hostName(),
        gitRev: this.#gitRev ??= gitRevision(),
        status,
      },
      metrics: this.#metrics,
      events: this.#events,
      tables: [...this.#tables.values()],
    };
    this.#metrics = [];
    this.#events = [];
    this.#tables = new Map();
    try {
      this.lastWrite = await writeBatch(this.dbPath, batch);
    } catch (e) {
      if (this.failures === "throw") throw e;
      // The store is not the run: its failure is said once on stderr and the run goes on to
      // exit with its own status. The batch goes to the spool when it can, for a later merge.
      let kept = "";
      try {
        kept = `; this batch kept in ${spoolBatch(this.dbPath, batch)}`;
        this.lastWrite = "spool";
      } catch {
        this.lastWrite = "failed";
      }
      reportOnce(this.dbPath, `${(e as Error).message}${kept}`);
    }
  }

  /** Ends the run with a status (`ok`, `failed`, `interrupted`) and writes everything. */
  async finish(status: "ok" | "failed" | "interrupted"): Promise<void> {
    await this.flush(status, nowMicros());
  }
}

/**
 * Starts a run: resolves the store's path from the options and records the run as `running`.
 */
export async function startRun(
  opts: StoreOptions,
  info: RunInfo,
  failures: "report" | "throw" = "report",
): Promise<RunRecorder> {
  const run = new RunRecorder(resolveDbPath(opts), info, failures);
  await run.flush();
  return run;
}
