/**
 * A pool of list nodes in typed arrays: each node has a key (the block number), `prev`/`next`
 * links and a small per-node byte (`aux`: a reference bit, a frequency, a queue tag). Lists are
 * circular with a sentinel node, so linking and unlinking never branch. Policies build their
 * queues (LRU list, FIFO queues, ghosts) from one pool and index it with a BlockIndex.
 *
 * @module
 */
import { BlockIndex } from "./block_index.ts";

/** A fixed-size pool of `n` nodes plus `lists` sentinels (slots n..n+lists-1). */
export class NodePool {
  readonly keys: Float64Array;
  readonly prev: Int32Array;
  readonly next: Int32Array;
  readonly aux: Uint8Array;
  readonly index: BlockIndex;
  /** Head of the free-node chain (through `next`), -1 when empty. */
  private free: number;

  constructor(readonly n: number, readonly lists: number) {
    const total = n + lists;
    this.keys = new Float64Array(total).fill(-1);
    this.prev = new Int32Array(total);
    this.next = new Int32Array(total);
    this.aux = new Uint8Array(total);
    this.index = new BlockIndex(Math.max(n, 1), this.keys);
    for (let i = 0; i < n; i++) this.next[i] = i + 1 < n ? i + 1 : -1;
    this.free = n > 0 ? 0 : -1;
    for (let s = n; s < total; s++) {
      this.prev[s] = s;
      this.next[s] = s;
    }
  }

  /** The sentinel of list `i`. */
  list(i: number): number {
    return this.n + i;
  }

  /** Takes a free node for `key`, indexes it; -1 when the pool is exhausted. */
  alloc(key: number): number {
    const s = this.free;
    if (s < 0) return -1;
    this.free = this.next[s];
    this.keys[s] = key;
    this.aux[s] = 0;
    this.index.insert(s);
    return s;
  }

  /** Unindexes and frees a node that is already unlinked. */
  release(s: number): void {
    this.index.delete(this.keys[s]);
    this.keys[s] = -1;
    this.next[s] = this.free;
    this.free = s;
  }

  /** Links `s` just before sentinel `list` (the tail: most recent end). */
  pushTail(list: number, s: number): void {
    const p = this.prev[list];
    this.prev[s] = p;
    this.next[s] = list;
    this.next[p] = s;
    this.prev[list] = s;
  }

  /** Links `s` just after sentinel `list` (the head: oldest end). */
  pushHead(list: number, s: number): void {
    const nx = this.next[list];
    this.next[s] = nx;
    this.prev[s] = list;
    this.prev[nx] = s;
    this.next[list] = s;
  }

  /** Unlinks `s` from whatever list holds it. */
  unlink(s: number): void {
    const p = this.prev[s], nx = this.next[s];
    this.next[p] = nx;
    this.prev[nx] = p;
  }

  /** The oldest node of `list`, or -1 when empty. */
  head(list: number): number {
    const h = this.next[list];
    return h === list ? -1 : h;
  }

  /** The newest node of `list`, or -1 when empty. */
  tail(list: number): number {
    const t = this.prev[list];
    return t === list ? -1 : t;
  }
}
