/**
 * MRC accuracy: SHARDS (with the SHARDS_adj correction, lib/cache/mrc.ts) against the exact
 * LRU curve on the simulator bench's traces (bench/sim/gen_trace.ts: `zipf`, Zipf 0.9 over 4 KiB
 * blocks, and `mix`, the same with sequential scans), at rates 0.1, 0.01 and 0.001. Prints the
 * mean and the largest absolute error in miss ratio over 24 sizes (log-spaced up to the
 * footprint), and the mean over the sizes of at least 1/rate blocks (below that a sample at the
 * rate holds less than one block of the cache: SHARDS cannot resolve it, and with the
 * adjustment's negative first-bucket correction it reads 1.0 there), and the time of each
 * method; the peer is the exact curve. Writes a run (tool
 * "bench", command "mrc").
 *
 * Usage: deno run -A bench/mrc/main.ts [--quick]
 *   quick: 2M requests over 400k blocks; full: 20M over 4M (the issue's <= 0.02 at 0.001).
 *
 * @module
 */
import { startRun } from "../../lib/results/mod.ts";
import { MrcBuilder, type MrcMethod } from "../../lib/cache/mrc.ts";
import { readTraceChunks } from "../../lib/trace/read_trace.ts";
import { GEN_DEFAULTS, generateTrace } from "../sim/gen_trace.ts";

const quick = Deno.args.includes("--quick");
const requests = quick ? 2_000_000 : 20_000_000;
const blocks = quick ? 400_000 : 4_000_000;
const RATES = [0.1, 0.01, 0.001];
const root = new URL("../../", import.meta.url).pathname;

async function tracePath(kind: "zipf" | "mix"): Promise<string> {
  const path = kind === "mix"
    ? `${root}.cache/sim-bench-${requests}.bin`
    : `${root}.cache/sim-bench-${kind}-${requests}.bin`;
  try {
    await Deno.stat(path);
  } catch {
    await Deno.mkdir(`${root}.cache`, { recursive: true });
    console.error(`generating ${path} (${requests} requests)...`);
    await generateTrace(path, {
      ...GEN_DEFAULTS,
      requests,
      blocks,
      ...(kind === "mix" ? {} : { scanEvery: 0 }),
    });
  }
  return path;
}

/** The curve of one method over a trace, at `sizes` (blocks), and its wall seconds. */
async function curve(trace: string, method: MrcMethod, rate: number, sizes?: number[]) {
  const t = performance.now();
  // A limit far above the bench traces: this measures accuracy, not the tool's limit.
  const b = new MrcBuilder(method, rate, 1e9);
  for await (const c of readTraceChunks(trace)) {
    for (let i = 0; i < c.count; i++) {
      if (c.op[i] === 2 || c.op[i] === 3 || c.len[i] === 0) continue;
      const last = Math.floor((c.off[i] + c.len[i] - 1) / 4096);
      for (let k = Math.floor(c.off[i] / 4096); k <= last; k++) b.access(k);
    }
  }
  const fp = b.footprint();
  const s = sizes ??
    [
      ...new Set(
        Array.from({ length: 24 }, (_, i) => Math.max(1, Math.round(fp ** ((i + 1) / 24)))),
      ),
    ];
  return { sizes: s, points: b.points(s), seconds: (performance.now() - t) / 1000 };
}

const run = await startRun({}, { tool: "bench", command: "mrc", args: { quick, requests } });
const lines: string[] = [];
for (const kind of ["zipf", "mix"] as const) {
  const trace = await tracePath(kind);
  const exact = await curve(trace, "exact", 1);
  lines.push(`${kind} (${requests} requests): exact ${exact.seconds.toFixed(1)} s`);
  run.metric("seconds", exact.seconds, "s", { job: kind, peer: "exact" });
  for (const rate of RATES) {
    const sh = await curve(trace, "shards", rate, exact.sizes);
    const err = sh.points.map((p, i) => Math.abs(p.missRatio - exact.points[i].missRatio));
    const mae = err.reduce((a, b) => a + b, 0) / err.length;
    const max = Math.max(...err);
    const res = err.filter((_, i) => exact.sizes[i] >= 1 / rate);
    const maeRes = res.reduce((a, b) => a + b, 0) / Math.max(1, res.length);
    const labels = { job: kind, rate, peer: "exact", method: "shards_adj" };
    run.metric("mrc_mae", mae, "ratio", labels);
    run.metric("mrc_max_error", max, "ratio", labels);
    run.metric("mrc_mae_resolved", maeRes, "ratio", { ...labels, sizes: `>= ${1 / rate} blocks` });
    run.metric("seconds", sh.seconds, "s", { ...labels, peer: "hvkit" });
    run.metric("speed_vs_exact", exact.seconds / sh.seconds, "x", {
      ...labels,
      ratio: "exact/shards",
      better: "higher",
    });
    lines.push(
      `  shards ${rate}: mean abs error ${mae.toFixed(4)}, max ${max.toFixed(4)}; ` +
        `${maeRes.toFixed(4)} over the ${res.length} sizes >= ${1 / rate} blocks ` +
        `(${sh.seconds.toFixed(1)} s, ${
          (exact.seconds / sh.seconds).toFixed(1)
        }x faster than exact)`,
    );
  }
}
for (const l of lines) console.log(l);
await run.finish("ok");
