/**
 * S3-FIFO (Yang et al., SOSP '23). Variant: libCacheSim's S3FIFO.c with its defaults — a small
 * FIFO of 10% of the cache (at least 1 block), a main FIFO of the rest run as a 2-bit CLOCK, and
 * a ghost FIFO of block numbers sized 90% of the cache. A hit adds 1 to the block's frequency.
 * A miss on a ghost block inserts it into main; any other miss into small — except that until
 * the first eviction a miss that finds small full goes to main. Inserted blocks start at
 * frequency 0. To make room: if main is over its share or small is empty, main's oldest blocks
 * with frequency >= 1 are reinserted with min(freq, 3) - 1 until one with frequency 0 is evicted;
 * otherwise small's oldest blocks with frequency >= 2 move to main (frequency 0) until one is
 * evicted and remembered in the ghost.
 *
 * @module
 */
import type { CachePolicy } from "./policy.ts";
import { NodePool } from "./node_pool.ts";

const noop = (_b: number) => {};
const SMALL = 1, MAIN = 2, GHOST = 3;

/** S3-FIFO: small 10%, main 90%, ghost 90%, move to main at freq >= 2. */
export class S3FifoPolicy implements CachePolicy {
  readonly name = "s3fifo";
  used = 0;
  onEvict: (block: number) => void = noop;
  readonly smallCap: number;
  readonly mainCap: number;
  readonly ghostCap: number;
  private readonly pool: NodePool;
  private readonly freq: Uint8Array;
  private readonly small: number;
  private readonly main: number;
  private readonly ghost: number;
  private nSmall = 0;
  private nMain = 0;
  private nGhost = 0;
  private hasEvicted = false;

  constructor(
    readonly capacity: number,
    smallRatio = 0.1,
    ghostRatio = 0.9,
    readonly moveAt = 2,
    /** Until the first eviction, a miss that finds small full goes to main (libCacheSim late 2024). */
    readonly mainWhenSmallFull = true,
  ) {
    this.smallCap = capacity > 0 ? Math.max(1, Math.floor(capacity * smallRatio)) : 0;
    this.mainCap = capacity - this.smallCap;
    this.ghostCap = Math.floor(capacity * ghostRatio);
    this.pool = new NodePool(capacity + this.ghostCap + 1, 3);
    this.freq = new Uint8Array(this.pool.n + 3);
    this.small = this.pool.list(0);
    this.main = this.pool.list(1);
    this.ghost = this.pool.list(2);
  }

  access(block: number, _isWrite: boolean): boolean {
    const pool = this.pool;
    let s = pool.index.get(block);
    if (s >= 0 && pool.aux[s] !== GHOST) {
      if (this.freq[s] < 255) this.freq[s]++;
      return true;
    }
    if (this.capacity === 0) return false;
    const ghostHit = s >= 0;
    if (ghostHit) {
      pool.unlink(s);
      pool.release(s);
      this.nGhost--;
    }
    while (this.used >= this.capacity) this.evict();
    s = pool.alloc(block);
    this.freq[s] = 0;
    if (ghostHit || (this.mainWhenSmallFull && !this.hasEvicted && this.nSmall >= this.smallCap)) {
      pool.aux[s] = MAIN;
      pool.pushTail(this.main, s);
      this.nMain++;
    } else {
      pool.aux[s] = SMALL;
      pool.pushTail(this.small, s);
      this.nSmall++;
    }
    this.used++;
    return false;
  }

  private evict(): void {
    this.hasEvicted = true;
    if (this.nMain > this.mainCap || this.nSmall === 0) this.evictMain();
    else this.evictSmall();
  }

  private evictSmall(): void {
    const pool = this.pool, freq = this.freq;
    while (this.nSmall > 0) {
      const v = pool.next[this.small];
      pool.unlink(v);
      this.nSmall--;
      if (freq[v] >= this.moveAt) {
        freq[v] = 0;
        pool.aux[v] = MAIN;
        pool.pushTail(this.main, v);
        this.nMain++;
        continue;
      }
      const key = pool.keys[v];
      this.used--;
      if (this.ghostCap > 0) {
        if (this.nGhost >= this.ghostCap) {
          const g = pool.next[this.ghost];
          pool.unlink(g);
          pool.release(g);
          this.nGhost--;
        }
        pool.aux[v] = GHOST;
        pool.pushTail(this.ghost, v);
        this.nGhost++;
      } else {
        pool.release(v);
      }
      this.onEvict(key);
      return;
    }
  }

  private evictMain(): void {
    const pool = this.pool, freq = this.freq;
    while (this.nMain > 0) {
      const v = pool.next[this.main];
      pool.unlink(v);
      const f = freq[v];
      if (f >= 1) {
        freq[v] = Math.min(f, 3) - 1;
        pool.pushTail(this.main, v);
        continue;
      }
      const key = pool.keys[v];
      pool.release(v);
      this.nMain--;
      this.used--;
      this.onEvict(key);
      return;
    }
  }

  has(block: number): boolean {
    const s = this.pool.index.get(block);
    return s >= 0 && this.pool.aux[s] !== GHOST;
  }

  /**
   * Makes a resident block the next one evicted: frequency 0, moved to the oldest end of the
   * small FIFO (from main too: small is where S3-FIFO drops blocks not worth keeping, and a
   * block leaving main shrinks main below its share, so the next eviction takes from small).
   * Evicted, it is remembered in the ghost like any block that was not re-used.
   */
  demote(block: number): void {
    const pool = this.pool;
    const s = pool.index.get(block);
    if (s < 0 || pool.aux[s] === GHOST) return;
    this.freq[s] = 0;
    pool.unlink(s);
    if (pool.aux[s] === MAIN) {
      this.nMain--;
      this.nSmall++;
      pool.aux[s] = SMALL;
    }
    pool.pushHead(this.small, s);
  }

  remove(block: number): void {
    const pool = this.pool;
    const s = pool.index.get(block);
    if (s < 0) return;
    const tag = pool.aux[s];
    pool.unlink(s);
    pool.release(s);
    if (tag === GHOST) this.nGhost--;
    else {
      if (tag === SMALL) this.nSmall--;
      else this.nMain--;
      this.used--;
    }
  }
}
