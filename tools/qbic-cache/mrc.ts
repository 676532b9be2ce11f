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
  namedParser,
  openOutput,
  parsePositive,
  parseSize,
  parseSizeList,
  ToolError,
  UsageError,
  withCommonOptions,
  withRun,
} from "../../lib/cli/mod.ts";
import { MRC_MAX_ACCESSES, MrcBuilder, MrcLimitError, type MrcPoint } from "../../lib/cache/mrc.ts";
import type { StoreOptions } from "../../lib/results/mod.ts";
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

/** The options `mrc` reads, as commander parses them. */
interface MrcOptions extends StoreOptions {
  trace: string;
  blockSize: number;
  sizes?: number[];
  method: "auto" | "exact" | "shards";
  rate: string;
  shardsMax?: number;
  format?: string;
  skipBad: boolean;
  device?: string;
  out?: string;
  svg?: string | boolean;
  output?: string;
  quiet?: boolean;
}

/** Feeds the trace's block accesses to the builder until the end or an interrupt. */
async function feedTrace(
  opts: MrcOptions,
  bs: number,
  mrc: MrcBuilder,
  stats: ReadStats,
  interrupt: AbortSignal,
): Promise<void> {
  const breather = new Breather();
  const chunks = readTraceChunks(
    opts.trace,
    { format: traceFormat(opts.format), skipBad: opts.skipBad, device: opts.device },
    stats,
  );
  let since = 0;
  for await (const c of untilAborted(chunks, interrupt)) {
    for (let i = 0; i < c.count; i++) {
      if (isNoAccessOp(c.op[i]) || c.len[i] === 0) continue;
      const last = Math.floor((c.off[i] + c.len[i] - 1) / bs);
      for (let b = Math.floor(c.off[i] / bs); b <= last; b++) {
        mrc.access(b);
        if (++since === SLICE) {
          since = 0;
          await breather.maybe();
          if (interrupt.aborted) return;
        }
      }
    }
    await breather.maybe();
    if (interrupt.aborted) return;
  }
}

/** The sizes (blocks) to report: `--sizes`, else 24 log-spaced points up to the footprint. */
function curveSizes(opts: MrcOptions, bs: number, footprint: number): number[] {
  if (opts.sizes) return opts.sizes.map((s) => Math.floor(s / bs));
  const top = Math.max(footprint, 1);
  const set = new Set<number>();
  for (let i = 0; i < 24; i++) set.add(Math.max(1, Math.round(top ** ((i + 1) / 24))));
  return [...set];
}

/** How the curve was made, as printed and labelled: exact, shards(R) or fixed-size shards. */
function methodName(mrc: MrcBuilder): string {
  if (!mrc.sampleOnly) return "exact";
  if (mrc.maxSamples === undefined) return `shards(${mrc.rate})`;
  return `shards(max=${mrc.maxSamples},rate=${Number(mrc.shardsRate.toPrecision(3))})`;
}

/** The SVG's path: --svg, else beside -o, else mrc.svg; undefined with --no-svg. */
function svgPathOf(opts: MrcOptions): string | undefined {
  const toFile = opts.out === "-" ? undefined : opts.out;
  const path = opts.svg === false
    ? undefined
    : typeof opts.svg === "string"
    ? opts.svg
    : toFile
    ? toFile.replace(/\.[^./]*$/, "") + ".svg"
    : "mrc.svg";
  if (path !== undefined && path === toFile) {
    throw new UsageError(`-o ${toFile}: is also the SVG plot's path; give --svg or --no-svg`);
  }
  return path;
}

/** The result as text (a table) or JSON. */
function renderCurve(
  opts: MrcOptions,
  r: { method: string; bs: number; all: number; footprint: number; partial: boolean },
  points: MrcPoint[],
  svgPath: string | undefined,
): string {
  const { bs } = r;
  if (opts.output === "json") {
    return JSON.stringify({
      trace: opts.trace,
      method: r.method,
      block_size: bs,
      accesses: r.all,
      footprint_bytes: r.footprint * bs,
      partial: r.partial,
      svg: svgPath ?? null,
      points: points.map((p) => ({
        size: p.sizeBlocks * bs,
        size_blocks: p.sizeBlocks,
        miss_ratio: p.missRatio,
        hit_ratio: 1 - p.missRatio,
      })),
    });
  }
  const text = formatTable(
    ["size", "blocks", "miss_ratio", "hit_ratio"],
    points.map((p) => [
      formatSize(p.sizeBlocks * bs),
      p.sizeBlocks,
      p.missRatio.toFixed(4),
      (1 - p.missRatio).toFixed(4),
    ]),
    "text",
  );
  return r.partial ? text + `\npartial: interrupted after ${r.all} block accesses` : text;
}

