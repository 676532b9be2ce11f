/**
 * SHARDS (Waldspurger et al., FAST '15): an approximate LRU miss-ratio curve from a spatially
 * hashed sample of the blocks. A block is sampled when its 32-bit hash is below a threshold T
 * (rate R = T / 2^32); each sampled reference stands for 1/R references and each sampled block
 * between two references to the same block for 1/R blocks. Fixed-size SHARDS (section 4) bounds
 * the sample to `maxSamples` blocks: when it fills, the block with the largest hash leaves and T
 * drops to that hash, so the rate follows the footprint down.
 *
 * Two additions, because on skewed traces the plain estimator is dominated by which few hot blocks
 * the hash happens to pick (bench/mrc's Zipf trace: mean error 0.026-0.08 over eight hash seeds at
 * R = 0.01, where SHARDS_adj's first-bucket correction puts the missing references of a hot block
 * at distance < 1/R although they belong at hundreds of blocks):
 * - Hot blocks are tracked exactly (weight 1), whatever their hash: a small majority-vote table
 *   counts every access and promotes a block once its count reaches `hotThreshold`, up to
 *   `hotBlocks` of them. The sample then stands only for the remaining, colder blocks. A promoted
 *   block's first exactly-tracked access has no known distance and is not counted.
 * - The distinct cold blocks between two references are estimated from both sides: the sampled
 *   distinct ones scaled by 1/R (SHARDS), or — when fewer of the sampled accesses in between were
 *   repeats than distinct — all the cold accesses in between (an exact count) minus the sampled
 *   repeats scaled by 1/R. Short reuse windows are then nearly exact instead of "somewhere below
 *   1/R blocks".
 * The miss ratio at size c is the weighted misses (cold references included) over every access, as
 * SHARDS_adj's (misses over the expected rather than the actual sampled count).
 *
 * @module
 */
import type { MrcPoint } from "./mrc.ts";

/**
 * SHARDS' spatial hash: MurmurHash3's 32-bit finalizer over the key's two halves, so whether a
 * block is sampled does not follow its number (a multiplicative hash maps block 0 to 0, always
 * sampled, and block 0 is often the hottest).
 */
