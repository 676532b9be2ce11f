/**
 * FIFO: evict the block inserted first. Variant: libCacheSim's FIFO — insert on every miss,
 * a hit changes nothing.
 *
 * @module
 */
import type { CachePolicy } from "./policy.ts";
import { NodePool } from "./node_pool.ts";

const noop = (_b: number) => {};

/** First in, first out. */
export class FifoPolicy implements CachePolicy {
  readonly name = "fifo";
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
    if (pool.index.get(block) >= 0) return true;
    if (this.capacity === 0) return false;
    if (this.used === this.capacity) {
      const v = pool.next[this.list];
      const key = pool.keys[v];
      pool.unlink(v);
      pool.release(v);
      this.used--;
      this.onEvict(key);
    }
    pool.pushTail(this.list, pool.alloc(block));
    this.used++;
    return false;
  }

  has(block: number): boolean {
    return this.pool.index.get(block) >= 0;
  }

  remove(block: number): void {
    const s = this.pool.index.get(block);
    if (s < 0) return;
    this.pool.unlink(s);
    this.pool.release(s);
    this.used--;
  }
}
