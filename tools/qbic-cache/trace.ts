/**
 * `qbic-cache trace convert|stats|head`: convert between trace formats, summarize a trace, or
 * show its first records.
 *
 * @module
 */
import { Command, Option } from "@commander-js/extra-typings";
import {
  addExamples,
  formatSize,
  formatTable,
  LineWriter,
  openOutput,
  parseCount,
  parseOption,
  parseSize,
  withCommonOptions,
  withRun,
} from "../../lib/cli/mod.ts";
import { formatRecord } from "../../lib/trace/jsonl.ts";
import { BinaryTraceWriter } from "../../lib/trace/binary.ts";
import { OracleGeneralWriter } from "../../lib/trace/oracle_general.ts";
import { lcsCsvLines } from "../../lib/trace/lcs_csv.ts";
import type { IoRecord } from "../../lib/trace/io_record.ts";
import { type ReadStats, readTrace, readTraceChunks } from "../../lib/trace/read_trace.ts";
import { StackDistanceCounter } from "../../lib/cache/stack_distance.ts";
import { MRC_MAX_ACCESSES } from "../../lib/cache/mrc.ts";
import { Breather, untilAborted } from "../../lib/cli/event_loop.ts";

/** Distinct blocks `trace stats` counts accesses of (footprint, hot blocks); docs/limits.md. */
export const STATS_MAX_BLOCKS = 10_000_000;
import { DEVICE_HELP, namingTrace, traceFormat } from "./trace_options.ts";
import { checkBlockSize } from "./size_options.ts";

function readOpts(opts: { format?: string; skipBad: boolean; device?: string }) {
  return { format: traceFormat(opts.format), skipBad: opts.skipBad, device: opts.device };
}

