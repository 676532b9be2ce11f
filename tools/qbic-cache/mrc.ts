/**
 * `qbic-cache mrc`: LRU miss-ratio curve of a trace, exact (stack distances) or approximate
 * (SHARDS sampling), as a table plus an SVG plot written next to it.
 *
 * @module
 */
import { Command, Option } from "@commander-js/extra-typings";
import {
  addExamples,
  formatSize,
  formatTable,
  openOutput,
  parseSize,
  parseSizeList,
  ToolError,
  UsageError,
  withCommonOptions,
  withRun,
} from "../../lib/cli/mod.ts";
import { MRC_MAX_ACCESSES, MrcBuilder, MrcLimitError, type MrcPoint } from "../../lib/cache/mrc.ts";
import { Breather, untilAborted } from "../../lib/cli/event_loop.ts";
import { drawLines } from "../../lib/report/svg_chart.ts";
import { type ReadStats, readTraceChunks } from "../../lib/trace/read_trace.ts";
import { isNoAccessOp } from "../../lib/trace/binary.ts";
import { DEVICE_HELP, namingTrace, traceFormat } from "./trace_options.ts";
import { checkBlockSize, checkCacheSizes } from "./size_options.ts";

/** Accesses above which `--method auto` switches to SHARDS (the MRC's limit). */
export const EXACT_LIMIT = MRC_MAX_ACCESSES;

/** Accesses between two looks at SIGINT/SIGTERM while reading and computing. */
const SLICE = 1 << 16;

/** Writes all of a text to an output and closes it. */
async function writeText(out: WritableStream<Uint8Array>, text: string): Promise<void> {
  const w = out.getWriter();
  await w.write(new TextEncoder().encode(text));
  await w.close();
}

/** The curve as an SVG line chart; the size axis is logarithmic past one decade. */
function mrcChart(curve: { x: number; y: number }[], method: string, partial: boolean): string {
  const xs = curve.map((p) => p.x).filter((x) => x > 0);
  const logx = xs.length > 0 && Math.max(...xs) / Math.min(...xs) > 10;
  return drawLines({
    title: `LRU miss-ratio curve (${method})`,
    x: "cache size (bytes)",
    y: "miss ratio",
    series: [{ name: `LRU ${method}${partial ? " (partial: interrupted)" : ""}`, points: curve }],
    logx,
  }).svg + "\n";
}

