/**
 * QBic: frequency-based admission and eviction, as in QBic's in-hypervisor block cache, which
 * keeps the most frequently accessed blocks in memory.
 *
 * Exact variant (hvkit's; QBic's paper gives no constants and libCacheSim has no QBic):
 * - Every access (hit or miss, read or write) adds 1 to the block's count in a frequency table
 *   that also holds non-resident blocks. Counts saturate at 65535.
 * - The table is bounded to `historyEntries` blocks (default 4 x capacity + 64). Aging: every
 *   `agingPeriod` accesses (default = historyEntries) every count is halved (floor) and the
 *   non-resident blocks whose count reaches 0 are forgotten; when the table is full and a new
 *   block arrives, it is aged early (repeatedly if need be). Resident blocks are never forgotten.
 * - On a miss the block is admitted only when its count, after this access, is >= `threshold`
 *   (default 2): the first touch of a block only counts it.
 * - When full, the coldest resident block is evicted: the lowest count, ties broken by the
 *   least recent access. The evicted block keeps its count in the table.
 * - `remove` (invalidation) drops the cached copy and keeps the count.
 *
 * @module
 */
import type { CachePolicy } from "./policy.ts";
import { BlockIndex } from "./block_index.ts";
import { FreqHeap } from "./freq_heap.ts";

/** QBic's parameters. */
export interface QbicOptions {
  /** Count at which a missing block is admitted (default 2). */
  threshold?: number;
  /** Blocks the frequency table remembers (default 4 x capacity + 64). */
  historyEntries?: number;
  /** Accesses between halvings of every count (default historyEntries). */
  agingPeriod?: number;
}

const MAX_COUNT = 65535;
const noop = (_b: number) => {};

/** QBic's frequency-threshold admission with coldest-first eviction. */
export class QbicPolicy implements CachePolicy {
  readonly name = "qbic";
  used = 0;
  onEvict: (block: number) => void = noop;
  readonly threshold: number;
  readonly historyEntries: number;
  readonly agingPeriod: number;
  private readonly keys: Float64Array;
  private readonly index: BlockIndex;
  private readonly heap: FreqHeap;
  private readonly freeNext: Int32Array;
  private free: number;
  private clock = 0;
  private sinceAging = 0;

  constructor(readonly capacity: number, opts: QbicOptions = {}) {
    this.threshold = opts.threshold ?? 2;
    this.historyEntries = Math.max(opts.historyEntries ?? 4 * capacity + 64, capacity + 1);
    this.agingPeriod = opts.agingPeriod ?? this.historyEntries;
    const h = this.historyEntries;
    this.keys = new Float64Array(h).fill(-1);
    this.index = new BlockIndex(h, this.keys);
    this.heap = new FreqHeap(h);
    this.freeNext = new Int32Array(h);
    for (let i = 0; i < h; i++) this.freeNext[i] = i + 1 < h ? i + 1 : -1;
    this.free = 0;
  }

  /** The block's count in the frequency table (0 when not remembered). */
  count(block: number): number {
    const s = this.index.get(block);
    return s < 0 ? 0 : this.heap.freq[s];
  }

  access(block: number, _isWrite: boolean): boolean {
    const heap = this.heap;
    const now = ++this.clock;
    let s = this.index.get(block);
    let hit = false;
    if (s >= 0 && heap.contains(s)) {
      if (heap.freq[s] < MAX_COUNT) heap.freq[s]++;
      heap.seq[s] = now;
      heap.increased(s);
      hit = true;
    } else {
      if (s < 0) s = this.remember(block);
      if (s >= 0) {
        if (heap.freq[s] < MAX_COUNT) heap.freq[s]++;
        heap.seq[s] = now;
        if (heap.freq[s] >= this.threshold && this.capacity > 0) {
          if (this.used === this.capacity) {
            const v = heap.peek();
            heap.delete(v);
            this.used--;
            this.onEvict(this.keys[v]);
          }
          heap.push(s);
          this.used++;
        }
      }
    }
    if (++this.sinceAging >= this.agingPeriod) this.age();
    return hit;
  }

  has(block: number): boolean {
    const s = this.index.get(block);
    return s >= 0 && this.heap.contains(s);
  }

  /**
   * Makes a resident block the coldest: its count drops to 0 and its last access to the oldest
   * possible, so it is the next evicted (the count is forgotten, as a demoted block's should be).
   */
  demote(block: number): void {
    const s = this.index.get(block);
    if (s < 0 || !this.heap.contains(s)) return;
    this.heap.freq[s] = 0;
    this.heap.seq[s] = 0;
    this.heap.decreased(s);
  }

  remove(block: number): void {
    const s = this.index.get(block);
    if (s < 0 || !this.heap.contains(s)) return;
    this.heap.delete(s);
    this.used--;
  }

  /** Puts a new block in the frequency table with count 0; -1 if no room even after aging. */
  private remember(block: number): number {
    for (let i = 0; i < 17 && this.free < 0; i++) this.age();
    const s = this.free;
    if (s < 0) return -1;
    this.free = this.freeNext[s];
    this.keys[s] = block;
    this.heap.freq[s] = 0;
    this.index.insert(s);
    return s;
  }

  /** Halves every count and forgets non-resident blocks whose count reaches 0. */
  private age(): void {
    this.sinceAging = 0;
    const heap = this.heap, keys = this.keys;
    for (let s = 0; s < this.historyEntries; s++) {
      if (keys[s] < 0) continue;
      const f = Math.floor(heap.freq[s] / 2);
      heap.freq[s] = f;
      if (f === 0 && !heap.contains(s)) {
        this.index.delete(keys[s]);
        keys[s] = -1;
        this.freeNext[s] = this.free;
        this.free = s;
      }
    }
    heap.heapify();
  }
}
