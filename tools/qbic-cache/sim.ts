/**
 * `qbic-cache sim`: hit ratios of a sweep of policies and cache sizes over one or more traces,
 * each trace read once; `--shard K/N` runs the K-th of N parts of the sweep (lib/cache/sweep.ts).
 *
 * @module
 */
import { Command, Option } from "@commander-js/extra-typings";
import {
  addExamples,
  formatSize,
  formatTable,
  namedParser,
  parseSize,
  parseSizeList,
  Progress,
  type TableFormat,
  ToolError,
  UsageError,
  withCommonOptions,
  withRun,
} from "../../lib/cli/mod.ts";
import type { RunRecorder, StoreOptions } from "../../lib/results/mod.ts";
import { createPolicy, POLICY_NAMES, UnknownPolicyError } from "../../lib/cache/registry.ts";
import { splitPolicyList } from "../../lib/cache/policy_params.ts";
import {
  type GridResult,
  mappableTraceFile,
  runCells,
  SIM_ENGINES,
  type SimEngine,
} from "../../lib/cache/sim_grid.ts";
import { nativeUnavailable } from "../../lib/cache/native_cache.ts";
import { createAdmission } from "../../lib/cache/admission.ts";
import {
  parseShard,
  type Shard,
  shardCells,
  ShardSpecError,
  type SweepCell,
  sweepCells,
} from "../../lib/cache/sweep.ts";
import { type ReadStats, readTraceChunks } from "../../lib/trace/read_trace.ts";
import { DEVICE_HELP, namingTrace, traceFormat } from "./trace_options.ts";
import { checkBlockSize, checkCacheSizes } from "./size_options.ts";

/** The tool table `sim` writes its grid into. */
export const SIM_TABLE = {
  name: "qbic_sim",
  columns: [
    ["trace", "VARCHAR"],
    ["policy", "VARCHAR"],
    ["admit", "VARCHAR"],
    ["size_bytes", "BIGINT"],
    ["block_size", "INTEGER"],
    ["accesses", "BIGINT"],
    ["hits", "BIGINT"],
    ["hit_ratio", "DOUBLE"],
    ["byte_hit_ratio", "DOUBLE"],
    ["whole_request_hit_share", "DOUBLE"],
    ["read_hit_ratio", "DOUBLE"],
    ["write_hit_ratio", "DOUBLE"],
  ],
} as const;

const ratio = (a: number, b: number) => b ? a / b : 0;

/** The options `sim` reads, as commander parses them. */
interface SimOptions extends StoreOptions {
  trace: string[];
  policy: string;
  size: number[];
  blockSize: number;
  format?: string;
  skipBad: boolean;
  device?: string;
  admit: "all" | "pdc";
  admitImage?: string;
  engine: SimEngine;
  table: TableFormat;
  shard?: Shard;
  output?: string;
  quiet?: boolean;
}

/** One result row (one cell of the sweep). */
type SimRow = ReturnType<typeof rowsOf>[number];

/** What one trace's part of the sweep gave. */
interface TraceResult {
  trace: string;
  grid: GridResult;
  stats: ReadStats;
  wallMs: number;
}

/** Checks the policy names (unknown ones fail here, listing the known). */
function checkPolicies(list: string): string[] {
  const policies = splitPolicyList(list);
  if (policies.length === 0) throw new UsageError("--policy: give at least one policy");
  for (const p of policies) {
    try {
      createPolicy(p, 0);
    } catch (e) {
      if (e instanceof UnknownPolicyError) throw new UsageError(`--policy: ${e.message}`);
      throw e;
    }
  }
  return policies;
}

/** The sweep's cells this process runs (all, or the `--shard` part). */
function plannedCells(opts: SimOptions, policies: string[], sizes: number[]): SweepCell[] {
  if (opts.trace.includes("-") && opts.trace.length > 1) {
    throw new UsageError("--trace: '-' (standard input) only as the one trace");
  }
  return shardCells(sweepCells(opts.trace, policies, sizes), opts.shard);
}

