/**
 * An indexed binary min-heap of node slots ordered by (frequency, last access sequence): the
 * root is the least frequently used block, ties broken by least recent access. Used by LFU and
 * by QBic's eviction of the coldest block.
 *
 * @module
 */

/** Min-heap over slots `0..n-1` keyed by `freq[slot]` then `seq[slot]`. */
export class FreqHeap {
  readonly freq: Float64Array;
  readonly seq: Float64Array;
  private readonly heap: Int32Array;
  private readonly pos: Int32Array;
  size = 0;

  constructor(n: number) {
    this.freq = new Float64Array(n);
    this.seq = new Float64Array(n);
    this.heap = new Int32Array(Math.max(n, 1));
    this.pos = new Int32Array(n).fill(-1);
  }

  private less(a: number, b: number): boolean {
    const fa = this.freq[a], fb = this.freq[b];
    return fa < fb || (fa === fb && this.seq[a] < this.seq[b]);
  }

  /** True when `slot` is in the heap. */
  contains(slot: number): boolean {
    return this.pos[slot] >= 0;
  }

  /** Adds `slot` (its freq/seq already set). */
  push(slot: number): void {
    const i = this.size++;
    this.heap[i] = slot;
    this.pos[slot] = i;
    this.up(i);
  }

  /** The minimum slot, or -1 when empty. */
  peek(): number {
    return this.size > 0 ? this.heap[0] : -1;
  }

  /** Removes `slot` from the heap. */
  delete(slot: number): void {
    const i = this.pos[slot];
    if (i < 0) return;
    const last = this.heap[--this.size];
    this.pos[slot] = -1;
    if (i === this.size) return;
    this.heap[i] = last;
    this.pos[last] = i;
    this.up(i);
    this.down(this.pos[last]);
  }

  /** Restores order after `slot`'s key grew. */
  increased(slot: number): void {
    this.down(this.pos[slot]);
  }

  /** Restores order after `slot`'s key shrank. */
  decreased(slot: number): void {
    this.up(this.pos[slot]);
  }

  /** Rebuilds the order after arbitrary key changes (aging). */
  heapify(): void {
    for (let i = (this.size >> 1) - 1; i >= 0; i--) this.down(i);
  }

  /** Calls `fn` with every slot in the heap. */
  forEach(fn: (slot: number) => void): void {
    for (let i = 0; i < this.size; i++) fn(this.heap[i]);
  }

  private up(i: number): void {
    const heap = this.heap, pos = this.pos;
    const s = heap[i];
    while (i > 0) {
      const p = (i - 1) >> 1;
      const ps = heap[p];
      if (!this.less(s, ps)) break;
      heap[i] = ps;
      pos[ps] = i;
      i = p;
    }
    heap[i] = s;
    pos[s] = i;
  }

  private down(i: number): void {
    const heap = this.heap, pos = this.pos, n = this.size;
    const s = heap[i];
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && this.less(heap[c + 1], heap[c])) c++;
      if (!this.less(heap[c], s)) break;
      heap[i] = heap[c];
      pos[heap[i]] = i;
      i = c;
    }
    heap[i] = s;
    pos[s] = i;
  }
}