/** Opens both outputs before writing either (a failed run leaves neither), then writes. */
async function writeOutputs(
  opts: MrcOptions,
  text: string,
  svgPath: string | undefined,
  chart: () => string,
): Promise<void> {
  const toFile = opts.out === "-" ? undefined : opts.out;
  const table = toFile ? await openOutput(toFile) : undefined;
  const svg = svgPath ? await openOutput(svgPath) : undefined;
  if (svg) await writeText(svg, chart());
  if (table) await writeText(table, text + "\n");
  else console.log(text);
}

/** The checked numbers of the command line. */
function checkOptions(opts: MrcOptions): { bs: number; rate: number } {
  const bs = checkBlockSize(opts.blockSize);
  if (opts.sizes) checkCacheSizes("--sizes", opts.sizes, bs);
  const rate = Number(opts.rate);
  if (!(rate > 0 && rate <= 1)) throw new UsageError(`--rate must be in (0, 1]: ${opts.rate}`);
  if (opts.shardsMax !== undefined && opts.method === "exact") {
    throw new UsageError("--shards-max: only with --method shards or auto");
  }
  return { bs, rate };
}

/** Runs `mrc` with parsed options. */
async function runMrc(opts: MrcOptions): Promise<void> {
  const { bs, rate } = checkOptions(opts);
  const info = { tool: "qbic-cache", command: "mrc", args: opts };
  await withRun(opts, info, async (run, interrupt) => {
    const stats: ReadStats = { bad: 0 };
    const mrc = new MrcBuilder(opts.method, rate, MRC_MAX_ACCESSES, opts.shardsMax);
    await namingTrace(opts.trace, async () => {
      try {
        await feedTrace(opts, bs, mrc, stats, interrupt);
      } catch (e) {
        if (e instanceof MrcLimitError) throw new ToolError(`${opts.trace}: ${e.message}`);
        throw e;
      }
    });
    const all = mrc.accesses, partial = interrupt.aborted;
    if (partial) {
      run.event("partial", { reason: "interrupted", accesses: all });
      run.metric("partial", 1, "flag");
    }
    const footprint = mrc.footprint();
    const points = mrc.points(curveSizes(opts, bs, footprint));
    const method = methodName(mrc);
    for (const p of points) {
      run.metric("lru_miss_ratio", p.missRatio, "ratio", { size: p.sizeBlocks * bs, method });
    }
    run.metric("accesses", all, "blocks");
    run.metric("footprint", footprint * bs, "bytes");
    const svgPath = svgPathOf(opts);
    const text = renderCurve(opts, { method, bs, all, footprint, partial }, points, svgPath);
    const curve = points.map((p) => ({ x: p.sizeBlocks * bs, y: p.missRatio }));
    await writeOutputs(opts, text, svgPath, () => mrcChart(curve, method, partial));
    if (!opts.quiet) {
      console.error(
        `qbic-cache mrc: ${all} block accesses, ${method}` +
          (svgPath ? `, plot in ${svgPath}` : "") +
          (partial ? " — interrupted, partial curve" : ""),
      );
    }
  }, { interruptible: true });
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
      .option("--rate <r>", "SHARDS sampling rate (the starting rate with --shards-max)", "0.01")
      .option(
        "--shards-max <n>",
        "fixed-size SHARDS: keep at most N sampled blocks, lowering the rate as it fills",
        namedParser("--shards-max", parsePositive),
      )
      .option("--format <name>", "trace format (default: detected)")
      .option("--skip-bad", "count and skip malformed lines instead of failing", false)
      .option("--device <id>", DEVICE_HELP)
      .option("-o, --out <file>", "write the table to FILE (the SVG goes beside it; - = stdout)")
      .option("--svg <file>", "SVG plot path (default: beside -o, else mrc.svg)")
      .option("--no-svg", "no SVG plot"),
  ).action((opts) => runMrc(opts));
  addExamples(cmd, [
    "qbic-cache mrc --trace vm.bin -o vm-mrc.txt    # table in vm-mrc.txt, plot in vm-mrc.svg",
    "qbic-cache mrc --trace big.bin --method shards --rate 0.001",
    "qbic-cache mrc --trace huge.bin --method shards --shards-max 65536   # bounded memory",
  ]);
  program.addCommand(cmd);
}
