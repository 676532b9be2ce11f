/**
 * MRC accuracy: SHARDS (lib/cache/shards.ts) against the exact LRU curve on the simulator bench's
 * traces (bench/sim/gen_trace.ts: `zipf`, Zipf 0.9 over 4 KiB blocks, and `mix`, the same with
 * sequential scans), for every rate (0.1, 0.01, 0.001) and method:
 * - `shards`: fixed rate, hot blocks tracked exactly (what `qbic-cache mrc --method shards` runs);
 * - `shards_plain`: fixed rate, no hot blocks (the paper's SHARDS with hvkit's distance estimate);
 * - `shards_seeds`: `shards` over eight hash seeds (mean and largest of the eight errors: how much
 *   the figure depends on which blocks the hash picks);
 * - `fixed_size`: fixed-size SHARDS (`--shards-max`) holding `rate x footprint` sampled blocks,
 *   starting from rate 1.
 * Prints the mean and the largest absolute error in miss ratio over 24 sizes (log-spaced up to the
 * footprint), and the time of each; the peer is the exact curve. Writes a run (tool "bench",
 * command "mrc").
 *
 * Usage: deno run -A bench/mrc/main.ts [--quick] [--rates 0.01,0.001] [--seeds N]
 *   quick: 2M requests over 400k blocks; full: 20M over 4M (the issue's <= 0.02 at 0.001).
 *
 * @module
 */
import { startRun } from "../../lib/results/mod.ts";
import { exactPoints, type MrcPoint, shardsMrc } from "../../lib/cache/mrc.ts";
import { ShardsSampler } from "../../lib/cache/shards.ts";
import { stackDistances } from "../../lib/cache/stack_distance.ts";
import { readTraceChunks } from "../../lib/trace/read_trace.ts";
import { cachedTrace } from "../sim/gen_trace.ts";

const quick = Deno.args.includes("--quick");
const requests = quick ? 2_000_000 : 20_000_000;
const blocks = quick ? 400_000 : 4_000_000;
/** `--rates 0.01,0.001` narrows the rates; `--seeds N` the hash seeds tried (default 8). */
function flag(name: string): string | undefined {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Deno.args[i + 1] : undefined;
}
const RATES = (flag("--rates") ?? "0.1,0.01,0.001").split(",").map(Number);

/** The generated trace of this size (made once, kept in .cache/). */
function tracePath(kind: string): Promise<string> {
  return cachedTrace(kind, requests, blocks);
}

/** Reads the trace's block accesses into memory once (every method then runs over them). */
async function accessesOf(trace: string): Promise<Float64Array> {
  let out = new Float64Array(1 << 20), n = 0;
  for await (const c of readTraceChunks(trace)) {
    for (let i = 0; i < c.count; i++) {
      if (c.op[i] === 2 || c.op[i] === 3 || c.len[i] === 0) continue;
      const last = Math.floor((c.off[i] + c.len[i] - 1) / 4096);
      for (let k = Math.floor(c.off[i] / 4096); k <= last; k++) {
        if (n === out.length) {
          const grown = new Float64Array(out.length * 2);
          grown.set(out);
          out = grown;
        }
        out[n++] = k;
      }
    }
  }
  return out.subarray(0, n);
}

/** One method's curve at `sizes` and its wall seconds. */
function timed(f: () => MrcPoint[]): { points: MrcPoint[]; seconds: number } {
  const t = performance.now();
  const points = f();
  return { points, seconds: (performance.now() - t) / 1000 };
}

function errors(points: MrcPoint[], exact: MrcPoint[]): { mae: number; max: number } {
  const err = points.map((p, i) => Math.abs(p.missRatio - exact[i].missRatio));
  return { mae: err.reduce((a, b) => a + b, 0) / err.length, max: Math.max(...err) };
}

const SEEDS = [0x5bd1e995, 1, 2, 3, 4, 5, 6, 7].slice(0, Number(flag("--seeds") ?? 8));
const run = await startRun({}, { tool: "bench", command: "mrc", args: { quick, requests } });
const lines: string[] = [];
for (const kind of ["zipf", "mix"] as const) {
  const seq = await accessesOf(await tracePath(kind));
  let sizes: number[] = [];
  const exact = timed(() => {
    const h = stackDistances(seq);
    sizes = [
      ...new Set(
        Array.from({ length: 24 }, (_, i) => Math.max(1, Math.round(h.cold ** ((i + 1) / 24)))),
      ),
    ];
    return exactPoints(h, sizes);
  });
  const footprint = new Set(seq).size;
  lines.push(
    `${kind} (${requests} requests, ${seq.length} block accesses, ${footprint} blocks): ` +
      `exact ${exact.seconds.toFixed(1)} s`,
  );
  run.metric("seconds", exact.seconds, "s", { job: kind, peer: "exact" });
  for (const rate of RATES) {
    const report = (method: string, r: { points: MrcPoint[]; seconds: number }, note = "") => {
      const { mae, max } = errors(r.points, exact.points);
      const labels = { job: kind, rate, peer: "exact", method };
      run.metric("mrc_mae", mae, "ratio", labels);
      run.metric("mrc_max_error", max, "ratio", labels);
      run.metric("seconds", r.seconds, "s", { ...labels, peer: "hvkit" });
      lines.push(
        `  ${method.padEnd(12)} ${String(rate).padEnd(5)} mean abs error ${mae.toFixed(4)}, ` +
          `max ${max.toFixed(4)} (${r.seconds.toFixed(1)} s)${note}`,
      );
    };
    report("shards", timed(() => shardsMrc(seq, sizes, rate)));
    report("shards_plain", timed(() => shardsMrc(seq, sizes, rate, { hotBlocks: 0 })));
    const perSeed = SEEDS.map((seed) =>
      errors(shardsMrc(seq, sizes, rate, { seed }), exact.points).mae
    );
    const seedMean = perSeed.reduce((a, b) => a + b, 0) / perSeed.length;
    run.metric("mrc_mae", seedMean, "ratio", { job: kind, rate, method: "shards_seeds" });
    lines.push(
      `  shards_seeds ${String(rate).padEnd(5)} mean abs error over ${SEEDS.length} hash seeds ` +
        `${seedMean.toFixed(4)}, worst seed ${Math.max(...perSeed).toFixed(4)}`,
    );
    const maxSamples = Math.max(16, Math.round(rate * footprint));
    const s = new ShardsSampler({ rate: 1, maxSamples });
    const fixed = timed(() => {
      for (let i = 0; i < seq.length; i++) s.access(seq[i]);
      return s.points(sizes);
    });
    report(
      "fixed_size",
      fixed,
      ` [--shards-max ${maxSamples}, rate ended at ${s.rate.toPrecision(3)}]`,
    );
  }
}
for (const l of lines) console.log(l);
await run.finish("ok");