/** Adds `trace` (with convert, stats, head) to the program. */
export function addTraceCommand(program: Command) {
  const trace = new Command("trace").description("convert, summarize and show I/O traces");

  const convert = withCommonOptions(
    new Command("convert")
      .description(
        "convert a trace (any readable format) to JSON lines, the binary form, or libCacheSim's " +
          "oracleGeneral (one record per block access)",
      )
      .argument("<input>", "trace to read ('-' = stdin)")
      .option("-o, --out <file>", "output file (default: stdout)")
      .addOption(
        new Option(
          "--to <format>",
          "output format (default: bin when -o ends in .bin, oracleGeneral when it names one)",
        ).choices(["jsonl", "bin", "oracleGeneral", "lcs-csv"] as const),
      )
      .option(
        "--block-size <size>",
        "oracleGeneral, lcs-csv: the block each record is (obj_size)",
        parseSize,
        4096,
      )
      .option("--format <name>", "input format (default: detected)")
      .option("--skip-bad", "count and skip malformed lines instead of failing", false)
      .option("--device <id>", DEVICE_HELP),
  ).action(async (input, opts) => {
    const to = opts.to ??
      (/\.oracleGeneral(\.|$)/i.test(opts.out ?? "")
        ? "oracleGeneral"
        : opts.out?.endsWith(".bin")
        ? "bin"
        : "jsonl");
    const bs = checkBlockSize(opts.blockSize as number);
    await withRun(
      opts,
      { tool: "qbic-cache", command: "trace convert", args: { input, ...opts } },
      async (run) => {
        const stats: ReadStats = { bad: 0 };
        let n = 0, dropped = 0, blocks = 0;
        await namingTrace(input, async () => {
          // Open and check the input (its first record) before the output: a missing or
          // malformed input, or `-o` naming it, fails before the output is touched.
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
                if (r.op === "F" || r.op === "T") dropped++;
                for (const line of lcsCsvLines(r, bs)) await w.write(line), blocks++;
              }
              : (r: IoRecord) => w.write(formatRecord(r))
            : (r: IoRecord) => w.write(r);
          for (; !next.done; next = await records.next()) {
            await write(next.value);
            n++;
          }
          await w.close();
          if (w instanceof OracleGeneralWriter) {
            dropped = w.dropped;
            blocks = w.written;
          }
        });
        run.metric("records", n, "records", { to });
        run.metric("bad_lines", stats.bad, "lines");
        if (!opts.quiet) {
          const bad = stats.bad
            ? `, ${stats.bad} bad lines skipped (first: ${stats.firstBad})`
            : "";
          const og = to === "oracleGeneral" || to === "lcs-csv"
            ? ` (${blocks} block accesses of ${bs} bytes; ${dropped} flushes/trims have no record)`
            : "";
          console.error(
            `qbic-cache trace convert: ${n} records ${stats.format ?? "(empty)"}` +
              `${stats.compression ? ` (${stats.compression})` : ""} -> ${to}${og}${bad}`,
          );
        }
      },
    );
  });
  addExamples(convert, ["qbic-cache trace convert msr_hm_0.csv -o hm_0.bin"]);

  const head = new Command("head")
    .description("print the first records as JSON lines")
    .argument("<input>", "trace to read ('-' = stdin)")
    .option("-n, --count <n>", "how many records", "10")
    .option("--format <name>", "input format (default: detected)")
    .option("--skip-bad", "count and skip malformed lines instead of failing", false)
    .option("--device <id>", DEVICE_HELP)
    .action(async (input, opts) => {
      const max = parseOption("-n/--count", opts.count, parseCount);
      const w = new LineWriter(await openOutput());
      let n = 0;
      await namingTrace(input, async () => {
        if (max === 0) return;
        for await (const r of readTrace(input, readOpts(opts))) {
          await w.write(formatRecord(r));
          if (++n >= max) break;
        }
      });
      await w.flush();
    });

  const statsCmd = withCommonOptions(
    new Command("stats")
      .description("request count, read/write mix, footprint, sizes, reuse distances, hot blocks")
      .argument("<input>", "trace to read ('-' = stdin)")
      .option("--block-size <size>", "block size for footprint and reuse", parseSize, 4096)
      .option("--top <n>", "hot blocks to list", "10")
      .option("--format <name>", "input format (default: detected)")
      .option("--skip-bad", "count and skip malformed lines instead of failing", false)
      .option("--device <id>", DEVICE_HELP),
  ).action(async (input, opts) => {
    const bs = checkBlockSize(opts.blockSize as number);
    const top = parseOption("--top", opts.top, parseCount);
    await withRun(
      opts,
      { tool: "qbic-cache", command: "trace stats", args: { input, ...opts } },
      async (run, interrupt) => {
        const st: ReadStats = { bad: 0 };
        const ops = { R: 0, W: 0, F: 0, T: 0, Z: 0 };
        const bytes = { R: 0, W: 0, F: 0, T: 0, Z: 0 };
        const letters = ["R", "W", "F", "T", "Z"] as const;
        const sizeHist = new Map<number, number>();
        // Per-block state is bounded (docs/limits.md): hot-block counts for the first
        // STATS_MAX_BLOCKS distinct blocks, reuse distances over the first MRC_MAX_ACCESSES
        // accesses; past either the output says so instead of running out of memory.
        const counts = new Map<number, number>();
        const reuseCounter = new StackDistanceCounter();
        let n = 0, requests = 0, blocksCapped = false;
        const breather = new Breather();
        await namingTrace(input, async () => {
          for await (
            const c of untilAborted(readTraceChunks(input, readOpts(opts), st), interrupt)
          ) {
            requests += c.count;
            for (let i = 0; i < c.count; i++) {
              const op = letters[c.op[i]];
              ops[op]++;
              bytes[op] += c.len[i];
              if (op === "F" || op === "T") continue;
              const bucket = c.len[i] === 0 ? 0 : 2 ** Math.ceil(Math.log2(c.len[i]));
              sizeHist.set(bucket, (sizeHist.get(bucket) ?? 0) + 1);
              if (c.len[i] === 0) continue;
              const last = Math.floor((c.off[i] + c.len[i] - 1) / bs);
              for (let b = Math.floor(c.off[i] / bs); b <= last; b++) {
                const k = counts.get(b);
                if (k !== undefined) counts.set(b, k + 1);
                else if (counts.size < STATS_MAX_BLOCKS) counts.set(b, 1);
                else blocksCapped = true;
                if (n++ < MRC_MAX_ACCESSES) reuseCounter.add(b);
                if ((n & 0xffff) === 0) {
                  await breather.maybe();
                  if (interrupt.aborted) return;
                }
              }
            }
            await breather.maybe();
          }
        });
        const h = reuseCounter.histogram();
        const partial = interrupt.aborted;
        // Reuse distances in power-of-two buckets of blocks: [1], [2], [3-4], [5-8], ...
        const reuse = new Map<number, number>();
        for (let d = 1; d < h.counts.length; d++) {
          if (!h.counts[d]) continue;
          const b = 2 ** Math.ceil(Math.log2(d));
          reuse.set(b, (reuse.get(b) ?? 0) + h.counts[d]);
        }
        const hot = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, top);
        const rw = ops.R + ops.W + ops.Z;
        const summary = {
          input,
          format: st.format ?? null,
          compression: st.compression ?? null,
          device: opts.device ?? null,
          filtered_out: st.filtered ?? 0,
          requests,
          bad_lines: st.bad,
          ops,
          bytes,
          read_share: rw ? ops.R / rw : 0,
          block_size: bs,
          block_accesses: n,
          footprint_blocks: counts.size,
          footprint_bytes: counts.size * bs,
          sizes: Object.fromEntries([...sizeHist.entries()].sort((a, b) => a[0] - b[0])),
          reuse_distance: {
            cold: h.cold,
            ...Object.fromEntries(
              [...reuse.entries()].sort((a, b) => a[0] - b[0]).map(([k, v]) => [`<=${k}`, v]),
            ),
          },
          hot_blocks: hot.map(([block, count]) => ({ block, offset: block * bs, count })),
          // Limits reached (docs/limits.md): footprint and hot blocks then count only the first
          // STATS_MAX_BLOCKS distinct blocks, reuse distances the first MRC_MAX_ACCESSES accesses.
          footprint_capped: blocksCapped,
          reuse_accesses: h.total,
          partial,
        };
        if (partial) {
          run.event("partial", { reason: "interrupted", requests });
          run.metric("partial", 1, "flag");
        }
        run.metric("requests", requests, "requests");
        run.metric("footprint", summary.footprint_bytes, "bytes");
        run.metric("read_share", summary.read_share, "ratio");
        if (opts.output === "json") {
          console.log(JSON.stringify(summary));
          return;
        }
        const lines = [
          `format       ${summary.format ?? "(empty)"}` +
          (st.compression ? ` (${st.compression})` : "") +
          (opts.device !== undefined
            ? `, device ${opts.device} (${st.filtered ?? 0} records of others left out)`
            : ""),
          `requests     ${requests}  (R ${ops.R}, W ${ops.W}, Z ${ops.Z}, T ${ops.T}, F ${ops.F})` +
          (st.bad ? `  bad lines skipped: ${st.bad}` : ""),
          `bytes        read ${formatSize(bytes.R)}, written ${
            formatSize(bytes.W + bytes.Z)
          }, trimmed ${formatSize(bytes.T)}`,
          `read share   ${(summary.read_share * 100).toFixed(1)}% of R/W/Z requests`,
          `footprint    ${blocksCapped ? "at least " : ""}${counts.size} blocks of ${
            formatSize(bs)
          } = ${formatSize(summary.footprint_bytes)}` +
          ` (${n} block accesses)`,
          "",
          "request sizes (up to)",
          formatTable(
            ["size", "requests"],
            [...sizeHist.entries()].sort((a, b) => a[0] - b[0]).map(([k, v]) => [formatSize(k), v]),
            "text",
          ),
          "",
          "reuse distance (distinct blocks between accesses, up to)",
          formatTable(
            ["distance", "accesses"],
            [
              ["cold", h.cold],
              ...[...reuse.entries()].sort((a, b) => a[0] - b[0]).map(([k, v]) => [k, v]),
            ],
            "text",
          ),
          "",
          `top ${hot.length} hot blocks`,
          formatTable(["block", "offset", "accesses"], hot.map(([b, c]) => [b, b * bs, c]), "text"),
        ];
        if (h.total < n) {
          lines.push(`(reuse distances over the first ${h.total} of ${n} block accesses)`);
        }
        if (partial) lines.push(`partial: interrupted after ${requests} requests`);
        console.log(lines.join("\n"));
      },
      { interruptible: true },
    );
  });

  addExamples(statsCmd, [
    "qbic-cache trace stats vm.bin",
    "qbic-cache trace stats --block-size 64k --top 20 --output json msr_hm_0.csv",
  ]);
  addExamples(head, [
    "qbic-cache trace head -n 5 hm_0.bin",
    "qbic-cache serve --record - guest.img | qbic-cache trace head -n 3 -",
  ]);
  addExamples(trace, [
    "qbic-cache trace convert msr_hm_0.csv -o hm_0.bin",
    "qbic-cache trace stats hm_0.bin",
    "qbic-cache trace head -n 5 hm_0.bin",
  ]);
  trace.addCommand(convert);
  trace.addCommand(statsCmd);
  trace.addCommand(head);
  program.addCommand(trace);
}
