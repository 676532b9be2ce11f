/**
 * `qbic-cache trace stats`: request count by op, bytes, read share, footprint, request sizes,
 * reuse distances and hot blocks, in one pass with bounded per-block state (docs/limits.md).
 *
 * @module
 */
import { formatSize, formatTable, withRun } from "../../lib/cli/mod.ts";
import type { StoreOptions } from "../../lib/results/mod.ts";
import type { BinaryChunk } from "../../lib/trace/binary.ts";
import { type ReadStats, readTraceChunks } from "../../lib/trace/read_trace.ts";
import { StackDistanceCounter } from "../../lib/cache/stack_distance.ts";
import { MRC_MAX_ACCESSES } from "../../lib/cache/mrc.ts";
import { Breather, untilAborted } from "../../lib/cli/event_loop.ts";
import { namingTrace } from "./trace_options.ts";
import { checkBlockSize } from "./size_options.ts";
import { readOpts, type TraceReadOptions } from "./trace_read_options.ts";

/** Distinct blocks `trace stats` counts accesses of (footprint, hot blocks); docs/limits.md. */
export const STATS_MAX_BLOCKS = 10_000_000;

/** The options `trace stats` reads. */
export interface StatsOptions extends TraceReadOptions, StoreOptions {
  blockSize: number;
  top: number;
  output?: string;
}

const LETTERS = ["R", "W", "F", "T", "Z"] as const;

/**
 * What the pass counts. Per-block state is bounded (docs/limits.md): hot-block counts for the
 * first STATS_MAX_BLOCKS distinct blocks, reuse distances over the first MRC_MAX_ACCESSES
 * accesses; past either the output says so instead of running out of memory.
 */
class TraceTally {
  ops = { R: 0, W: 0, F: 0, T: 0, Z: 0 };
  bytes = { R: 0, W: 0, F: 0, T: 0, Z: 0 };
  sizeHist = new Map<number, number>();
  counts = new Map<number, number>();
  reuse = new StackDistanceCounter();
  /** Block accesses. */
  n = 0;
  requests = 0;
  blocksCapped = false;

  constructor(readonly bs: number) {}

  /** Counts one chunk; yields to the event loop every 2^16 block accesses (`breathe`). */
  async add(c: BinaryChunk, breathe: () => Promise<boolean>): Promise<boolean> {
    this.requests += c.count;
    for (let i = 0; i < c.count; i++) {
      const op = LETTERS[c.op[i]];
      this.ops[op]++;
      this.bytes[op] += c.len[i];
      if (op === "F" || op === "T") continue;
      const bucket = c.len[i] === 0 ? 0 : 2 ** Math.ceil(Math.log2(c.len[i]));
      this.sizeHist.set(bucket, (this.sizeHist.get(bucket) ?? 0) + 1);
      if (c.len[i] === 0) continue;
      const last = Math.floor((c.off[i] + c.len[i] - 1) / this.bs);
      for (let b = Math.floor(c.off[i] / this.bs); b <= last; b++) {
        const k = this.counts.get(b);
        if (k !== undefined) this.counts.set(b, k + 1);
        else if (this.counts.size < STATS_MAX_BLOCKS) this.counts.set(b, 1);
        else this.blocksCapped = true;
        if (this.n++ < MRC_MAX_ACCESSES) this.reuse.add(b);
        if ((this.n & 0xffff) === 0 && !await breathe()) return false;
      }
    }
    return true;
  }
}

/** The JSON summary of a tally. */
function summarize(
  t: TraceTally,
  input: string,
  opts: StatsOptions,
  st: ReadStats,
  partial: boolean,
) {
  const h = t.reuse.histogram();
  // Reuse distances in power-of-two buckets of blocks: [1], [2], [3-4], [5-8], ...
  const reuse = new Map<number, number>();
  for (let d = 1; d < h.counts.length; d++) {
    if (!h.counts[d]) continue;
    const b = 2 ** Math.ceil(Math.log2(d));
    reuse.set(b, (reuse.get(b) ?? 0) + h.counts[d]);
  }
  const hot = [...t.counts.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, opts.top);
  const { ops, bytes, bs } = t;
  const rw = ops.R + ops.W + ops.Z;
  return {
    input,
    format: st.format ?? null,
    compression: st.compression ?? null,
    device: opts.device ?? null,
    filtered_out: st.filtered ?? 0,
    requests: t.requests,
    bad_lines: st.bad,
    ops,
    bytes,
    read_share: rw ? ops.R / rw : 0,
    block_size: bs,
    block_accesses: t.n,
    footprint_blocks: t.counts.size,
    footprint_bytes: t.counts.size * bs,
    sizes: Object.fromEntries([...t.sizeHist.entries()].sort((a, b) => a[0] - b[0])),
    reuse_distance: {
      cold: h.cold,
      ...Object.fromEntries(
        [...reuse.entries()].sort((a, b) => a[0] - b[0]).map(([k, v]) => [`<=${k}`, v]),
      ),
    },
    hot_blocks: hot.map(([block, count]) => ({ block, offset: block * bs, count })),
    // Limits reached (docs/limits.md): footprint and hot blocks then count only the first
    // STATS_MAX_BLOCKS distinct blocks, reuse distances the first MRC_MAX_ACCESSES accesses.
    footprint_capped: t.blocksCapped,
    reuse_accesses: h.total,
    partial,
  };
}

