/**
 * `daio replay TRACE --target FILE`: replays recorded I/O records (JSON lines, DESIGN.md) against
 * a file or device through the daio BlockDevice (lib/block/file_device.ts), as fast as possible
 * (up to --iodepth in flight, in trace order) or at the recorded pace, and reports the same
 * figures as `daio bench`.
 *
 * @module
 */
import { Command, Option } from "@commander-js/extra-typings";
import process from "node:process";
import {
  addExamples,
  parsePositive,
  readLines,
  sameFile,
  ToolError,
  UsageError,
  withCommonOptions,
  withRun,
} from "../../lib/cli/mod.ts";
import { parseRecordLine } from "../../lib/trace/jsonl.ts";
import { openTraceInput } from "../../lib/trace/decompress.ts";
import { parseDirect } from "./parse_direct.ts";
import { MAX_LINE_CHARS } from "../../lib/trace/limits.ts";
import { BlockError } from "../../lib/block/block_device.ts";
import {
  type FileDevice,
  FileDeviceError,
  openFileDeviceSync,
} from "../../lib/block/file_device.ts";
import type { RunRecorder } from "../../lib/results/mod.ts";
import type { IoRecord } from "../../lib/trace/io_record.ts";
import { Histogram } from "../../lib/stats/histogram.ts";
import { type Figures, figuresJson, figuresText, recordFigures } from "./report.ts";
import { MAX_QUEUE_DEPTH, MAX_QUEUES } from "./limits.ts";

/** Declares `daio replay`: its argument, options and examples (the action is added apart). */
function declareReplayCommand() {
  const cmd = withCommonOptions(
    new Command("replay")
      .description(
        "replay a JSON-lines I/O trace (- for stdin) against --target; WRITES CHANGE THE TARGET",
      )
      .argument("<trace>", "I/O records, one JSON object a line (- = stdin)")
      .requiredOption("--target <file>", "image file or block device to replay against")
      .addOption(
        new Option("--pace <mode>", "asfast: keep --iodepth in flight; recorded: keep the ts gaps")
          .choices(["asfast", "recorded"] as const).default("asfast" as const),
      )
      .option("--iodepth <n>", "most requests in flight", parsePositive, 32)
      .option("--queues <n>", "engine queues (io_uring instances)", parsePositive, 1)
      .option(
        "--direct <0|1|auto>",
        "O_DIRECT (auto falls back with a warning)",
        parseDirect,
        "auto",
      )
      .option("--read-only", "open the target read-only; a trace with writes fails", false),
  );
  addExamples(cmd, [
    "daio replay trace.jsonl --target disk.img",
    "daio replay --pace recorded --iodepth 64 guest.jsonl --target /dev/vdb",
    "pdc-filter classify trace.jsonl | daio replay - --target scratch.img --output json",
  ]);
  return cmd;
}

type ReplayOptions = ReturnType<ReturnType<typeof declareReplayCommand>["opts"]>;

/** Adds `replay` to the program. */
export function addReplayCommand(program: Command) {
  const cmd = declareReplayCommand().action(async (trace, opts) => {
    checkReplayOptions(trace, opts);
    const args = { trace, ...opts };
    await withRun(opts, { tool: "daio", command: "replay", args }, async (run, stop) => {
      const dev = openTarget(opts, run);
      const features = dev.engine.info.features;
      run.event("engine", { engine: "io_uring", features });
      const figures = new ReplayFigures();
      const issuer = new Issuer(trace, dev, figures);
      const start = performance.now();
      const cpu0 = process.cpuUsage();
      const issued = await replayTrace(trace, opts, issuer, stop, start);
      const elapsedSec = (performance.now() - start) / 1000;
      const cpu1 = process.cpuUsage(cpu0);
      const partial = stop.aborted ? String(stop.reason) : null;
      const f: Figures = {
        label: `replay ${trace} pace=${opts.pace} iodepth=${opts.iodepth}` +
          (partial ? ` (partial: ${partial} after ${issued} records)` : ""),
        elapsedSec,
        cpuUsr: cpu1.user / 1e6 / elapsedSec,
        cpuSys: cpu1.system / 1e6 / elapsedSec,
        ...figures,
      };
      reportReplay(run, f, { opts, direct: dev.direct, issued, partial, features });
    }, { interruptible: true });
  });
  program.addCommand(cmd);
}

