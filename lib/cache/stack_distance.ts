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

/** Fenwick tree over positions 1..n, n a power of two so it can double in place. */
class Fenwick {
  t: Int32Array;
  n: number;
  constructor(n: number) {
    this.n = n;
    this.t = new Int32Array(n + 1);
  }
  add(i: number, v: number): void {
    const t = this.t, n = this.n;
    for (; i <= n; i += i & -i) t[i] += v;
  }
  /** Sum over 1..i. */
  sum(i: number): number {
    const t = this.t;
    let s = 0;
    for (; i > 0; i -= i & -i) s += t[i];
    return s;
  }
  /** Doubles n: nodes 1..n keep their ranges, node 2n covers (0, 2n] (= node n's sum). */
  grow(): void {
    const t = new Int32Array(2 * this.n + 1);
    t.set(this.t);
    t[2 * this.n] = this.t[this.n];
    this.t = t;
    this.n *= 2;
  }
}

/**
 * Stack distances computed online, one access at a time or a slice at a time, so a caller can
 * give the event loop a turn and stop early: `histogram()` covers the accesses fed so far.
 * Its arrays double as they fill: about 24 bytes per access and 16 per distinct block.
 */
export class StackDistanceCounter {
  #fen = new Fenwick(1 << 12);
  #keys = new Float64Array(1 << 12).fill(-1);
  #last = new Int32Array(1 << 12);
  #index = new BlockIndex(1 << 12, this.#keys);
  #counts = new Float64Array((1 << 12) + 2);
  #n = 0;
  #distinct = 0;
  #cold = 0;
  #live = 0;

  /** Accesses fed so far. */
  get fed(): number {
    return this.#n;
  }

  /** Distinct blocks fed so far. */
  get distinct(): number {
    return this.#distinct;
  }

  /** Feeds one access. */
  add(block: number): void {
    const pos = this.#n + 1;
    if (pos > this.#fen.n) this.#growTime();
    const s = this.#index.get(block);
    if (s < 0) {
      if (this.#distinct === this.#keys.length) this.#growBlocks();
      const slot = this.#distinct++;
      this.#keys[slot] = block;
      this.#index.insert(slot);
      this.#last[slot] = pos;
      this.#cold++;
    } else {
      const fen = this.#fen;
      const prev = this.#last[s];
      // Distinct blocks whose latest access is after prev, plus this block itself.
      const d = this.#live - fen.sum(prev) + 1;
      this.#counts[d]++;
      fen.add(prev, -1);
      this.#live--;
      this.#last[s] = pos;
    }
    this.#fen.add(pos, 1);
    this.#live++;
    this.#n = pos;
  }

  /** Feeds `seq[from..to)`, in order. */
  feed(seq: Float64Array, from = 0, to = seq.length): void {
    for (let i = from; i < to; i++) this.add(seq[i]);
  }

  #growTime(): void {
    this.#fen.grow();
    const counts = new Float64Array(this.#fen.n + 2);
    counts.set(this.#counts);
    this.#counts = counts;
  }

  #growBlocks(): void {
    const cap = this.#keys.length * 2;
    const keys = new Float64Array(cap).fill(-1);
    keys.set(this.#keys);
    const last = new Int32Array(cap);
    last.set(this.#last);
    this.#keys = keys;
    this.#last = last;
    this.#index = new BlockIndex(cap, keys);
    for (let i = 0; i < this.#distinct; i++) this.#index.insert(i);
  }

  /** The histogram of what was fed (its `counts` array is shared, not copied). */
  histogram(): StackHistogram {
    return { counts: this.#counts, cold: this.#cold, total: this.#n };
  }
}

/** Stack distances of an access sequence, as a histogram. */
export function stackDistances(seq: Float64Array): StackHistogram {
  const c = new StackDistanceCounter();
  c.feed(seq);
  return c.histogram();
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
