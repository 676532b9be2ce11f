/**
 * Belady's OPT, the upper bound for simulation only. Variant: libCacheSim's Belady, demand-paging
 * MIN — every miss inserts the block; when full, the resident block whose next access lies
 * farthest in the future (never again counts as infinitely far) is evicted, ties broken by the
 * older insertion. It must see the whole access sequence first (`prepare`, which the simulator
 * calls); it cannot run in front of a live cache.
 *
 * @module
 */
import type { CachePolicy } from "./policy.ts";
import type { FutureAware } from "./simulate.ts";
import { NodePool } from "./node_pool.ts";
import { FreqHeap } from "./freq_heap.ts";
import { BlockIndex } from "./block_index.ts";

const noop = (_b: number) => {};

/** Next-use position of every access in `seq` (Infinity when never used again). */
export function nextUses(seq: Float64Array): Float64Array {
  const next = new Float64Array(seq.length);
  // Distinct blocks of the sequence, each with its latest position seen (scanning backward).
  const keys = new Float64Array(seq.length).fill(-1);
  const lastPos = new Float64Array(seq.length);
  const index = new BlockIndex(Math.max(seq.length, 1), keys);
  let distinct = 0;
  for (let i = seq.length - 1; i >= 0; i--) {
    const b = seq[i];
    const s = index.get(b);
    if (s < 0) {
      next[i] = Infinity;
      keys[distinct] = b;
      index.insert(distinct);
      lastPos[distinct++] = i;
    } else {
      next[i] = lastPos[s];
      lastPos[s] = i;
    }
  }
  return next;
}

/** Belady's MIN (OPT). */
export class BeladyPolicy implements CachePolicy, FutureAware {
  readonly name = "belady";
  used = 0;
  onEvict: (block: number) => void = noop;
  private readonly pool: NodePool;
  /** Max-heap by next use, as a min-heap over -nextUse. */
  private readonly heap: FreqHeap;
  private next: Float64Array = new Float64Array(0);
  private cursor = 0;
  private inserts = 0;

  constructor(readonly capacity: number) {
    this.pool = new NodePool(capacity, 0);
    this.heap = new FreqHeap(capacity);
  }

  prepare(accessSequence: Float64Array): void {
    this.next = nextUses(accessSequence);
    this.cursor = 0;
  }

  access(block: number, _isWrite: boolean): boolean {
    if (this.cursor >= this.next.length) {
      throw new Error("belady: more accesses than the prepared sequence (it needs the future)");
    }
    const nu = this.next[this.cursor++];
    const pool = this.pool, heap = this.heap;
    const s = pool.index.get(block);
    if (s >= 0) {
      heap.freq[s] = -nu;
      heap.decreased(s);
      return true;
    }
    if (this.capacity === 0) return false;
    if (this.used === this.capacity) {
      const v = heap.peek();
      heap.delete(v);
      const key = pool.keys[v];
      pool.release(v);
      this.used--;
      this.onEvict(key);
    }
    const n = pool.alloc(block);
    heap.freq[n] = -nu;
    heap.seq[n] = ++this.inserts;
    heap.push(n);
    this.used++;
    return false;
  }

  has(block: number): boolean {
    return this.pool.index.get(block) >= 0;
  }

  remove(block: number): void {
    const s = this.pool.index.get(block);
    if (s < 0) return;
    this.heap.delete(s);
    this.pool.release(s);
    this.used--;
  }
}
