/**
 * A first-in first-out byte buffer for splitting a chunked stream into records or frames:
 * chunks are appended, whole units are taken off the front. Appending copies each byte once
 * into a buffer that doubles when full, and taking only moves a read offset, so a unit that
 * arrives in k chunks costs O(its length), where joining the pending bytes with every new chunk
 * (`new Uint8Array(buf.length + chunk.length)`) costs O(k x its length).
 *
 * @module
 */

/**
 * Bytes received and not yet consumed.
 *
 * @example
 * ```ts
 * import { ByteQueue } from "./byte_queue.ts";
 * const q = new ByteQueue();
 * q.push(new Uint8Array([1, 2, 3]));
 * q.push(new Uint8Array([4]));
 * q.take(2); // Uint8Array [1, 2]
 * q.peek(); // Uint8Array [3, 4] (a view: valid until the next push)
 * ```
 */
export class ByteQueue {
  #buf: Uint8Array;
  #start = 0;
  #end = 0;

  constructor(initialCapacity = 64 * 1024) {
    this.#buf = new Uint8Array(Math.max(1, initialCapacity));
  }

  /** How many bytes are pending. */
  get length(): number {
    return this.#end - this.#start;
  }

  /** Appends a chunk (copied: the caller may reuse it). */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    if (this.#end + chunk.length > this.#buf.length) this.#makeRoom(chunk.length);
    this.#buf.set(chunk, this.#end);
    this.#end += chunk.length;
  }

  /**
   * The pending bytes as a view into the queue's buffer: valid until the next `push`, which
   * may move them. Copy (`slice`) what must outlive that.
   */
  peek(): Uint8Array {
    return this.#buf.subarray(this.#start, this.#end);
  }

  /** Drops the first `n` pending bytes (at most all of them). */
  skip(n: number): void {
    this.#start = Math.min(this.#end, this.#start + Math.max(0, n));
    if (this.#start === this.#end) this.#start = this.#end = 0;
  }

  /** Removes and returns a copy of the first `n` pending bytes (at most all of them). */
  take(n: number): Uint8Array {
    const out = this.#buf.slice(this.#start, Math.min(this.#end, this.#start + Math.max(0, n)));
    this.skip(out.length);
    return out;
  }

  /** Moves the pending bytes to the front, doubling the buffer if they still do not fit. */
  #makeRoom(incoming: number): void {
    const pending = this.length;
    const need = pending + incoming;
    if (need <= this.#buf.length && pending <= this.#buf.length / 2) {
      this.#buf.copyWithin(0, this.#start, this.#end);
    } else {
      let cap = this.#buf.length;
      while (cap < need) cap *= 2;
      if (cap === this.#buf.length) cap *= 2; // more than half pending: grow, so moves stay rare
      const next = new Uint8Array(cap);
      next.set(this.#buf.subarray(this.#start, this.#end));
      this.#buf = next;
    }
    this.#start = 0;
    this.#end = pending;
  }
}
