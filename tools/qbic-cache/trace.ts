/**
 * `qbic-cache trace convert|stats|head`: convert between trace formats (trace_convert.ts),
 * summarize a trace (trace_stats.ts), or show its first records.
 *
 * @module
 */
import { Command, type CommandUnknownOpts, Option } from "@commander-js/extra-typings";
import {
  addExamples,
  LineWriter,
  namedParser,
  openOutput,
  parseCount,
  parseSize,
  withCommonOptions,
} from "../../lib/cli/mod.ts";
import { formatRecord } from "../../lib/trace/jsonl.ts";
import { readTrace } from "../../lib/trace/read_trace.ts";
import { DEVICE_HELP, namingTrace } from "./trace_options.ts";
import { readOpts, type TraceReadOptions } from "./trace_read_options.ts";
import { runConvert } from "./trace_convert.ts";
import { runStats } from "./trace_stats.ts";

export { STATS_MAX_BLOCKS } from "./trace_stats.ts";

/** Prints the first `count` records as JSON lines. */
async function runHead(input: string, opts: TraceReadOptions & { count: number }): Promise<void> {
  const w = new LineWriter(await openOutput());
  let n = 0;
  await namingTrace(input, async () => {
    if (opts.count === 0) return;
    for await (const r of readTrace(input, readOpts(opts))) {
      await w.write(formatRecord(r));
      if (++n >= opts.count) break;
    }
  });
  await w.flush();
}

/** Adds the reading options every subcommand takes: `--format`, `--skip-bad`, `--device`. */
function reading(name: string, description: string) {
  return new Command(name)
    .description(description)
    .argument("<input>", "trace to read ('-' = stdin)")
    .option("--format <name>", "input format (default: detected)")
    .option("--skip-bad", "count and skip malformed lines instead of failing", false)
    .option("--device <id>", DEVICE_HELP);
}

/** Adds `trace` (with convert, stats, head) to the program. */
export function addTraceCommand(program: Command) {
  const trace = new Command("trace").description("convert, summarize and show I/O traces");
  const convert = withCommonOptions(
    reading(
      "convert",
      "convert a trace (any readable format) to JSON lines, the binary form, or libCacheSim's " +
        "oracleGeneral (one record per block access)",
    )
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
      ),
  ).action((input, opts) => runConvert(input, opts));
  const stats = withCommonOptions(
    reading(
      "stats",
      "request count, read/write mix, footprint, sizes, reuse distances, hot blocks",
    )
      .option("--block-size <size>", "block size for footprint and reuse", parseSize, 4096)
      .option("--top <n>", "hot blocks to list", namedParser("--top", parseCount), 10),
  ).action((input, opts) => runStats(input, opts));
  const head = reading("head", "print the first records as JSON lines")
    .option("-n, --count <n>", "how many records", namedParser("-n/--count", parseCount), 10)
    .action((input, opts) => runHead(input, opts));
  const examples: [CommandUnknownOpts, string[]][] = [
    [convert, ["qbic-cache trace convert msr_hm_0.csv -o hm_0.bin"]],
    [stats, [
      "qbic-cache trace stats vm.bin",
      "qbic-cache trace stats --block-size 64k --top 20 --output json msr_hm_0.csv",
    ]],
    [head, [
      "qbic-cache trace head -n 5 hm_0.bin",
      "qbic-cache serve --record - guest.img | qbic-cache trace head -n 3 -",
    ]],
    [trace, [
      "qbic-cache trace convert msr_hm_0.csv -o hm_0.bin",
      "qbic-cache trace stats hm_0.bin",
      "qbic-cache trace head -n 5 hm_0.bin",
    ]],
  ];
  for (const [cmd, lines] of examples) addExamples(cmd, lines);
  trace.addCommand(convert);
  trace.addCommand(stats);
  trace.addCommand(head);
  program.addCommand(trace);
}
