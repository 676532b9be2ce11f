/**
 * ARC (Megiddo & Modha, FAST '03), in block units. Variant: the paper's algorithm as libCacheSim's
 * ARC runs it with unit-size objects — T1 (seen once recently) and T2 (seen at least twice) hold
 * cached blocks; B1 and B2 are ghost lists of block numbers evicted from T1 and T2; the target
 * size p of T1 starts at 0 and adapts: a miss found in B1 raises p by max(|B2|/|B1|, 1), one
 * found in B2 lowers it by max(|B1|/|B2|, 1) (p is a real number in [0, c]). REPLACE evicts T1's
 * LRU into B1 when |T1| > p (or |T1| = p and the missing block is in B2), else T2's LRU into B2.
 * Directory size bounds: |T1| + |B1| <= c, total <= 2c.
 *
 * @module
 */
import type { CachePolicy } from "./policy.ts";
import { NodePool } from "./node_pool.ts";

const noop = (_b: number) => {};
const T1 = 1, T2 = 2, B1 = 3, B2 = 4;

/** Adaptive Replacement Cache. */
export class ArcPolicy implements CachePolicy {
  readonly name = "arc";
  used = 0;
  onEvict: (block: number) => void = noop;
  /** T1's target size. */
  p = 0;
  private readonly pool: NodePool;
  private readonly lists: number[];
  /** Sizes by tag (index 1..4). */
  private readonly n = new Int32Array(5);

  constructor(readonly capacity: number) {
    this.pool = new NodePool(2 * capacity + 1, 4);
    this.lists = [-1, this.pool.list(0), this.pool.list(1), this.pool.list(2), this.pool.list(3)];
  }

  private move(s: number, to: number): void {
    const pool = this.pool;
    this.n[pool.aux[s]]--;
    pool.unlink(s);
    pool.aux[s] = to;
    pool.pushTail(this.lists[to], s);
    this.n[to]++;
  }

  private dropLru(tag: number): void {
    const pool = this.pool;
    const v = pool.next[this.lists[tag]];
    pool.unlink(v);
    pool.release(v);
    this.n[tag]--;
  }

  /** Evicts T1's or T2's LRU block into its ghost list. */
  private replace(inB2: boolean): void {
    const pool = this.pool, n = this.n;
    let from: number, to: number;
    if (n[T1] > 0 && (n[T1] > this.p || (inB2 && n[T1] === this.p))) {
      from = T1, to = B1;
    } else if (n[T2] > 0) {
      from = T2, to = B2;
    } else {
      from = T1, to = B1;
    }
    const v = pool.next[this.lists[from]];
    const key = pool.keys[v];
    this.move(v, to);
    this.used--;
    this.onEvict(key);
  }

  access(block: number, _isWrite: boolean): boolean {
    const pool = this.pool, n = this.n, c = this.capacity;
    const s = pool.index.get(block);
    if (s >= 0) {
      const tag = pool.aux[s];
      if (tag === T1 || tag === T2) {
        this.move(s, T2);
        return true;
      }
      if (tag === B1) {
        this.p = Math.min(c, this.p + Math.max(n[B2] / n[B1], 1));
        if (this.used >= c) this.replace(false);
      } else {
        this.p = Math.max(0, this.p - Math.max(n[B1] / n[B2], 1));
        if (this.used >= c) this.replace(true);
      }
      this.move(s, T2);
      this.used++;
      return false;
    }
    if (c === 0) return false;
    const l1 = n[T1] + n[B1];
    if (l1 === c) {
      if (n[T1] < c) {
        this.dropLru(B1);
        if (this.used >= c) this.replace(false);
      } else {
        const v = pool.next[this.lists[T1]];
        const key = pool.keys[v];
        pool.unlink(v);
        pool.release(v);
        n[T1]--;
        this.used--;
        this.onEvict(key);
      }
    } else {
      const total = l1 + n[T2] + n[B2];
      if (total >= c) {
        if (total === 2 * c) this.dropLru(B2);
        if (this.used === c) this.replace(false);
      }
    }
    const ns = pool.alloc(block);
    pool.aux[ns] = T1;
    pool.pushTail(this.lists[T1], ns);
    n[T1]++;
    this.used++;
    return false;
  }

  has(block: number): boolean {
    const s = this.pool.index.get(block);
    return s >= 0 && this.pool.aux[s] <= T2;
  }

  /**
   * Moves a resident block to the LRU end of T1, the list of blocks seen once: the next evicted
   * whenever REPLACE takes from T1 (|T1| > p). A T2 block goes back to T1, since a demoted block
   * is not one worth keeping for its frequency; B1's oldest ghost is dropped if that would put
   * |T1| + |B1| over the cache size (ARC's directory bound).
   */
  demote(block: number): void {
    const pool = this.pool, n = this.n;
    const s = pool.index.get(block);
    if (s < 0 || pool.aux[s] > T2) return;
    n[pool.aux[s]]--;
    pool.unlink(s);
    pool.aux[s] = T1;
    pool.pushHead(this.lists[T1], s);
    n[T1]++;
    if (n[T1] + n[B1] > this.capacity && n[B1] > 0) this.dropLru(B1);
  }

  remove(block: number): void {
    const pool = this.pool;
    const s = pool.index.get(block);
    if (s < 0) return;
    const tag = pool.aux[s];
    pool.unlink(s);
    pool.release(s);
    this.n[tag]--;
    if (tag <= T2) this.used--;
  }
}