/** The text report of a summary. */
function textReport(s: ReturnType<typeof summarize>, st: ReadStats): string {
  const { ops, bytes, block_size: bs } = s;
  const reuse = Object.entries(s.reuse_distance).filter(([k]) => k !== "cold")
    .map(([k, v]) => [Number(k.slice(2)), v]);
  const lines = [
    `format       ${s.format ?? "(empty)"}` +
    (st.compression ? ` (${st.compression})` : "") +
    (s.device !== null
      ? `, device ${s.device} (${st.filtered ?? 0} records of others left out)`
      : ""),
    `requests     ${s.requests}  (R ${ops.R}, W ${ops.W}, Z ${ops.Z}, T ${ops.T}, F ${ops.F})` +
    (st.bad ? `  bad lines skipped: ${st.bad}` : ""),
    `bytes        read ${formatSize(bytes.R)}, written ${formatSize(bytes.W + bytes.Z)}, trimmed ${
      formatSize(bytes.T)
    }`,
    `read share   ${(s.read_share * 100).toFixed(1)}% of R/W/Z requests`,
    `footprint    ${s.footprint_capped ? "at least " : ""}${s.footprint_blocks} blocks of ${
      formatSize(bs)
    } = ${formatSize(s.footprint_bytes)}` +
    ` (${s.block_accesses} block accesses)`,
    "",
    "request sizes (up to)",
    formatTable(
      ["size", "requests"],
      Object.entries(s.sizes).map(([k, v]) => [formatSize(Number(k)), v]),
      "text",
    ),
    "",
    "reuse distance (distinct blocks between accesses, up to)",
    formatTable(["distance", "accesses"], [["cold", s.reuse_distance.cold], ...reuse], "text"),
    "",
    `top ${s.hot_blocks.length} hot blocks`,
    formatTable(
      ["block", "offset", "accesses"],
      s.hot_blocks.map((b) => [b.block, b.offset, b.count]),
      "text",
    ),
  ];
  if (s.reuse_accesses < s.block_accesses) {
    lines.push(
      `(reuse distances over the first ${s.reuse_accesses} of ${s.block_accesses} block accesses)`,
    );
  }
  if (s.partial) lines.push(`partial: interrupted after ${s.requests} requests`);
  return lines.join("\n");
}

/** Runs `trace stats`. */
export async function runStats(input: string, opts: StatsOptions): Promise<void> {
  const bs = checkBlockSize(opts.blockSize);
  const info = { tool: "qbic-cache", command: "trace stats", args: { input, ...opts } };
  await withRun(opts, info, async (run, interrupt) => {
    const st: ReadStats = { bad: 0 };
    const tally = new TraceTally(bs);
    const breather = new Breather();
    const breathe = async () => {
      await breather.maybe();
      return !interrupt.aborted;
    };
    await namingTrace(input, async () => {
      const chunks = untilAborted(readTraceChunks(input, readOpts(opts), st), interrupt);
      for await (const c of chunks) {
        if (!await tally.add(c, breathe)) return;
        await breather.maybe();
      }
    });
    const partial = interrupt.aborted;
    const summary = summarize(tally, input, opts, st, partial);
    if (partial) {
      run.event("partial", { reason: "interrupted", requests: tally.requests });
      run.metric("partial", 1, "flag");
    }
    run.metric("requests", tally.requests, "requests");
    run.metric("footprint", summary.footprint_bytes, "bytes");
    run.metric("read_share", summary.read_share, "ratio");
    console.log(opts.output === "json" ? JSON.stringify(summary) : textReport(summary, st));
  }, { interruptible: true });
}
