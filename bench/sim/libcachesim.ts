/**
 * libCacheSim's `cachesim`, the simulator's peer, whole process against whole process: the same
 * oracleGeneral trace file, the same policy and cache size, `qbic-cache sim` against
 * `cachesim TRACE oracleGeneralBin POLICY BLOCKS --ignore-obj-size=true`, in alternating rounds,
 * CPU time and peak RSS from /usr/bin/time, and a check that both found the same hit ratio
 * (cachesim prints its miss ratio to 4 decimals). The cache is counted in objects (blocks), not
 * bytes: libCacheSim's ARC adapts its target in bytes otherwise, which rounds differently
 * (FIELD-NOTES); every object of these traces is one block, so the other policies are the same
 * either way. Debian does not package libCacheSim: scripts/build_libcachesim.sh builds
 * one from its sources; point `--cachesim PATH` or HVKIT_CACHESIM at it, or put it on PATH.
 *
 * @module
 */
import { findOnPath } from "../../lib/cli/doctor.ts";
import { median } from "../thread_cpu.ts";
import { type ProcessCost, runTimed } from "../whole_process.ts";

/** libCacheSim's name of each hvkit policy it has (QBic and Belady-by-demand it has not). */
export const LCS_POLICY: Readonly<Record<string, string>> = {
  lru: "LRU",
  arc: "ARC",
  s3fifo: "S3FIFO",
  fifo: "FIFO",
  clock: "Clock",
  sieve: "Sieve",
  "2q": "TwoQ",
  lfu: "LFU",
};

/**
 * hvkit's spelling of a policy as the libCacheSim this was checked against behaves (commit
 * aa0fc40, October 2024): its S3-FIFO never sends a miss to the main queue while the small one
 * is full (docs/qbic-cache-sim.md, Parameters). The others are hvkit's defaults.
 */
export function hvkitSpec(policy: string): string {
  return policy === "s3fifo" ? "s3fifo(insert-main-when-fifo-full=0)" : policy;
}

/** The cachesim to use: `flag`, else $HVKIT_CACHESIM, else `cachesim` on PATH. */
export function findCachesim(flag?: string): string | undefined {
  return flag ?? (Deno.env.get("HVKIT_CACHESIM") || undefined) ?? findOnPath("cachesim") ??
    undefined;
}

/** The miss ratio in cachesim's result line (`..., miss ratio 0.5437, throughput ...`). */
export function parseMissRatio(stdout: string): number {
  const m = /miss ratio\s+([0-9.]+)/.exec(stdout);
  if (!m) throw new Error(`cachesim: no "miss ratio" in its output: ${stdout.slice(-200)}`);
  return Number(m[1]);
}

/** The oracleGeneral twin of hvkit's binary trace `bin`, made once beside it. */
export async function oracleTwin(qbicCache: string, bin: string): Promise<string> {
  const out = bin.replace(/\.bin$/, "") + ".oracleGeneral";
  try {
    await Deno.stat(out);
    return out;
  } catch { /* not made yet */ }
  const tmp = out + ".part";
  const r = await new Deno.Command(qbicCache, {
    args: ["trace", "convert", bin, "-o", tmp, "--to", "oracleGeneral"],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!r.success) throw new Error(`trace convert ${bin}: ${new TextDecoder().decode(r.stderr)}`);
  await Deno.rename(tmp, out);
  return out;
}

/** Both sides of one policy over one trace. */
export interface PeerComparison {
  hvkit: ProcessCost[];
  peer: ProcessCost[];
  hvkitHit: number;
  peerHit: number;
  /** Median over rounds of peer CPU / hvkit CPU (> 1: hvkit is faster). */
  cpuRatio: number;
  /** The same of wall time. */
  wallRatio: number;
}

/** Runs both `rounds` times, alternating which goes first. */
export async function comparePolicy(o: {
  qbicCache: string;
  cachesim: string;
  trace: string;
  policy: string;
  cacheBlocks: number;
  blockSize: number;
  rounds: number;
}): Promise<PeerComparison> {
  const hv = () =>
    runTimed(o.qbicCache, [
      "sim",
      "--no-db",
      "-q",
      "--output",
      "json",
      "--trace",
      o.trace,
      "--policy",
      hvkitSpec(o.policy),
      "--size",
      String(o.cacheBlocks * o.blockSize),
      "--block-size",
      String(o.blockSize),
    ]);
  // cachesim writes a result file into its working directory: give it a scratch one.
  const scratch = await Deno.makeTempDir({ prefix: "hvkit-cachesim-" });
  const lcs = () =>
    runTimed(
      o.cachesim,
      [
        o.trace,
        "oracleGeneralBin",
        LCS_POLICY[o.policy],
        String(o.cacheBlocks),
        "--ignore-obj-size=true",
      ],
      { cwd: scratch },
    );
  const hvkit: ProcessCost[] = [], peer: ProcessCost[] = [];
  try {
    for (let r = 0; r < o.rounds; r++) {
      if (r % 2) {
        peer.push(await lcs());
        hvkit.push(await hv());
      } else {
        hvkit.push(await hv());
        peer.push(await lcs());
      }
    }
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
  const hvkitHit = JSON.parse(hvkit[0].stdout).results[0].hit_ratio as number;
  const peerHit = 1 - parseMissRatio(peer[0].stdout);
  return {
    hvkit,
    peer,
    hvkitHit,
    peerHit,
    cpuRatio: median(peer.map((p, i) => p.cpuS / hvkit[i].cpuS)),
    wallRatio: median(peer.map((p, i) => p.wallS / hvkit[i].wallS)),
  };
}

/** Whether two hit ratios agree to cachesim's printed precision (4 decimals of the miss ratio). */
export function sameHitRatio(a: number, b: number): boolean {
  return Math.abs(a - b) <= 0.00006;
}
