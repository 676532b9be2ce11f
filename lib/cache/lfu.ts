/**
 * LFU: evict the least frequently used block. Variant: libCacheSim's LFU — a block's count
 * starts at 1 when inserted (every miss inserts) and grows by 1 per hit; the victim is the
 * lowest count, ties broken by recency (the least recently accessed goes first); an evicted
 * block's count is forgotten. O(log n) per access (indexed heap).
 *
 * @module
 */
import type { CachePolicy } from "./policy.ts";
import { NodePool } from "./node_pool.ts";
import { FreqHeap } from "./freq_heap.ts";

const noop = (_b: number) => {};

/** Least frequently used, ties by least recently used. */
export class LfuPolicy implements CachePolicy {
  readonly name = "lfu";
  used = 0;
  onEvict: (block: number) => void = noop;
  private readonly pool: NodePool;
  private readonly heap: FreqHeap;
  private clock = 0;

  constructor(readonly capacity: number) {
    this.pool = new NodePool(capacity, 0);
    this.heap = new FreqHeap(capacity);
  }

  access(block: number, _isWrite: boolean): boolean {
    const pool = this.pool, heap = this.heap;
    const now = ++this.clock;
    const s = pool.index.get(block);
    if (s >= 0) {
      heap.freq[s]++;
      heap.seq[s] = now;
      heap.increased(s);
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
    heap.freq[n] = 1;
    heap.seq[n] = now;
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