/** The engine's limits (native/daio_dev.c), as usage errors rather than an EINVAL later. */
function checkReplayOptions(trace: string, opts: ReplayOptions): void {
  if (opts.queues > MAX_QUEUES) {
    throw new UsageError(`--queues ${opts.queues}: at most ${MAX_QUEUES}`);
  }
  if (Math.ceil(opts.iodepth / opts.queues) > MAX_QUEUE_DEPTH) {
    throw new UsageError(
      `--iodepth ${opts.iodepth}: at most ${MAX_QUEUE_DEPTH} per queue ` +
        `(${MAX_QUEUE_DEPTH * opts.queues} with --queues ${opts.queues})`,
    );
  }
  if (trace !== "-" && sameFile(trace, opts.target)) {
    throw new UsageError(`--target ${opts.target}: is the trace being replayed`);
  }
}

/** Opens `--target` on the engine; says so when O_DIRECT was refused and it runs buffered. */
function openTarget(opts: ReplayOptions, run: RunRecorder): FileDevice {
  let dev;
  try {
    dev = openFileDeviceSync(opts.target, {
      readOnly: opts.readOnly,
      direct: opts.direct as boolean | "auto",
      queues: opts.queues,
      queueDepth: Math.max(1, Math.ceil(opts.iodepth / opts.queues)),
    });
  } catch (e) {
    if (e instanceof FileDeviceError) throw new ToolError(e.message);
    throw e;
  }
  if (dev.directRefused && !opts.quiet) {
    console.error(`daio: warning: ${opts.target}: O_DIRECT refused, replaying buffered`);
    run.event("direct_fallback", { path: opts.target, errno: dev.directRefused });
  }
  return dev;
}

/** Completed requests by kind: reads, writes, and the rest (flush, trim, zero). */
class ReplayFigures {
  read = { ios: 0, bytes: 0, lat: new Histogram() };
  write = { ios: 0, bytes: 0, lat: new Histogram() };
  other = { ios: 0, lat: new Histogram() };

  done(rec: IoRecord, ns: number): void {
    if (rec.op === "R" || rec.op === "W") {
      const d = rec.op === "R" ? this.read : this.write;
      d.ios++;
      d.bytes += rec.len;
      d.lat.record(ns);
    } else {
      this.other.ios++;
      this.other.lat.record(ns);
    }
  }
}

/**
 * Issues records on the device and keeps the ones in flight; the first failure is kept (named
 * by its trace line) and thrown by the replay loop.
 */
class Issuer {
  readonly inflight = new Set<Promise<void>>();
  failure: Error | null = null;
  #scratch = new Uint8Array(1 << 20);

  constructor(
    private readonly trace: string,
    readonly dev: FileDevice,
    private readonly figures: ReplayFigures,
  ) {
    for (let i = 0; i < this.#scratch.length; i++) this.#scratch[i] = (i * 131) & 0xff;
  }

  /** The bytes a write sends: a fixed pattern, grown to the largest write. */
  #buffer(len: number): Uint8Array {
    if (len > this.#scratch.length) this.#scratch = new Uint8Array(len);
    return this.#scratch.subarray(0, len);
  }

  #start(rec: IoRecord): Promise<void> {
    switch (rec.op) {
      case "R":
        return this.dev.read(rec.off, new Uint8Array(rec.len));
      case "W":
        return this.dev.write(rec.off, this.#buffer(rec.len), { fua: rec.fua === true });
      case "F":
        return this.dev.flush();
      case "T":
        return this.dev.trim(rec.off, rec.len);
      default:
        return this.dev.zero(rec.off, rec.len);
    }
  }

  issue(rec: IoRecord, line: number): void {
    const t0 = performance.now();
    const done = this.#start(rec).then(
      () => this.figures.done(rec, Math.round((performance.now() - t0) * 1e6)),
      (e) => {
        const why = e instanceof BlockError ? `${e.code}: ${e.message}` : (e as Error).message;
        this.failure ??= new ToolError(
          `${this.trace}: line ${line}: ${rec.op} ${rec.off}+${rec.len}: ${why}`,
        );
      },
    ).finally(() => this.inflight.delete(done));
    this.inflight.add(done);
  }
}

