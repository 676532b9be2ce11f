/**
 * SIEVE (Zhang et al., NSDI '24). Variant: libCacheSim's Sieve — a FIFO queue with a visited bit
 * (clear on insert, set on a hit) and a hand that starts at the oldest block and moves toward
 * newer ones, clearing visited bits, until it finds an unvisited block to evict; the hand stays
 * where it stopped (at the next newer block) and wraps to the oldest end. New blocks go to the
 * newest end; surviving blocks are never moved.
 *
 * @module
 */
import type { CachePolicy } from "./policy.ts";
import { NodePool } from "./node_pool.ts";

const noop = (_b: number) => {};

/** SIEVE. */
export class SievePolicy implements CachePolicy {
  readonly name = "sieve";
  used = 0;
  onEvict: (block: number) => void = noop;
  private readonly pool: NodePool;
  private readonly list: number;
  private hand = -1;

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
    if (this.used === this.capacity) this.evict();
    pool.pushTail(this.list, pool.alloc(block));
    this.used++;
    return false;
  }

  private evict(): void {
    const pool = this.pool, list = this.list;
    let o = this.hand >= 0 ? this.hand : pool.next[list];
    while (pool.aux[o] !== 0) {
      pool.aux[o] = 0;
      o = pool.next[o];
      if (o === list) o = pool.next[list];
    }
    const nx = pool.next[o];
    this.hand = nx === list ? -1 : nx;
    const key = pool.keys[o];
    pool.unlink(o);
    pool.release(o);
    this.used--;
    this.onEvict(key);
  }

  has(block: number): boolean {
    return this.pool.index.get(block) >= 0;
  }

  remove(block: number): void {
    const pool = this.pool;
    const s = pool.index.get(block);
    if (s < 0) return;
    if (this.hand === s) {
      const nx = pool.next[s];
      this.hand = nx === this.list ? -1 : nx;
    }
    pool.unlink(s);
    pool.release(s);
    this.used--;
  }
}
