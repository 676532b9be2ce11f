/**
 * A buffered reader over a socket that hands out views into its own buffer, so parsing a
 * 28-byte NBD request costs no allocation and, when the bytes are already buffered, no await.
 *
 * @module
 */

/** Thrown when the peer closes the socket in the middle of a frame. */
export class TruncatedError extends Error {
  override name = "TruncatedError";
}

/** Reads exact byte counts from a connection through one reusable buffer. */
export class ConnReader {
  /** The buffer; valid bytes are `[start, end)`. */
  readonly buf: Uint8Array;
  readonly view: DataView;
  start = 0;
  end = 0;

  constructor(
    private readonly conn: { read(p: Uint8Array): Promise<number | null> },
    size = 256 * 1024,
  ) {
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
  }

  /** Bytes buffered and not consumed yet. */
  get available(): number {
    return this.end - this.start;
  }

  /**
   * Makes `n` bytes (at most the buffer size) available at `start`. Resolves false on a clean
   * end of stream before any byte of the frame; throws {@linkcode TruncatedError} on an end of
   * stream inside it.
   */
  async fill(n: number): Promise<boolean> {
    if (n > this.buf.length) throw new RangeError(`frame of ${n} bytes exceeds the buffer`);
    if (this.end - this.start >= n) return true;
    if (this.start + n > this.buf.length) {
      this.buf.copyWithin(0, this.start, this.end);
      this.end -= this.start;
      this.start = 0;
    }
    while (this.end - this.start < n) {
      const got = await this.conn.read(this.buf.subarray(this.end));
      if (got === null) {
        if (this.end === this.start) return false;
        throw new TruncatedError(
          `connection closed inside a frame (${this.end - this.start} of ${n} bytes)`,
        );
      }
      this.end += got;
    }
    return true;
  }

  /**
   * Consumes `n` buffered bytes and returns a view of them (valid until the next fill). Throws
   * a RangeError when fewer than `n` are buffered: never hands out bytes that were not read.
   */
  take(n: number): Uint8Array {
    if (n < 0 || n > this.end - this.start) {
      throw new RangeError(`take(${n}) with ${this.end - this.start} bytes buffered`);
    }
    const v = this.buf.subarray(this.start, this.start + n);
    this.start += n;
    return v;
  }

  /** Consumes `n` bytes (must be buffered: a RangeError otherwise). */
  skip(n: number): void {
    if (n < 0 || n > this.end - this.start) {
      throw new RangeError(`skip(${n}) with ${this.end - this.start} bytes buffered`);
    }
    this.start += n;
  }

  /**
   * Copies buffered bytes into `dst` and returns how many; the caller reads the rest with
   * {@linkcode readRest}. Split so the common case (all buffered) needs no await.
   */
  copyBuffered(dst: Uint8Array): number {
    const n = Math.min(dst.length, this.end - this.start);
    dst.set(this.buf.subarray(this.start, this.start + n));
    this.start += n;
    if (this.start === this.end) this.start = this.end = 0;
    return n;
  }

  /** Fills `dst` from `from` on, reading straight from the socket; throws if it ends first. */
  async readRest(dst: Uint8Array, from: number): Promise<void> {
    let done = from;
    while (done < dst.length) {
      const got = await this.conn.read(dst.subarray(done));
      if (got === null) {
        throw new TruncatedError(`connection closed inside a payload (${done} of ${dst.length})`);
      }
      done += got;
    }
  }

  /** Reads and drops `n` bytes. */
  async discard(n: number): Promise<void> {
    let left = n;
    while (left > 0) {
      const have = this.end - this.start;
      if (have === 0) {
        this.start = this.end = 0;
        const got = await this.conn.read(this.buf);
        if (got === null) throw new TruncatedError(`connection closed inside a payload`);
        this.end = got;
        continue;
      }
      const k = Math.min(have, left);
      this.start += k;
      left -= k;
    }
  }
}