/** A trace line as a record the target can take (inside it; no write on a read-only one). */
function checkedRecord(
  trace: string,
  text: string,
  n: number,
  dev: FileDevice,
  opts: ReplayOptions,
): IoRecord {
  let rec: IoRecord;
  try {
    rec = parseRecordLine(text, n);
  } catch (e) {
    throw new ToolError(`${trace}: ${(e as Error).message}`);
  }
  if (rec.op !== "F" && rec.off + rec.len > dev.size) {
    throw new ToolError(
      `${trace}: line ${n}: ${rec.op} ${rec.off}+${rec.len} is past the end of ` +
        `${opts.target} (${dev.size} bytes)`,
    );
  }
  if (opts.readOnly && rec.op !== "R" && rec.op !== "F") {
    throw new ToolError(`${trace}: line ${n}: ${rec.op} on a --read-only target`);
  }
  return rec;
}

/**
 * Reads the trace and issues its records at `--pace`, up to `--iodepth` in flight, until the
 * end or `stop` (SIGINT/SIGTERM: stop issuing, give the requests in flight a moment); closes
 * the device. The number of records issued.
 */
async function replayTrace(
  trace: string,
  opts: ReplayOptions,
  issuer: Issuer,
  stop: AbortSignal,
  start: number,
): Promise<number> {
  const stopped = new Promise<null>((r) => {
    if (stop.aborted) r(null);
    else stop.addEventListener("abort", () => r(null), { once: true });
  });
  const dev = issuer.dev;
  const inflight = issuer.inflight;
  let firstTs: number | null = null;
  let issued = 0;
  try {
    const lines = readLines(await openTraceInput(trace), MAX_LINE_CHARS)[Symbol.asyncIterator]();
    for (;;) {
      const next = await Promise.race([lines.next(), stopped]);
      if (next === null || next.done) break;
      const { line, n } = next.value;
      if (line.trim() === "") continue;
      const rec = checkedRecord(trace, line, n, dev, opts);
      if (opts.pace === "recorded") {
        firstTs ??= rec.ts;
        const due = start + (rec.ts - firstTs) / 1e6;
        const wait = due - performance.now();
        if (wait > 1) await Promise.race([new Promise((r) => setTimeout(r, wait)), stopped]);
      }
      while (inflight.size >= opts.iodepth && !stop.aborted) {
        await Promise.race([...inflight, stopped]);
      }
      if (stop.aborted) break;
      if (issuer.failure) throw issuer.failure;
      issuer.issue(rec, n);
      issued++;
    }
    if (stop.aborted) {
      // Requests in flight normally finish in milliseconds; a stuck device is not waited for.
      await Promise.race([
        Promise.allSettled(inflight),
        new Promise((r) => setTimeout(r, 500)),
      ]);
    } else {
      await Promise.all(inflight);
    }
    if (issuer.failure) throw issuer.failure;
  } finally {
    if (!stop.aborted) await Promise.allSettled(inflight);
    if (inflight.size === 0) await dev.close();
  }
  return issued;
}

/** The figures in the store and on stdout (text or JSON), marked partial when interrupted. */
function reportReplay(
  run: RunRecorder,
  f: Figures,
  r: {
    opts: ReplayOptions;
    direct: boolean;
    issued: number;
    partial: string | null;
    features: string[];
  },
): void {
  const { opts, issued, partial, features } = r;
  recordFigures(run, f, {
    pace: opts.pace,
    iodepth: opts.iodepth,
    direct: r.direct,
    partial: partial !== null,
  });
  run.metric("records", issued, "", { partial: partial !== null });
  if (opts.output === "json") {
    const j = { ...figuresJson(f), records: issued, partial: partial !== null, features };
    console.log(JSON.stringify(partial ? { ...j, interrupted: partial } : j));
  } else {
    console.log(figuresText(f)); // the result: -q silences only stderr
    console.log(`  engine: io_uring (${features.join(", ")})`);
  }
}
