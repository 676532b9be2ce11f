/**
 * Simulator throughput benchmark: every policy with a native twin over binary traces of 4 KiB
 * requests made by gen_trace.ts into .cache/ — `mix` (Zipf 0.9 plus a 20k-block scan every
 * 100k requests, the pattern that hurts LRU) and `zipf` (no scans) — one policy at a time on one
 * core, each engine reading the trace file as it goes (native: mmapped, one FFI call; ts: the
 * chunked reader). Prints requests per second of both engines and their ratio, the ratio to the
 * issue's targets (LRU >= 20M/s, ARC and S3-FIFO >= 5M/s), bytes of policy memory per cached
 * block (ghosts and index included) against the bounds (20 for the one-list policies,
 * 40 with ghosts), and checks that both engines found the same hits. With `--baseline LIB` (an
 * earlier build of libhvkit.so) each policy also replays under that library and under the
 * current one, each in its own process (bench/sim/replay_native.ts), in alternating rounds:
 * the CPU-time ratio current/baseline and the bytes per block of both. The peer, libCacheSim's
 * `cachesim` (`--cachesim PATH`, $HVKIT_CACHESIM or on PATH; Debian does not package it:
 * scripts/build_libcachesim.sh), runs whole process against `qbic-cache sim` on the trace's
 * oracleGeneral twin, alternating rounds (bench/sim/libcachesim.ts): CPU time, peak RSS and the
 * hit ratios of both; without it the peer column says so. Writes a run (tool "bench", command
 * "sim").
 *
 * Usage: deno run -A bench/sim/main.ts [--quick] [--policies lru,arc,...] [--traces mix,zipf]
 *   [--baseline path/to/old/libhvkit.so] [--cachesim path/to/cachesim]
 *   quick: 2M requests over 400k blocks, cache 40k blocks; full: 50M over 4M, cache 400k.
 *
 * @module
 */
import { startRun } from "../../lib/results/mod.ts";
import { createPolicy } from "../../lib/cache/registry.ts";
import { runGrid, type SimEngine } from "../../lib/cache/sim_grid.ts";
import { readTraceChunks } from "../../lib/trace/read_trace.ts";
import { cachedTrace, GEN_DEFAULTS } from "./gen_trace.ts";
import { median, threadCpuSeconds } from "../thread_cpu.ts";
import { MEMORY_TARGETS } from "../../lib/cache/memory_targets.ts";
import {
  comparePolicy,
  findCachesim,
  LCS_POLICY,
  oracleTwin,
  type PeerComparison,
  sameHitRatio,
} from "./libcachesim.ts";

const args = [...Deno.args];
const quick = args.includes("--quick");
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return (i >= 0 && args[i + 1] ? args[i + 1] : dflt).split(",").filter((s) => s !== "");
};
const policies = opt(
  "--policies",
  quick ? "lru,arc,s3fifo,fifo,clock,sieve,2q,lfu,qbic" : "lru,arc,s3fifo,qbic",
);
const traces = opt("--traces", "mix,zipf");
const requests = quick ? 2_000_000 : GEN_DEFAULTS.requests;
const root = new URL("../../", import.meta.url).pathname;
const blocks = quick ? 400_000 : GEN_DEFAULTS.blocks;
const cacheBlocks = Math.floor(blocks / 10);
const TARGETS: Record<string, number> = { lru: 20e6, arc: 5e6, s3fifo: 5e6 };
/** Bytes per cached block issue 16 allows (none for LFU, QBic). */
const MEM_TARGETS = MEMORY_TARGETS;
const flagValue = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const baselineLib = flagValue("--baseline");
const cachesim = findCachesim(flagValue("--cachesim"));
const qbicCache = `${root}bin/qbic-cache`;

/** The generated trace of this size (made once, kept in .cache/). */
function tracePath(kind: string): Promise<string> {
  return cachedTrace(kind, requests, blocks);
}

