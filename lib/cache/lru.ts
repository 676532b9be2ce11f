/**
 * LRU: evict the least recently used block. Variant: libCacheSim's LRU — insert on every miss
 * (reads and writes alike) at the MRU end, move to the MRU end on a hit, evict from the LRU end.
 * One intrusive doubly linked list in typed arrays plus an open-addressing index: 16 bytes per
 * node and 8..16 bytes of index per cached block.
 *
 * @module
 */
import type { CachePolicy } from "./policy.ts";
import { NodePool } from "./node_pool.ts";

const noop = (_b: number) => {};

/** Least recently used. */
export class LruPolicy implements CachePolicy {
  readonly name = "lru";
  used = 0;
  onEvict: (block: number) => void = noop;
  private readonly pool: NodePool;
  private readonly list: number;

  constructor(readonly capacity: number) {
    this.pool = new NodePool(capacity, 1);
    this.list = this.pool.list(0);
  }

  access(block: number, _isWrite: boolean): boolean {
    const pool = this.pool;
    const s = pool.index.get(block);
    if (s >= 0) {
      pool.unlink(s);
      pool.pushTail(this.list, s);
      return true;
    }
    if (this.capacity === 0) return false;
    if (this.used === this.capacity) {
      const v = pool.next[this.list];
      const key = pool.keys[v];
      pool.unlink(v);
      pool.release(v);
      this.used--;
      this.onEvict(key);
    }
    const n = pool.alloc(block);
    pool.pushTail(this.list, n);
    this.used++;
    return false;
  }

  has(block: number): boolean {
    return this.pool.index.get(block) >= 0;
  }

  /** Moves a resident block to the LRU end: the next block evicted. */
  demote(block: number): void {
    const s = this.pool.index.get(block);
    if (s < 0) return;
    this.pool.unlink(s);
    this.pool.pushHead(this.list, s);
  }

  remove(block: number): void {
    const s = this.pool.index.get(block);
    if (s < 0) return;
    this.pool.unlink(s);
    this.pool.release(s);
    this.used--;
  }
}
