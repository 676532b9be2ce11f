/**
 * `daio replay TRACE --target FILE`: replays recorded I/O records (JSON lines, DESIGN.md) against
 * a file or device through the daio BlockDevice (lib/block/file_device.ts), as fast as possible
 * (up to --iodepth in flight, in trace order) or at the recorded pace, and reports the same
 * figures as `daio bench`.
 *
 * @module
 */
import { Command, InvalidArgumentError, Option } from "@commander-js/extra-typings";
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
import { MAX_LINE_CHARS } from "../../lib/trace/limits.ts";
import { BlockError } from "../../lib/block/block_device.ts";
import { FileDeviceError, openFileDeviceSync } from "../../lib/block/file_device.ts";
import type { IoRecord } from "../../lib/trace/io_record.ts";
import { Histogram } from "../../lib/stats/histogram.ts";
import { figuresJson, figuresText, recordFigures } from "./report.ts";
import { MAX_QUEUE_DEPTH, MAX_QUEUES } from "./limits.ts";

function parseDirect(text: string): boolean | "auto" {
  if (text === "1") return true;
  if (text === "0") return false;
  if (text === "auto") return "auto";
  throw new InvalidArgumentError(`expected 1, 0 or auto: ${text}`);
}

/** Adds `replay` to the program. */
export function addReplayCommand(program: Command) {
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
  ).action(async (trace, opts) => {
    // The engine's limits (native/daio_dev.c), as usage errors rather than an EINVAL later.
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
    const args = { trace, ...opts };
    await withRun(opts, { tool: "daio", command: "replay", args }, async (run, stop) => {
      // SIGINT/SIGTERM: stop issuing, give the requests in flight a moment, report what was done.
      const stopped = new Promise<null>((r) =>
        stop.addEventListener("abort", () => r(null), { once: true })
      );
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
      const features = dev.engine.info.features;
      run.event("engine", { engine: "io_uring", features });
      const read = { ios: 0, bytes: 0, lat: new Histogram() };
      const write = { ios: 0, bytes: 0, lat: new Histogram() };
      const other = { ios: 0, lat: new Histogram() };
      let scratch = new Uint8Array(1 << 20);
      for (let i = 0; i < scratch.length; i++) scratch[i] = (i * 131) & 0xff;
      const buffer = (len: number) => {
        if (len > scratch.length) scratch = new Uint8Array(len);
        return scratch.subarray(0, len);
      };
      const inflight = new Set<Promise<void>>();
      let failure: Error | null = null;
      const issue = (rec: IoRecord, line: number) => {
        const t0 = performance.now();
        let p: Promise<void>;
        switch (rec.op) {
          case "R":
            p = dev.read(rec.off, new Uint8Array(rec.len));
            break;
          case "W":
            p = dev.write(rec.off, buffer(rec.len), { fua: rec.fua === true });
            break;
          case "F":
            p = dev.flush();
            break;
          case "T":
            p = dev.trim(rec.off, rec.len);
            break;
          default:
            p = dev.zero(rec.off, rec.len);
        }
        const done = p.then(() => {
          const ns = Math.round((performance.now() - t0) * 1e6);
          if (rec.op === "R") {
            read.ios++;
            read.bytes += rec.len;
            read.lat.record(ns);
          } else if (rec.op === "W") {
            write.ios++;
            write.bytes += rec.len;
            write.lat.record(ns);
          } else {
            other.ios++;
            other.lat.record(ns);
          }
        }, (e) => {
          const why = e instanceof BlockError ? `${e.code}: ${e.message}` : (e as Error).message;
          failure ??= new ToolError(
            `${trace}: line ${line}: ${rec.op} ${rec.off}+${rec.len}: ${why}`,
          );
        }).finally(() => inflight.delete(done));
        inflight.add(done);
      };
      const start = performance.now();
      const cpu0 = process.cpuUsage();
      let firstTs: number | null = null;
      let issued = 0;
      try {
        const lines = readLines(await openTraceInput(trace), MAX_LINE_CHARS)
          [Symbol.asyncIterator]();
        for (;;) {
          const next = await Promise.race([lines.next(), stopped]);
          if (next === null || next.done) break;
          const { line, n } = next.value;
          if (line.trim() === "") continue;
          let rec: IoRecord;
          try {
            rec = parseRecordLine(line, n);
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
          if (failure) throw failure;
          issue(rec, n);
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
        if (failure) throw failure;
      } finally {
        if (!stop.aborted) await Promise.allSettled(inflight);
        if (inflight.size === 0) await dev.close();
      }
      const elapsedSec = (performance.now() - start) / 1000;
      const cpu1 = process.cpuUsage(cpu0);
      const partial = stop.aborted ? String(stop.reason) : null;
      const f = {
        label: `replay ${trace} pace=${opts.pace} iodepth=${opts.iodepth}` +
          (partial ? ` (partial: ${partial} after ${issued} records)` : ""),
        elapsedSec,
        cpuUsr: cpu1.user / 1e6 / elapsedSec,
        cpuSys: cpu1.system / 1e6 / elapsedSec,
        read,
        write,
        other,
      };
      recordFigures(run, f, {
        pace: opts.pace,
        iodepth: opts.iodepth,
        direct: dev.direct,
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
    }, { interruptible: true });
  });
  addExamples(cmd, [
    "daio replay trace.jsonl --target disk.img",
    "daio replay --pace recorded --iodepth 64 guest.jsonl --target /dev/vdb",
    "pdc-filter classify trace.jsonl | daio replay - --target scratch.img --output json",
  ]);
  program.addCommand(cmd);
}