/** Bytes of the typed arrays reachable from `o` (each buffer counted once). */
function typedBytes(o: unknown, seen = new Set<unknown>()): number {
  if (o === null || typeof o !== "object" || seen.has(o)) return 0;
  seen.add(o);
  if (ArrayBuffer.isView(o)) {
    if (seen.has(o.buffer)) return 0;
    seen.add(o.buffer);
    return o.buffer.byteLength;
  }
  let n = 0;
  for (const v of Object.values(o as Record<string, unknown>)) n += typedBytes(v, seen);
  return n;
}

/** Bytes of typed arrays a TS policy of `c` blocks holds, per block. */
function tsBytesPerBlock(name: string, c: number): number {
  return typedBytes(createPolicy(name, c)) / c;
}

/** One native replay in a child process under `lib` (bench/sim/replay_native.ts). */
async function replayChild(lib: string, trace: string, name: string) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${root}bench/sim/replay_native.ts`, lib, name, trace, String(cacheBlocks)],
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`replay_native ${name} under ${lib}: exit ${out.code}`);
  return JSON.parse(new TextDecoder().decode(out.stdout)) as {
    cpu: number;
    hits: number;
    bytes: number;
  };
}

/**
 * The current library against `baselineLib`, `rounds` alternating rounds of one child process
 * each: the median of the per-round CPU-time ratios current/baseline, both bytes per block, and
 * whether the hits agree.
 */
async function measureBaseline(trace: string, name: string, rounds: number) {
  const current = `${root}native/build/libhvkit.so`;
  const ratios: number[] = [];
  let cur, base;
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 ? [baselineLib!, current] : [current, baselineLib!];
    for (const lib of order) {
      const x = await replayChild(lib, trace, name);
      if (lib === current) cur = x;
      else base = x;
    }
    ratios.push(cur!.cpu / base!.cpu);
  }
  return {
    cpuRatio: median(ratios),
    bytes: cur!.bytes / cacheBlocks,
    baseBytes: base!.bytes / cacheBlocks,
    sameHits: cur!.hits === base!.hits,
  };
}

interface Measured {
  rate: number;
  /** Requests per CPU second of the thread that replayed (native: the replay thread; ts: main). */
  cpuRate: number;
  hits: number;
  hitRatio: number;
  memPerBlock: number;
}

/** One replay of `trace` by `engine`: wall seconds, CPU seconds of the replaying thread. */
async function replayOnce(trace: string, name: string, engine: SimEngine) {
  const t = performance.now();
  const c0 = threadCpuSeconds();
  const g = await runGrid(
    readTraceChunks(trace),
    [name],
    [cacheBlocks * 4096],
    4096,
    undefined,
    { engine, binaryFile: engine === "native" ? trace : undefined },
  );
  const cpu = threadCpuSeconds() - c0;
  const s = (performance.now() - t) / 1000;
  const cell = g.cells[0];
  if (cell.engine !== engine) throw new Error(`${name}: ran on ${cell.engine}, not ${engine}`);
  if (g.requests !== requests) throw new Error(`${trace}: ${g.requests} requests`);
  // native: CPU of its replay thread (C, CLOCK_THREAD_CPUTIME_ID); ts: of this (the main) thread.
  return { s, cpu: engine === "native" ? cell.cpuSeconds ?? NaN : cpu, cell };
}

/**
 * Replays `trace` with `name` on both engines in `rounds` alternating rounds. Wall rates are the
 * best of the rounds; the native/ts ratio is the median of the per-round ratios of CPU-time
 * rates (CPU time does not count the time other processes held the core).
 */
async function measurePair(trace: string, name: string, rounds: number) {
  const wall = { native: [] as number[], ts: [] as number[] };
  const cpu = { native: [] as number[], ts: [] as number[] };
  const last: Record<string, Awaited<ReturnType<typeof replayOnce>>["cell"]> = {};
  for (let r = 0; r < rounds; r++) {
    const order: SimEngine[] = r % 2 ? ["ts", "native"] : ["native", "ts"];
    for (const engine of order) {
      const x = await replayOnce(trace, name, engine);
      wall[engine as "native" | "ts"].push(x.s);
      cpu[engine as "native" | "ts"].push(x.cpu);
      last[engine] = x.cell;
    }
  }
  const one = (engine: "native" | "ts"): Measured => {
    const cell = last[engine];
    return {
      rate: requests / Math.min(...wall[engine]),
      cpuRate: requests / Math.min(...cpu[engine]),
      hits: cell.result.hits,
      hitRatio: cell.result.hitRatio,
      memPerBlock: engine === "ts"
        ? tsBytesPerBlock(name, cacheBlocks)
        : cell.memoryBytes !== undefined
        ? cell.memoryBytes / cacheBlocks
        : NaN,
    };
  };
  const cpuRatio = median(cpu.native.map((c, i) => cpu.ts[i] / c));
  return { nat: one("native"), ts: one("ts"), cpuRatio };
}

const run = await startRun({}, {
  tool: "bench",
  command: "sim",
  args: {
    quick,
    requests,
    cacheBlocks,
    policies,
    traces,
    baseline: baselineLib ?? null,
    cachesim: cachesim ?? null,
  },
});

type Run = typeof run;

/** Records and describes one whole-process comparison with libCacheSim. */
function recordPeer(c: PeerComparison, labels: Record<string, string | number>, r: Run): string {
  const same = sameHitRatio(c.hvkitHit, c.peerHit);
  const l = { ...labels, time: "cpu", peer: "libCacheSim", better: "higher" };
  r.metric("vs_libcachesim", c.cpuRatio, "x", { ...l, ratio: "libCacheSim/hvkit cpu" });
  r.metric("vs_libcachesim_wall", c.wallRatio, "x", {
    ...l,
    time: "wall",
    ratio: "libCacheSim/hvkit wall",
  });
  const best = (xs: { cpuS: number }[]) => Math.min(...xs.map((x) => x.cpuS));
  const rss = (xs: { maxRssKiB: number }[]) => Math.max(...xs.map((x) => x.maxRssKiB)) / 1024;
  r.metric("process_cpu", best(c.hvkit), "s", { ...labels, side: "hvkit" });
  r.metric("process_cpu", best(c.peer), "s", { ...labels, side: "libCacheSim" });
  r.metric("process_rss_peak", rss(c.hvkit), "MiB", { ...labels, side: "hvkit" });
  r.metric("process_rss_peak", rss(c.peer), "MiB", { ...labels, side: "libCacheSim" });
  r.metric("hit_ratio", c.peerHit, "ratio", { ...labels, engine: "libCacheSim" });
  if (!same) mismatches++;
  return `${c.cpuRatio.toFixed(2)}x cpu (${best(c.hvkit).toFixed(2)} vs ${
    best(c.peer).toFixed(2)
  } s, ${rss(c.hvkit).toFixed(0)} vs ${rss(c.peer).toFixed(0)} MiB)` +
    (same ? "" : ` HIT ${c.hvkitHit.toFixed(4)} vs ${c.peerHit.toFixed(4)}`);
}
const rows: string[][] = [];
const m = (v: number) => (v / 1e6).toFixed(2) + "M/s";
let mismatches = 0;
for (const kind of traces) {
  const trace = await tracePath(kind);
  for (const name of policies) {
    const { nat, ts, cpuRatio } = await measurePair(trace, name, 3);
    const same = nat.hits === ts.hits;
    if (!same) mismatches++;
    const labels = { policy: name, trace: kind, requests, cache_blocks: cacheBlocks };
    for (const [engine, x] of [["native", nat], ["ts", ts]] as const) {
      const l = { ...labels, engine };
      run.metric("sim_rate", x.rate, "req/s", l);
      run.metric("sim_cpu_rate", x.cpuRate, "req/s", { ...l, time: "cpu" });
      run.metric("bytes_per_block", x.memPerBlock, "B", l);
      run.metric("hit_ratio", x.hitRatio, "ratio", l);
      if (TARGETS[name]) run.metric("sim_rate_vs_target", x.rate / TARGETS[name], "ratio", l);
    }
    run.metric("native_vs_ts", cpuRatio, "ratio", {
      ...labels,
      time: "cpu", // CPU-time rates, median of alternating rounds (wall-time ratios swung by 30%)
      ratio: "native/ts",
      peer: "ts",
      better: "higher",
    });
    const memTarget = MEM_TARGETS[name];
    if (memTarget) {
      run.metric("bytes_per_block_vs_target", nat.memPerBlock / memTarget, "ratio", {
        ...labels,
        engine: "native",
        target: memTarget,
        better: "lower",
      });
    }
    let vsBase = "-";
    if (baselineLib) {
      const b = await measureBaseline(trace, name, 3);
      if (!b.sameHits) mismatches++;
      run.metric("bytes_per_block", b.baseBytes, "B", { ...labels, engine: "baseline" });
      run.metric("native_vs_baseline", b.cpuRatio, "ratio", {
        ...labels,
        time: "cpu",
        ratio: "current/baseline",
        peer: "baseline",
        better: "lower",
      });
      vsBase =
        `${b.cpuRatio.toFixed(2)}x cpu, ${b.baseBytes.toFixed(1)} -> ${b.bytes.toFixed(1)} B` +
        (b.sameHits ? "" : " DIFFERENT HITS");
    }
    rows.push([
      kind,
      name,
      m(nat.rate),
      m(nat.cpuRate),
      TARGETS[name]
        ? `${(nat.rate / TARGETS[name]).toFixed(2)} (cpu ${
          (nat.cpuRate / TARGETS[name]).toFixed(2)
        })` +
          ` of ${TARGETS[name] / 1e6}M`
        : "-",
      m(ts.rate),
      m(ts.cpuRate),
      cpuRatio.toFixed(2) + "x",
      memTarget
        ? `${nat.memPerBlock.toFixed(1)} (${
          (nat.memPerBlock / memTarget).toFixed(2)
        } of ${memTarget})`
        : nat.memPerBlock.toFixed(1),
      ts.memPerBlock.toFixed(1),
      nat.hitRatio.toFixed(4),
      same ? "same" : `DIFFER (${nat.hits} vs ${ts.hits})`,
      vsBase,
      !LCS_POLICY[name] ? "-" : cachesim
        ? recordPeer(
          await comparePolicy({
            qbicCache,
            cachesim,
            trace: await oracleTwin(qbicCache, trace),
            policy: name,
            cacheBlocks,
            blockSize: 4096,
            rounds: 3,
          }),
          labels,
          run,
        )
        : "libCacheSim not installed",
    ]);
  }
}
await run.finish(mismatches ? "failed" : "ok");
const head = [
  "trace",
  "policy",
  "native",
  "native/cpu-s",
  "vs target",
  "ts",
  "ts/cpu-s",
  "nat/ts cpu",
  "B/block native",
  "B/block ts",
  "hit_ratio",
  "engines",
  "vs baseline",
  "peer",
];
const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
for (const r of [head, ...rows]) console.log(r.map((c, i) => c.padEnd(w[i])).join("  "));
console.log(
  `${requests} requests of 4 KiB per trace, cache ${cacheBlocks} blocks, one core; native best` +
    ` of 3 alternating rounds, likewise ts; req/s is wall time of the whole run (trace read,` +
    ` policy built); cpu-s divides by the replaying thread's CPU time (native: its replay` +
    ` thread; ts: the main thread), what one core does when it is not shared; nat/ts cpu is the` +
    ` median of the 3 rounds' CPU-time ratios; peer: libCacheSim's cachesim CPU / qbic-cache` +
    ` sim CPU, whole processes on the oracleGeneral twin, median of 3 alternating rounds (best` +
    ` CPU s and peak RSS of each beside; HIT when their hit ratios differ)`,
);
if (mismatches) {
  console.error(
    `bench/sim: ${mismatches} policies found different hits (two engines, or hvkit and libCacheSim)`,
  );
  Deno.exit(1);
}
