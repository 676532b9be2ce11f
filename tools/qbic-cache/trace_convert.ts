/**
 * `qbic-cache trace convert`: any readable trace to JSON lines, the binary form, libCacheSim's
 * oracleGeneral or its csv.
 *
 * @module
 */
import { LineWriter, openOutput, withRun } from "../../lib/cli/mod.ts";
import type { StoreOptions } from "../../lib/results/mod.ts";
import { formatRecord } from "../../lib/trace/jsonl.ts";
import { BinaryTraceWriter } from "../../lib/trace/binary.ts";
import { OracleGeneralWriter } from "../../lib/trace/oracle_general.ts";
import { lcsCsvLines } from "../../lib/trace/lcs_csv.ts";
import type { IoRecord } from "../../lib/trace/io_record.ts";
import { type ReadStats, readTrace } from "../../lib/trace/read_trace.ts";
import { namingTrace } from "./trace_options.ts";
import { checkBlockSize } from "./size_options.ts";
import { readOpts, type TraceReadOptions } from "./trace_read_options.ts";

/** The output formats of `trace convert`. */
export type ConvertTarget = "jsonl" | "bin" | "oracleGeneral" | "lcs-csv";

/** The options `trace convert` reads. */
export interface ConvertOptions extends TraceReadOptions, StoreOptions {
  out?: string;
  to?: ConvertTarget;
  blockSize: number;
  quiet?: boolean;
}

/** `--to`, else what `-o`'s name says: bin for .bin, oracleGeneral when it names one, jsonl. */
function targetOf(opts: ConvertOptions): ConvertTarget {
  return opts.to ??
    (/\.oracleGeneral(\.|$)/i.test(opts.out ?? "")
      ? "oracleGeneral"
      : opts.out?.endsWith(".bin")
      ? "bin"
      : "jsonl");
}

/** What a conversion wrote. */
interface Converted {
  records: number;
  /** Flushes and trims with no record (oracleGeneral, lcs-csv). */
  dropped: number;
  /** Block accesses written (oracleGeneral, lcs-csv). */
  blocks: number;
}

/**
 * Converts `input` to `opts.out`. The input is opened and its first record read before the
 * output is opened: a missing or malformed input, or `-o` naming it, fails with the output
 * untouched.
 */
async function convert(
  input: string,
  opts: ConvertOptions,
  to: ConvertTarget,
  bs: number,
  stats: ReadStats,
): Promise<Converted> {
  const done: Converted = { records: 0, dropped: 0, blocks: 0 };
  const records = readTrace(input, readOpts(opts), stats);
  let next = await records.next();
  const out = await openOutput(opts.out);
  const w = to === "bin"
    ? new BinaryTraceWriter(out)
    : to === "oracleGeneral"
    ? new OracleGeneralWriter(out, bs)
    : new LineWriter(out);
  const write = w instanceof LineWriter
    ? to === "lcs-csv"
      ? async (r: IoRecord) => {
        if (r.op === "F" || r.op === "T") done.dropped++;
        for (const line of lcsCsvLines(r, bs)) await w.write(line), done.blocks++;
      }
      : (r: IoRecord) => w.write(formatRecord(r))
    : (r: IoRecord) => w.write(r);
  for (; !next.done; next = await records.next()) {
    await write(next.value);
    done.records++;
  }
  await w.close();
  if (w instanceof OracleGeneralWriter) {
    done.dropped = w.dropped;
    done.blocks = w.written;
  }
  return done;
}

/** Runs `trace convert`. */
export async function runConvert(input: string, opts: ConvertOptions): Promise<void> {
  const to = targetOf(opts);
  const bs = checkBlockSize(opts.blockSize);
  const info = { tool: "qbic-cache", command: "trace convert", args: { input, ...opts } };
  await withRun(opts, info, async (run) => {
    const stats: ReadStats = { bad: 0 };
    const c = await namingTrace(input, () => convert(input, opts, to, bs, stats));
    run.metric("records", c.records, "records", { to });
    run.metric("bad_lines", stats.bad, "lines");
    if (opts.quiet) return;
    const bad = stats.bad ? `, ${stats.bad} bad lines skipped (first: ${stats.firstBad})` : "";
    const og = to === "oracleGeneral" || to === "lcs-csv"
      ? ` (${c.blocks} block accesses of ${bs} bytes; ${c.dropped} flushes/trims have no record)`
      : "";
    console.error(
      `qbic-cache trace convert: ${c.records} records ${stats.format ?? "(empty)"}` +
        `${stats.compression ? ` (${stats.compression})` : ""} -> ${to}${og}${bad}`,
    );
  });
}
