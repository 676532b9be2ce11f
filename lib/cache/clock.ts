/**
 * CLOCK: FIFO with one reference bit (second chance). Variant: libCacheSim's Clock with a 1-bit
 * counter — a block is inserted with its reference bit CLEAR; a hit sets it; the eviction hand
 * takes the oldest block, and a block whose bit is set gets the bit cleared and goes back to the
 * newest end instead of being evicted.
 *
 * @module
 */
import type { CachePolicy } from "./policy.ts";
import { NodePool } from "./node_pool.ts";

const noop = (_b: number) => {};

/** CLOCK (second chance), reference bit clear on insert. */
export class ClockPolicy implements CachePolicy {
  readonly name = "clock";
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
      pool.aux[s] = 1;
      return true;
    }
    if (this.capacity === 0) return false;
    if (this.used === this.capacity) {
      const list = this.list;
      let v = pool.next[list];
      while (pool.aux[v] !== 0) {
        pool.aux[v] = 0;
        pool.unlink(v);
        pool.pushTail(list, v);
        v = pool.next[list];
      }
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