/** "1.2M requests, 8.4M req/s, 45%, ETA 12s" for the terminal's status line. */
function progressLine(label: string, requests: number, ms: number, stats: ReadStats): string {
  const m = (v: number) => v >= 1e6 ? `${(v / 1e6).toFixed(1)}M` : `${Math.round(v / 1e3)}k`;
  let line = `${label}${m(requests)} requests, ${m(requests / Math.max(ms, 1) * 1000)} req/s`;
  const { bytesRead, bytesTotal } = stats;
  if (bytesRead !== undefined && bytesTotal) {
    const done = Math.min(1, bytesRead / bytesTotal);
    line += `, ${(done * 100).toFixed(0)}%`;
    if (done > 0.01) line += `, ETA ${Math.round((ms / done - ms) / 1000)}s`;
  }
  return line;
}

/** Runs one trace's cells in one pass over it. */
async function simTrace(
  opts: SimOptions,
  trace: string,
  cells: SweepCell[],
  progress: { progress: Progress; label: string },
  interrupt: AbortSignal,
): Promise<TraceResult> {
  const format = traceFormat(opts.format);
  const admission = await createAdmission(opts.admit, { image: opts.admitImage });
  const stats: ReadStats = { bad: 0 };
  const t0 = performance.now();
  const mapped = opts.engine === "native" ? await mappableTraceFile(trace, format) : undefined;
  const chunks = readTraceChunks(
    trace,
    { format, skipBad: opts.skipBad, device: opts.device },
    stats,
  );
  const onProgress = (n: number) =>
    progress.progress.update(progressLine(progress.label, n, performance.now() - t0, stats));
  const grid = await namingTrace(trace, () =>
    runCells(chunks, cells, opts.blockSize, admission, {
      engine: opts.engine,
      binaryFile: mapped?.path,
      fileFormat: mapped?.format,
      signal: interrupt,
      onProgress,
    }));
  progress.progress.done();
  // Native cells replaying the mapped file leave the chunk reader unread.
  if (mapped && stats.format === undefined) stats.format = mapped.format;
  return { trace, grid, stats, wallMs: performance.now() - t0 };
}

/** The result rows of one trace's grid. */
function rowsOf(r: TraceResult) {
  return r.grid.cells.map(({ policy, label, sizeBytes, result: x, engine, memoryBytes }) => ({
    trace: r.trace,
    policy,
    policy_params: label,
    engine,
    size: sizeBytes,
    size_blocks: x.capacityBlocks,
    accesses: x.accesses,
    hits: x.hits,
    hit_ratio: x.hitRatio,
    byte_hit_ratio: x.byteHitRatio,
    whole_request_hit_share: x.wholeRequestHitShare,
    read_hit_ratio: ratio(x.reads.hits, x.reads.blocks),
    write_hit_ratio: ratio(x.writes.hits, x.writes.blocks),
    bypassed_requests: x.bypassedRequests,
    // Policy memory per cached block (native cells: what the C policy allocated; ts: null).
    bytes_per_block: memoryBytes !== undefined && x.capacityBlocks > 0
      ? memoryBytes / x.capacityBlocks
      : null,
  }));
}

/** Writes the rows and metrics of the run to the store. */
function recordRows(run: RunRecorder, opts: SimOptions, rows: SimRow[], results: TraceResult[]) {
  const bs = opts.blockSize;
  run.rows(
    SIM_TABLE,
    rows.map((x) => [
      x.trace,
      x.policy,
      opts.admit,
      x.size,
      bs,
      x.accesses,
      x.hits,
      x.hit_ratio,
      x.byte_hit_ratio,
      x.whole_request_hit_share,
      x.read_hit_ratio,
      x.write_hit_ratio,
    ]),
  );
  for (const x of rows) {
    const labels = {
      ...(opts.trace.length > 1 ? { trace: x.trace } : {}),
      policy: x.policy,
      params: x.policy_params,
      size: x.size,
      block_size: bs,
      admit: opts.admit,
      engine: x.engine,
    };
    run.metric("hit_ratio", x.hit_ratio, "ratio", labels);
    run.metric("byte_hit_ratio", x.byte_hit_ratio, "ratio", labels);
    if (x.bytes_per_block !== null) run.metric("bytes_per_block", x.bytes_per_block, "B", labels);
  }
  const requests = results.reduce((a, r) => a + r.grid.requests, 0);
  const cellRequests = results.reduce((a, r) => a + r.grid.requests * r.grid.cells.length, 0);
  const simMs = results.reduce((a, r) => a + r.grid.simMs, 0);
  run.metric("requests", requests, "requests");
  run.metric("bad_lines", results.reduce((a, r) => a + r.stats.bad, 0), "lines");
  run.metric("sim_rate", ratio(cellRequests, simMs / 1000), "req/s");
}