export function shardsHash(block: number, seed = 0x5bd1e995): number {
  let h = (block | 0) ^ Math.imul((block / 4294967296) | 0, 0x85ebca6b) ^ seed;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** How a SHARDS sampler is set up. */
export interface ShardsOptions {
  /** Initial (and, without `maxSamples`, fixed) sampling rate, 0 < rate <= 1. */
  rate: number;
  /** Fixed-size SHARDS: the most sampled (cold) blocks held; the rate drops to keep to it. */
  maxSamples?: number;
  /** The most blocks tracked exactly as hot (0 turns this off). Default 16384. */
  hotBlocks?: number;
  /** Accesses (by the majority-vote count) that make a block hot. Default 8. */
  hotThreshold?: number;
  /** Hash seed: another seed samples another set of blocks (for measuring the spread). */
  seed?: number;
}

const TWO32 = 4294967296;
/** A sampled block's weight in the position tree (hot blocks weigh 1). */
const COLD = 2 ** 26;

/** Fenwick tree of counts over positions 1..n. */
class Fenwick {
  t: Float64Array;
  live = 0;
  constructor(readonly n: number) {
    this.t = new Float64Array(n + 1);
  }
  add(i: number, v: number): void {
    this.live += v;
    const t = this.t, n = this.n;
    for (; i <= n; i += i & -i) t[i] += v;
  }
  /** Entries after position i. */
  after(i: number): number {
    const t = this.t;
    let s = 0;
    for (; i > 0; i -= i & -i) s += t[i];
    return this.live - s;
  }
}

/**
 * Reference weights over reuse distance: a piecewise-uniform density over (x0, x1] blocks, kept
 * exactly per block up to `linear` blocks and in 1/64-octave buckets beyond (a reference whose
 * interval reaches past `linear` is put at the interval's middle).
 */
class RampHistogram {
  readonly diff: Float64Array;
  readonly log = new Float64Array(64 * 40);
  constructor(readonly linear: number) {
    this.diff = new Float64Array(linear + 2);
  }
  add(x0: number, x1: number, w: number): void {
    const i0 = Math.max(0, Math.round(x0));
    const i1 = Math.max(i0 + 1, Math.round(x1));
    if (i1 <= this.linear) {
      const s = w / (i1 - i0);
      this.diff[i0] += s;
      this.diff[i1] -= s;
    } else {
      this.log[this.#bucket((x0 + x1) / 2)] += w;
    }
  }
  #bucket(x: number): number {
    return Math.min(this.log.length - 1, Math.floor(64 * Math.log2(Math.max(1, x / this.linear))));
  }
  /** Weight of references whose distance is at most c, for each c. */
  hits(sizes: number[]): number[] {
    const cum = new Float64Array(this.linear + 1); // cum[c] = weight in (0, c]
    let density = 0;
    for (let j = 0; j < this.linear; j++) {
      density += this.diff[j];
      cum[j + 1] = cum[j] + density;
    }
    return sizes.map((c) => {
      if (c <= this.linear) return cum[Math.max(0, Math.floor(c))];
      let h = cum[this.linear];
      const pos = 64 * Math.log2(c / this.linear);
      const whole = Math.min(this.log.length, Math.floor(pos));
      for (let b = 0; b < whole; b++) h += this.log[b];
      if (whole < this.log.length) h += (pos - whole) * this.log[whole];
      return h;
    });
  }
}

/** SHARDS over a stream of block accesses, online, in memory bounded by the blocks it tracks. */
export class ShardsSampler {
  /** Every access seen. */
  accesses = 0;
  /** Current threshold: a cold block is sampled when its hash is below it. */
  #threshold: number;
  readonly #maxSamples: number;
  readonly #hotMax: number;
  readonly #hotThreshold: number;
  readonly #seed: number;
  // Majority-vote table for hot detection: key, count, pinned (promoted) flag.
  readonly #voteKey: Float64Array;
  readonly #voteCount: Int32Array;
  readonly #voteShift: number;
  // Tracked blocks.
  readonly #slotOf = new Map<number, number>();
  #key = new Float64Array(1024);
  #pos = new Int32Array(1024);
  #time = new Float64Array(1024);
  #hotSeen = new Float64Array(1024);
  #coldSeen = new Float64Array(1024);
  #hash = new Uint32Array(1024);
  #isHot = new Uint8Array(1024);
  #free: number[] = [];
  #slots = 0;
  #hot = 0;
  #sampled = 0;
  // Max-heap of sampled slots by hash (fixed-size eviction); stale entries skipped.
  #heap: number[] = [];
  // One tree for both kinds of tracked block: a hot block counts 1, a sampled one COLD, so one
  // walk gives both counts after a position (each stays below 2^26: exact in a double).
  #fen = new Fenwick(1 << 12);
  #lastPos = 0;
  #hotAccesses = 0;
  /** Sampled cold accesses so far, each weighted by 1/rate at its time. */
  #coldWeighted = 0;
  #coldMisses = 0;
  #skipped = 0;
  readonly #hist: RampHistogram;

  constructor(opts: ShardsOptions) {
    if (!(opts.rate > 0 && opts.rate <= 1)) {
      throw new RangeError(`rate ${opts.rate}: not in (0, 1]`);
    }
    this.#threshold = opts.rate * TWO32;
    this.#maxSamples = opts.maxSamples ?? Infinity;
    this.#hotMax = opts.hotBlocks ?? 16384;
    this.#hotThreshold = opts.hotThreshold ?? 8;
    this.#seed = opts.seed ?? 0x5bd1e995;
    let bits = 4;
    while ((1 << bits) < 8 * this.#hotMax) bits++;
    this.#voteKey = new Float64Array(this.#hotMax > 0 ? 1 << bits : 0).fill(-1);
    this.#voteCount = new Int32Array(this.#voteKey.length);
    this.#voteShift = 32 - bits;
    this.#hist = new RampHistogram(
      Math.min(1 << 22, Math.max(1 << 16, Math.ceil(64 / opts.rate))),
    );
  }

  /** The current sampling rate of cold blocks. */
  get rate(): number {
    return this.#threshold / TWO32;
  }

  /** Blocks tracked (sampled plus hot): what the memory is proportional to. */
  get tracked(): number {
    return this.#slotOf.size;
  }

  /** Blocks tracked exactly as hot. */
  get hotBlocks(): number {
    return this.#hot;
  }

  /** One block access. */
  access(block: number): void {
    this.accesses++;
    const h = shardsHash(block, this.#seed);
    const v = this.#hotMax > 0 ? this.#vote(block, h) : 0;
    if (h < this.#threshold) this.#sampledReference(block, h, v === 1);
    else if (v === 2) this.#hotReference(this.#slotOf.get(block)!);
    else if (v === 1) this.#promoteNew(block, h);
  }

  /**
   * Counts an access in the vote table (whatever the block's hash, so that which blocks become
   * hot does not depend on the sample): 2 when the block is already hot, 1 when it just became
   * hot (and there is room), else 0.
   */
  #vote(block: number, h: number): number {
    const i = Math.imul(h, 0x9e3779b1) >>> this.#voteShift;
    const keys = this.#voteKey, counts = this.#voteCount;
    if (keys[i] === block) {
      if (counts[i] < 0) return 2; // pinned: promoted
      if (++counts[i] >= this.#hotThreshold && this.#hot < this.#hotMax) {
        counts[i] = -1;
        return 1;
      }
      return 0;
    }
    if (counts[i] < 0) return 0; // the slot holds a hot block: this one is not counted
    if (counts[i] === 0) {
      keys[i] = block;
      counts[i] = 1;
    } else counts[i]--;
    return 0;
  }

  /**
   * A block outside the sample becomes hot: tracked from here on. Its accesses so far were stood
   * for by the sample (as every unsampled block's are); this one has no known distance and is
   * left out of the count.
   */
  #promoteNew(block: number, h: number): void {
    const s = this.#newSlot(block, h);
    this.#isHot[s] = 1;
    this.#hot++;
    this.#skipped++;
    this.#hotAccesses++;
    this.#place(s);
  }

  /** A reference to a hot block: weight 1. */
  #hotReference(s: number): void {
    const [x0, x1] = this.#estimate(s);
    this.#fen.add(this.#pos[s], -1);
    this.#hist.add(x0, x1, 1);
    this.#hotAccesses++;
    this.#place(s);
  }

  /**
   * A reference to a block whose hash is under the threshold: weight 1/rate while it is a sampled
   * block (its cold miss too), 1 once hot (`promote`: it becomes hot after this reference).
   */
  #sampledReference(block: number, h: number, promote: boolean): void {
    let s = this.#slotOf.get(block);
    if (s !== undefined && this.#isHot[s] === 1) return this.#hotReference(s);
    const w = 1 / this.rate;
    if (s === undefined) {
      s = this.#newSlot(block, h);
      this.#coldMisses += w;
      this.#sampled++;
      this.#heap.push(s);
      this.#siftUp(this.#heap.length - 1);
    } else {
      const [x0, x1] = this.#estimate(s);
      this.#fen.add(this.#pos[s], -COLD);
      this.#hist.add(x0, x1, w);
    }
    if (promote) {
      this.#isHot[s] = 1;
      this.#hot++;
      this.#sampled--;
      this.#hotAccesses++;
    } else this.#coldWeighted += w;
    this.#place(s);
    while (this.#sampled > this.#maxSamples) this.#evictLargest();
  }

  /**
   * The reuse interval of a reference to slot s (its previous one still in the trees), as
   * (x0, x1]: the distance is spread evenly over it (x1 = x0 + 1 when it is known to a block).
   */
  #estimate(s: number): [number, number] {
    const rate = this.rate;
    const p = this.#pos[s];
    const both = this.#fen.after(p);
    const hotBetween = both % COLD;
    const coldSampled = (both - hotBetween) / COLD;
    const between = this.accesses - 1 - this.#time[s];
    const coldAccesses = between - (this.#hotAccesses - this.#hotSeen[s]);
    const repeats = (this.#coldWeighted - this.#coldSeen[s]) * rate - coldSampled;
    let x0: number, x1: number;
    if (repeats <= coldSampled) {
      x0 = Math.min(coldAccesses, Math.max(coldSampled, coldAccesses - repeats / rate));
      x1 = x0 + 1;
    } else {
      x0 = Math.min(coldSampled / rate, coldAccesses);
      x1 = Math.max(x0 + 1, Math.min((coldSampled + 1) / rate, coldAccesses));
    }
    return [hotBetween + x0, hotBetween + x1];
  }

  #newSlot(block: number, h: number): number {
    let s = this.#free.pop();
    if (s === undefined) {
      if (this.#slots === this.#key.length) this.#growSlots();
      s = this.#slots++;
    }
    this.#key[s] = block;
    this.#hash[s] = h;
    this.#isHot[s] = 0;
    this.#pos[s] = 0;
    this.#slotOf.set(block, s);
    return s;
  }

  /** Puts slot s at the newest position, stamping when. */
  #place(s: number): void {
    if (this.#lastPos === this.#fen.n) this.#renumber(s);
    const pos = ++this.#lastPos;
    this.#pos[s] = pos;
    this.#time[s] = this.accesses;
    this.#hotSeen[s] = this.#hotAccesses;
    this.#coldSeen[s] = this.#coldWeighted;
    this.#fen.add(pos, this.#isHot[s] === 1 ? 1 : COLD);
  }

  /**
   * Positions are full: number the tracked blocks 1..n again in order (doubling if needed), all
   * but `placing`, which is out of the trees while it moves to the newest position.
   */
  #renumber(placing: number): void {
    const live = [...this.#slotOf.values()].filter((s) => s !== placing)
      .sort((a, b) => this.#pos[a] - this.#pos[b]);
    let n = this.#fen.n;
    while ((live.length + 1) * 2 > n) n *= 2;
    this.#fen = new Fenwick(n);
    live.forEach((s, i) => {
      this.#pos[s] = i + 1;
      this.#fen.add(i + 1, this.#isHot[s] === 1 ? 1 : COLD);
    });
    this.#lastPos = live.length;
  }

  #growSlots(): void {
    const n = this.#key.length * 2;
    const grow = <T extends Float64Array | Int32Array | Uint32Array | Uint8Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(n);
      b.set(a);
      return b;
    };
    this.#key = grow(this.#key);
    this.#pos = grow(this.#pos);
    this.#time = grow(this.#time);
    this.#hotSeen = grow(this.#hotSeen);
    this.#coldSeen = grow(this.#coldSeen);
    this.#hash = grow(this.#hash);
    this.#isHot = grow(this.#isHot);
  }

  /** Fixed-size SHARDS: the sampled block with the largest hash leaves; T drops to its hash. */
  #evictLargest(): void {
    for (;;) {
      const s = this.#heapPop();
      if (s === undefined) return;
      if (this.#isHot[s] === 1 || this.#slotOf.get(this.#key[s]) !== s) continue; // stale
      this.#threshold = this.#hash[s];
      this.#fen.add(this.#pos[s], -COLD);
      this.#slotOf.delete(this.#key[s]);
      this.#free.push(s);
      this.#sampled--;
      return;
    }
  }

  #siftUp(i: number): void {
    const heap = this.#heap, hash = this.#hash, s = heap[i];
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (hash[heap[p]] >= hash[s]) break;
      heap[i] = heap[p];
      i = p;
    }
    heap[i] = s;
  }

  #heapPop(): number | undefined {
    const heap = this.#heap, hash = this.#hash;
    if (heap.length === 0) return undefined;
    const top = heap[0], last = heap.pop()!;
    if (heap.length > 0) {
      let i = 0;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= heap.length) break;
        if (c + 1 < heap.length && hash[heap[c + 1]] > hash[heap[c]]) c++;
        if (hash[heap[c]] <= hash[last]) break;
        heap[i] = heap[c];
        i = c;
      }
      heap[i] = last;
    }
    return top;
  }

  /** Miss ratios at `sizes` (blocks): weighted misses over every access with a distance. */
  points(sizes: number[]): MrcPoint[] {
    const total = this.accesses - this.#skipped;
    const all = this.#hist.hits([Infinity])[0];
    const hits = this.#hist.hits(sizes);
    return sizes.map((c, i) => ({
      sizeBlocks: c,
      missRatio: total > 0
        ? Math.min(1, Math.max(0, (this.#coldMisses + all - hits[i]) / total))
        : 0,
    }));
  }

  /** Distinct blocks seen (estimated: the weighted first accesses, plus the hot blocks). */
  footprint(): number {
    return Math.round(this.#coldMisses + this.#skipped);
  }
}
