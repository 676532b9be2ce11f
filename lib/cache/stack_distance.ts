/**
 * Exact LRU stack distances (Mattson et al.): the distance of an access is the number of
 * distinct blocks touched since the previous access to the same block, plus one (so a
 * re-access with nothing in between has distance 1); a first access has distance Infinity. An
 * LRU cache of c blocks hits exactly the accesses with distance <= c, so one pass gives the
 * whole miss-ratio curve. O(n log n): a Fenwick tree over access times marks each block's most
 * recent access.
 *
 * @module
 */
import { BlockIndex } from "./block_index.ts";

/** A histogram of stack distances: `counts[d]` accesses at distance d (1-based), and cold misses. */
export interface StackHistogram {
  /** counts[d] for d = 1..maxDistance (index 0 unused). */
  counts: Float64Array;
  /** First accesses (infinite distance). */
  cold: number;
  /** Accesses counted. */
  total: number;
}

/** Fenwick tree over positions 1..n. */
class Fenwick {
  readonly t: Int32Array;
  constructor(readonly n: number) {
    this.t = new Int32Array(n + 1);
  }
  add(i: number, v: number): void {
    for (; i <= this.n; i += i & -i) this.t[i] += v;
  }
  /** Sum over 1..i. */
  sum(i: number): number {
    let s = 0;
    for (; i > 0; i -= i & -i) s += this.t[i];
    return s;
  }
}

/** Stack distances of an access sequence, as a histogram. */
export function stackDistances(seq: Float64Array): StackHistogram {
  const n = seq.length;
  const fen = new Fenwick(n);
  const keys = new Float64Array(n).fill(-1);
  const last = new Int32Array(n);
  const index = new BlockIndex(Math.max(n, 1), keys);
  const counts = new Float64Array(n + 2);
  let distinct = 0, cold = 0, live = 0;
  for (let i = 0; i < n; i++) {
    const b = seq[i];
    const pos = i + 1;
    const s = index.get(b);
    if (s < 0) {
      cold++;
      keys[distinct] = b;
      index.insert(distinct);
      last[distinct++] = pos;
    } else {
      const prev = last[s];
      // Distinct blocks whose latest access is after prev, plus this block itself.
      const d = live - fen.sum(prev) + 1;
      counts[d]++;
      fen.add(prev, -1);
      live--;
      last[s] = pos;
    }
    fen.add(pos, 1);
    live++;
  }
  return { counts, cold, total: n };
}

/**
 * LRU hit counts for each cache size (in blocks), from a histogram: hits(c) = accesses with
 * distance <= c.
 */
export function lruHits(h: StackHistogram, sizes: number[]): number[] {
  const cum = new Float64Array(h.counts.length);
  for (let d = 1; d < h.counts.length; d++) cum[d] = cum[d - 1] + h.counts[d];
  return sizes.map((c) => cum[Math.min(Math.max(0, Math.floor(c)), h.counts.length - 1)]);
}
