/**
 * A parameter sweep (traces x policies x sizes) and its split into N parts for N processes or
 * hosts (`qbic-cache sim --shard K/N`): the cells are numbered in that order (trace-major) and
 * part K of N takes the K-th contiguous run of them, so the parts are disjoint, together are the
 * whole sweep, and each part reads as few traces as a contiguous split allows. Deterministic:
 * every host computes the same split from the same command line.
 *
 * @module
 */

/** One cell of a sweep. */
export interface SweepCell {
  /** Position in the whole sweep (0-based, trace-major, then policy, then size). */
  index: number;
  trace: string;
  policy: string;
  sizeBytes: number;
}

/** Part `k` (1-based) of `n`. */
export interface Shard {
  k: number;
  n: number;
}

/** A `--shard` value that is not `K/N` with 1 <= K <= N. */
export class ShardSpecError extends Error {
  override name = "ShardSpecError";
}

/**
 * Parses `K/N` (1 <= K <= N).
 *
 * @example
 * ```ts
 * import { parseShard } from "./sweep.ts";
 * parseShard("2/8"); // { k: 2, n: 8 }
 * ```
 */
export function parseShard(text: string): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  if (!m) throw new ShardSpecError(`not K/N: ${text}`);
  const k = Number(m[1]), n = Number(m[2]);
  if (n < 1 || k < 1 || k > n) throw new ShardSpecError(`K must be 1..N: ${text}`);
  return { k, n };
}

/** Every cell of the sweep, numbered. */
export function sweepCells(traces: string[], policies: string[], sizes: number[]): SweepCell[] {
  const cells: SweepCell[] = [];
  for (const trace of traces) {
    for (const policy of policies) {
      for (const sizeBytes of sizes) cells.push({ index: cells.length, trace, policy, sizeBytes });
    }
  }
  return cells;
}

/** The cells of part `shard` (all of them without one). */
export function shardCells(cells: SweepCell[], shard?: Shard): SweepCell[] {
  if (!shard) return cells;
  const from = Math.floor(((shard.k - 1) * cells.length) / shard.n);
  const to = Math.floor((shard.k * cells.length) / shard.n);
  return cells.slice(from, to);
}

/** The cells grouped by trace, in sweep order (a trace with no cell in the part is absent). */
export function cellsByTrace(cells: SweepCell[]): Map<string, SweepCell[]> {
  const by = new Map<string, SweepCell[]>();
  for (const c of cells) {
    const list = by.get(c.trace);
    if (list) list.push(c);
    else by.set(c.trace, [c]);
  }
  return by;
}
