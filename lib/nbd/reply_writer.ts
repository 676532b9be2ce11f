/**
 * Writes replies to a socket in batches: the first write waits for a microtask, so every reply
 * produced in the same turn of the event loop (all the hits of one socket read) goes out in one
 * write; while a write is in flight, later replies queue and go out together in the next one
 * (small ones copied into one buffer). A pipelined client costs one syscall per batch, not per
 * reply. Reply buffers can come from a small pool.
 *
 * @module
 */

const SCRATCH = 256 * 1024;
const POOL_MAX_SIZE = 132 * 1024;
const POOL_DEPTH = 64;
/** Most bytes the reuse pool keeps (a client cycling through sizes cannot grow it further). */
const POOL_BYTES = 1 << 20;

/** Queues whole frames and writes them in order. */
export class ReplyWriter {
  #queue: Uint8Array[] = [];
  #pooled: boolean[] = [];
  /** Per frame: the budget bytes to credit once it is written (or dropped). */
  #costs: number[] = [];
  #poolBytes = 0;
  #writing = false;
  #scheduled = false;
  #failed: Error | null = null;
  #idle: (() => void)[] = [];
  #scratch = new Uint8Array(SCRATCH);
  #pool = new Map<number, Uint8Array[]>();
  /** Bytes and writes so far (for stats). */
  bytes = 0;
  writes = 0;

  /**
   * `onWritten` gets back the budget bytes of frames once they have been written to the socket,
   * or dropped because it failed.
   */
  constructor(
    private readonly conn: { write(p: Uint8Array): Promise<number> },
    private readonly onWritten: (bytes: number) => void = () => {},
  ) {}

  /** The error that broke the socket, if any; later frames are dropped. */
  get failed(): Error | null {
    return this.#failed;
  }

  /** A buffer of exactly `size` bytes, reused from frames already written when possible. */
  acquire(size: number): Uint8Array {
    const got = this.#pool.get(size)?.pop();
    if (got === undefined) return new Uint8Array(size);
    this.#poolBytes -= got.length;
    return got;
  }

  /**
   * Queues a frame; `pooled` frames go back to the pool once written; `cost` budget bytes are
   * credited back (onWritten) once it is written or dropped.
   */
  send(frame: Uint8Array, pooled = false, cost = 0): void {
    if (this.#failed) {
      if (cost > 0) this.onWritten(cost);
      return;
    }
    this.#queue.push(frame);
    this.#pooled.push(pooled);
    this.#costs.push(cost);
    if (!this.#writing && !this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.#kick);
    }
  }

  #kick = (): void => {
    this.#scheduled = false;
    if (this.#writing) return;
    if (this.#queue.length > 0) {
      this.#pump();
      return;
    }
    const idle = this.#idle; // nothing left to write (the socket failed meanwhile)
    this.#idle = [];
    for (const f of idle) f();
  };

  /** Resolves when every queued frame has been written (or the socket failed). */
  drain(): Promise<void> {
    if (!this.#writing && !this.#scheduled && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #release(frame: Uint8Array): void {
    if (frame.length > POOL_MAX_SIZE || frame.byteOffset !== 0) return;
    if (this.#poolBytes + frame.length > POOL_BYTES) return;
    let list = this.#pool.get(frame.length);
    if (!list) this.#pool.set(frame.length, list = []);
    if (list.length < POOL_DEPTH) {
      list.push(frame);
      this.#poolBytes += frame.length;
    }
  }

  async #writeAll(buf: Uint8Array): Promise<void> {
    let done = 0;
    while (done < buf.length) done += await this.conn.write(buf.subarray(done));
    this.bytes += buf.length;
    this.writes++;
  }

  async #pump(): Promise<void> {
    this.#writing = true;
    let frames: Uint8Array[] = [];
    let costs: number[] = [];
    let i = 0;
    try {
      while (this.#queue.length > 0) {
        frames = this.#queue;
        const pooled = this.#pooled;
        costs = this.#costs;
        this.#queue = [];
        this.#pooled = [];
        this.#costs = [];
        i = 0;
        while (i < frames.length) {
          // Gather a run of frames that fits the scratch buffer into one write.
          let n = 0;
          let j = i;
          while (j < frames.length && n + frames[j].length <= SCRATCH) n += frames[j++].length;
          if (j - i <= 1) {
            await this.#writeAll(frames[i]);
            if (pooled[i]) this.#release(frames[i]);
            this.#credit(costs, i, i + 1);
            i++;
            continue;
          }
          let at = 0;
          for (let k = i; k < j; k++) {
            this.#scratch.set(frames[k], at);
            at += frames[k].length;
            if (pooled[k]) this.#release(frames[k]);
          }
          await this.#writeAll(this.#scratch.subarray(0, at));
          this.#credit(costs, i, j);
          i = j;
        }
      }
    } catch (e) {
      this.#failed = e as Error;
      // Nothing more will be written: every frame still held gives its budget back.
      this.#credit(costs, i, costs.length);
      this.#credit(this.#costs, 0, this.#costs.length);
      this.#queue = [];
      this.#pooled = [];
      this.#costs = [];
    } finally {
      this.#writing = false;
      const idle = this.#idle;
      this.#idle = [];
      for (const f of idle) f();
    }
  }

  #credit(costs: number[], from: number, to: number): void {
    let sum = 0;
    for (let k = from; k < to; k++) sum += costs[k];
    if (sum > 0) this.onWritten(sum);
  }
}