/** The text table (a `trace` column when the sweep has several traces). */
function textTable(opts: SimOptions, rows: SimRow[]): string {
  const f = (v: number) => v.toFixed(4);
  const many = opts.trace.length > 1;
  const cols = ["policy", "size", "blocks", "accesses", "hit_ratio", "byte_hit", "whole_req"];
  return formatTable(
    [...(many ? ["trace"] : []), ...cols, "read_hit", "write_hit"],
    rows.map((x) => [
      ...(many ? [x.trace] : []),
      x.policy_params,
      formatSize(x.size),
      x.size_blocks,
      x.accesses,
      f(x.hit_ratio),
      f(x.byte_hit_ratio),
      f(x.whole_request_hit_share),
      f(x.read_hit_ratio),
      f(x.write_hit_ratio),
    ]),
    opts.table,
  );
}

/** Prints the results: JSON, or the table and a summary line per trace on stderr. */
function printResults(opts: SimOptions, rows: SimRow[], results: TraceResult[]): void {
  const partial = results.some((r) => r.grid.interrupted);
  const shard = opts.shard ? `${opts.shard.k}/${opts.shard.n}` : null;
  if (opts.output === "json") {
    const first = results[0];
    console.log(JSON.stringify({
      ...(opts.trace.length === 1 ? { trace: opts.trace[0] } : {}),
      traces: opts.trace,
      shard,
      format: first?.stats.format ?? null,
      block_size: opts.blockSize,
      admit: opts.admit,
      engine: opts.engine,
      requests: results.reduce((a, r) => a + r.grid.requests, 0),
      bad_lines: results.reduce((a, r) => a + r.stats.bad, 0),
      partial,
      results: rows,
    }));
    return;
  }
  console.log(textTable(opts, rows));
  if (partial) {
    const n = results.reduce((a, r) => a + r.grid.requests, 0);
    console.log(`partial: interrupted after ${n} requests`);
  }
  if (opts.quiet) return;
  for (const { trace, grid, stats, wallMs } of results) {
    const bad = stats.bad ? `, ${stats.bad} bad lines skipped (first: ${stats.firstBad})` : "";
    const engines = [...new Set(grid.cells.map((c) => c.engine))].join("+");
    console.error(
      `qbic-cache sim: ${opts.trace.length > 1 ? trace + ": " : ""}${grid.requests} requests ` +
        `(${stats.format ?? "empty"}), ${grid.cells.length} simulations in ` +
        `${(wallMs / 1000).toFixed(2)}s (${engines})${bad}` +
        (grid.interrupted ? " — interrupted, partial results" : "") +
        (shard ? ` [shard ${shard}]` : ""),
    );
  }
}

