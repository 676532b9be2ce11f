/**
 * 2Q (Johnson & Shasha, VLDB '94), full version. Variant: libCacheSim's TwoQ with its defaults —
 * A1in, a FIFO of new blocks, sized 25% of the cache; A1out, a ghost FIFO of block numbers only,
 * 50% of the cache; Am, an LRU of the rest. A miss on a block remembered in A1out inserts it
 * into Am (and forgets the ghost); any other miss inserts into A1in. A hit in Am moves the block
 * to Am's MRU end; a hit in A1in changes nothing. To make room: if A1in holds more than its
 * share, its oldest block is evicted and remembered in A1out (which drops its oldest when full);
 * otherwise Am's LRU block is evicted.
 *
 * @module
 */
import type { CachePolicy } from "./policy.ts";
import { NodePool } from "./node_pool.ts";

const noop = (_b: number) => {};
const AIN = 1, AM = 2, AOUT = 3;

/** 2Q with A1in 25%, A1out 50%. */
export class TwoQPolicy implements CachePolicy {
  readonly name = "2q";
  used = 0;
  onEvict: (block: number) => void = noop;
  readonly kin: number;
  readonly kout: number;
  private readonly pool: NodePool;
  private readonly ain: number;
  private readonly am: number;
  private readonly aout: number;
  private nin = 0;
  private nout = 0;

  constructor(readonly capacity: number, ainRatio = 0.25, aoutRatio = 0.5) {
    this.kin = Math.floor(capacity * ainRatio);
    this.kout = Math.floor(capacity * aoutRatio);
    this.pool = new NodePool(capacity + this.kout + 1, 3);
    this.ain = this.pool.list(0);
    this.am = this.pool.list(1);
    this.aout = this.pool.list(2);
  }

  access(block: number, _isWrite: boolean): boolean {
    const pool = this.pool;
    let s = pool.index.get(block);
    if (s >= 0) {
      const where = pool.aux[s];
      if (where === AM) {
        pool.unlink(s);
        pool.pushTail(this.am, s);
        return true;
      }
      if (where === AIN) return true;
    }
    if (this.capacity === 0) return false;
    const ghost = s >= 0; // in A1out
    if (ghost) {
      pool.unlink(s);
      this.nout--;
    }
    if (this.used >= this.capacity) this.evict();
    if (ghost) {
      pool.aux[s] = AM;
      pool.pushTail(this.am, s);
    } else {
      s = pool.alloc(block);
      pool.aux[s] = AIN;
      pool.pushTail(this.ain, s);
      this.nin++;
    }
    this.used++;
    return false;
  }

  private evict(): void {
    const pool = this.pool;
    let v: number;
    if (this.nin > this.kin || pool.head(this.am) < 0) {
      v = pool.next[this.ain];
      pool.unlink(v);
      this.nin--;
      this.used--;
      const key = pool.keys[v];
      if (this.kout > 0) {
        if (this.nout >= this.kout) {
          const g = pool.next[this.aout];
          pool.unlink(g);
          pool.release(g);
          this.nout--;
        }
        pool.aux[v] = AOUT;
        pool.pushTail(this.aout, v);
        this.nout++;
      } else {
        pool.release(v);
      }
      this.onEvict(key);
      return;
    }
    v = pool.next[this.am];
    const key = pool.keys[v];
    pool.unlink(v);
    pool.release(v);
    this.used--;
    this.onEvict(key);
  }

  has(block: number): boolean {
    const s = this.pool.index.get(block);
    return s >= 0 && this.pool.aux[s] !== AOUT;
  }

  remove(block: number): void {
    const pool = this.pool;
    const s = pool.index.get(block);
    if (s < 0) return;
    const where = pool.aux[s];
    pool.unlink(s);
    pool.release(s);
    if (where === AOUT) this.nout--;
    else {
      if (where === AIN) this.nin--;
      this.used--;
    }
  }
}