/** Adds `mrc` to the program. */
export function addMrcCommand(program: Command) {
  const cmd = withCommonOptions(
    new Command("mrc")
      .description("LRU miss-ratio curve: exact by stack distance, or approximate by SHARDS")
      .requiredOption("--trace <file>", "trace to read ('-' = stdin)")
      .option("--block-size <size>", "cache block size", parseSize, 4096)
      .option(
        "--sizes <list>",
        "cache sizes to report (default: 24 points up to the footprint)",
        parseSizeList,
      )
      .addOption(
        new Option("--method <m>", "exact, shards, or auto (exact up to 20M accesses)").choices(
          ["auto", "exact", "shards"] as const,
        ).default("auto" as const),
      )
      .option("--rate <r>", "SHARDS sampling rate", "0.01")
      .option("--format <name>", "trace format (default: detected)")
      .option("--skip-bad", "count and skip malformed lines instead of failing", false)
      .option("--device <id>", DEVICE_HELP)
      .option("-o, --out <file>", "write the table to FILE (the SVG goes beside it; - = stdout)")
      .option("--svg <file>", "SVG plot path (default: beside -o, else mrc.svg)")
      .option("--no-svg", "no SVG plot"),
  ).action(async (opts) => {
    const bs = checkBlockSize(opts.blockSize as number);
    if (opts.sizes) checkCacheSizes("--sizes", opts.sizes as number[], bs);
    const rate = Number(opts.rate);
    if (!(rate > 0 && rate <= 1)) throw new UsageError(`--rate must be in (0, 1]: ${opts.rate}`);
    const format = traceFormat(opts.format);
    const info = { tool: "qbic-cache", command: "mrc", args: opts };
    await withRun(opts, info, async (run, interrupt) => {
      const stats: ReadStats = { bad: 0 };
      const mrc = new MrcBuilder(opts.method, rate);
      // SIGINT/SIGTERM: stop reading and report the curve of the prefix read.
      const breather = new Breather();
      let since = 0;
      const read = async () => {
        reading: for await (
          const c of untilAborted(
            readTraceChunks(
              opts.trace,
              { format, skipBad: opts.skipBad, device: opts.device },
              stats,
            ),
            interrupt,
          )
        ) {
          for (let i = 0; i < c.count; i++) {
            const op = c.op[i];
            if (isNoAccessOp(op) || c.len[i] === 0) continue;
            const last = Math.floor((c.off[i] + c.len[i] - 1) / bs);
            for (let b = Math.floor(c.off[i] / bs); b <= last; b++) {
              mrc.access(b);
              if (++since === SLICE) {
                since = 0;
                await breather.maybe();
                if (interrupt.aborted) break reading;
              }
            }
          }
          await breather.maybe();
          if (interrupt.aborted) break;
        }
      };
      await namingTrace(opts.trace, async () => {
        try {
          await read();
        } catch (e) {
          if (e instanceof MrcLimitError) throw new ToolError(`${opts.trace}: ${e.message}`);
          throw e;
        }
      });
      const all = mrc.accesses, sampleOnly = mrc.sampleOnly;
      const partial = interrupt.aborted;
      if (partial) {
        run.event("partial", { reason: "interrupted", accesses: all });
        run.metric("partial", 1, "flag");
      }
      const footprint = mrc.footprint();
      let sizes: number[];
      if (opts.sizes) sizes = (opts.sizes as number[]).map((s) => Math.floor(s / bs));
      else {
        const top = Math.max(footprint, 1);
        const set = new Set<number>();
        for (let i = 0; i < 24; i++) set.add(Math.max(1, Math.round(top ** ((i + 1) / 24))));
        sizes = [...set];
      }
      const points: MrcPoint[] = mrc.points(sizes);
      const method = sampleOnly ? `shards(${rate})` : "exact";
      for (const p of points) {
        run.metric("lru_miss_ratio", p.missRatio, "ratio", { size: p.sizeBlocks * bs, method });
      }
      run.metric("accesses", all, "blocks");
      run.metric("footprint", footprint * bs, "bytes");
      const toFile = opts.out === "-" ? undefined : opts.out;
      const svgPath = opts.svg === false
        ? undefined
        : typeof opts.svg === "string"
        ? opts.svg
        : toFile
        ? toFile.replace(/\.[^./]*$/, "") + ".svg"
        : "mrc.svg";
      if (svgPath !== undefined && svgPath === toFile) {
        throw new UsageError(`-o ${toFile}: is also the SVG plot's path; give --svg or --no-svg`);
      }
      let text: string;
      if (opts.output === "json") {
        text = JSON.stringify({
          trace: opts.trace,
          method,
          block_size: bs,
          accesses: all,
          footprint_bytes: footprint * bs,
          partial,
          svg: svgPath ?? null,
          points: points.map((p) => ({
            size: p.sizeBlocks * bs,
            size_blocks: p.sizeBlocks,
            miss_ratio: p.missRatio,
            hit_ratio: 1 - p.missRatio,
          })),
        });
      } else {
        text = formatTable(
          ["size", "blocks", "miss_ratio", "hit_ratio"],
          points.map((p) => [
            formatSize(p.sizeBlocks * bs),
            p.sizeBlocks,
            p.missRatio.toFixed(4),
            (1 - p.missRatio).toFixed(4),
          ]),
          "text",
        );
        if (partial) text += `\npartial: interrupted after ${all} block accesses`;
      }
      // Both outputs are opened before either is written: openOutput names a missing
      // directory in one line, refuses the trace itself, and a failed run leaves neither.
      const table = toFile ? await openOutput(toFile) : undefined;
      const svg = svgPath ? await openOutput(svgPath) : undefined;
      if (svg) {
        await writeText(
          svg,
          mrcChart(
            points.map((p) => ({ x: p.sizeBlocks * bs, y: p.missRatio })),
            method,
            partial,
          ),
        );
      }
      if (table) await writeText(table, text + "\n");
      else console.log(text);
      if (!opts.quiet) {
        console.error(
          `qbic-cache mrc: ${all} block accesses, ${method}` +
            (svgPath ? `, plot in ${svgPath}` : "") +
            (partial ? " — interrupted, partial curve" : ""),
        );
      }
    }, { interruptible: true });
  });
  addExamples(cmd, [
    "qbic-cache mrc --trace vm.bin -o vm-mrc.txt    # table in vm-mrc.txt, plot in vm-mrc.svg",
    "qbic-cache mrc --trace big.bin --method shards --rate 0.001",
  ]);
  program.addCommand(cmd);
}