/** Runs `sim` with parsed options. */
async function runSim(opts: SimOptions): Promise<void> {
  const policies = checkPolicies(opts.policy);
  const bs = checkBlockSize(opts.blockSize);
  const sizes = checkCacheSizes("--size", opts.size, bs);
  traceFormat(opts.format);
  if (opts.engine === "native") {
    const why = nativeUnavailable();
    if (why) throw new ToolError(`--engine native: ${why}; or use --engine ts`);
  }
  const cells = plannedCells(opts, policies, sizes);
  // One trace is recorded as a string, as before sweeps (reports read args->>'trace'); several
  // as a list, each metric then naming its trace in its labels.
  const trace = opts.trace.length === 1 ? opts.trace[0] : opts.trace;
  const args = { ...opts, policy: policies, size: sizes, trace };
  const info = { tool: "qbic-cache", command: "sim", args };
  await withRun(opts, info, async (run, interrupt) => {
    const progress = new Progress({ quiet: opts.quiet });
    const traces = [...new Set(cells.map((c) => c.trace))];
    const results: TraceResult[] = [];
    for (const [i, trace] of traces.entries()) {
      const label = traces.length > 1 ? `${trace} (${i + 1}/${traces.length}): ` : "";
      const mine = cells.filter((c) => c.trace === trace);
      results.push(await simTrace(opts, trace, mine, { progress, label }, interrupt));
      if (interrupt.aborted) break;
    }
    if (results.some((r) => r.grid.interrupted)) {
      const requests = results.reduce((a, r) => a + r.grid.requests, 0);
      run.event("partial", { reason: "interrupted", requests });
      run.metric("partial", 1, "flag");
    }
    const rows = results.flatMap(rowsOf);
    recordRows(run, opts, rows, results);
    printResults(opts, rows, results);
  }, { interruptible: true });
}

/** `--shard K/N` as a commander parser (a usage error naming the option). */
function shardOption(text: string): Shard {
  try {
    return parseShard(text);
  } catch (e) {
    if (e instanceof ShardSpecError) throw new UsageError(`--shard: ${e.message}`);
    throw e;
  }
}

/** Adds `sim` to the program. */
export function addSimCommand(program: Command) {
  const cmd = withCommonOptions(
    new Command("sim")
      .description("simulate cache policies over a trace: hit ratio by blocks, bytes and requests")
      .requiredOption("--trace <files...>", "traces to replay, each read once ('-' = stdin)")
      .option(
        "--policy <list>",
        `policies, comma-separated (${POLICY_NAMES.join(", ")}); parameters with ` +
          "libCacheSim's names: 's3fifo(fifo-size-ratio=0.1,move-to-main-threshold=2)', " +
          "'2q(Ain-size-ratio=0.25,Aout-size-ratio=0.5)'",
        "lru",
      )
      .option("--size <list>", "cache sizes, comma-separated (e.g. 64M,256M,1G)", parseSizeList, [
        64 << 20,
      ])
      .option("--block-size <size>", "cache block size", parseSize, 4096)
      .option("--format <name>", "trace format (default: detected)")
      .option("--skip-bad", "count and skip malformed lines instead of failing", false)
      .option("--device <id>", DEVICE_HELP)
      .addOption(
        new Option("--admit <name>", "admission filter in front of every policy").choices(
          ["all", "pdc"] as const,
        ).default("all" as const),
      )
      .option("--admit-image <file>", "pdc: raw image to locate the journal in (exact mode)")
      .addOption(
        new Option(
          "--engine <name>",
          "native: policies with a C twin run in C (same decisions); ts: all in TypeScript",
        ).choices(SIM_ENGINES).default("native" as const),
      )
      .addOption(
        new Option("--table <format>", "text table style").choices(
          ["text", "csv", "markdown"] as const,
        ).default("text" as const),
      )
      .option(
        "--shard <K/N>",
        "run only part K of N of the sweep (traces x policies x sizes), for job arrays",
        namedParser("--shard", shardOption),
      ),
  ).action((opts) => runSim(opts));
  addExamples(cmd, [
    "qbic-cache sim --trace vm.bin --policy lru,arc,s3fifo,qbic,belady --size 64M,256M,1G",
    "pdc-filter classify trace.jsonl | qbic-cache sim --trace - --policy lru --admit pdc",
    "qbic-cache sim --trace a.bin b.bin --policy lru,arc --size 1G,4G --shard 3/8 --db s3.duckdb",
  ]);
  program.addCommand(cmd);
}
