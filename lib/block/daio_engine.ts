/**
 * The async bridge to the native daio device engine (native/daio_dev.c): many concurrent callers
 * await I/O without one FFI call per request. Requests issued in the same turn of the event loop
 * are written into a shared request array and submitted with one short synchronous call; one
 * nonblocking "reap" call at a time waits on the engine's eventfd and brings back every
 * completion ready, in bulk. Data moves through a pool of aligned buffers the engine owns
 * (registered with io_uring as fixed buffers) that this side sees as one ArrayBuffer.
 *
 * @module
 */
import { native } from "../ffi/ffi.ts";
import { errnoName } from "../ffi/errno.ts";

/** Native operation codes (daio.h). */
export const DaioOp = { read: 0, write: 1, fsync: 2, fallocate: 3 } as const;
/** Native open flags (daio.h). */
export const DaioOpen = {
  readOnly: 1,
  direct: 2,
  directAuto: 4,
  sqpoll: 8,
  noRegister: 16,
} as const;
/** Which file descriptor a request goes to: the main (maybe O_DIRECT) one or the buffered twin. */
export const DaioFd = { main: 0, buffered: 1 } as const;
/** fallocate(2) modes. */
export const Falloc = { keepSize: 1, punchHole: 2, zeroRange: 0x10 } as const;

const REQ_BYTES = 32;
const CQE_BYTES = 16;
const TWO32 = 2 ** 32;

/** What the engine found when it opened the file. */
export interface DaioEngineInfo {
  size: number;
  /** Offset/length/buffer alignment O_DIRECT needs (1 when buffered). */
  align: number;
  direct: boolean;
  poolBytes: number;
  registeredBuffers: boolean;
  blockDevice: boolean;
  /** Set when O_DIRECT was asked for with "auto" and the file system refused it. */
  directRefused: string | null;
}

/** Options of {@linkcode DaioEngine.open}. */
export interface DaioEngineOptions {
  readOnly: boolean;
  direct: boolean | "auto";
  queues: number;
  queueDepth: number;
  /** Bytes per pool slot (a multiple of 4096). */
  slotSize: number;
  sqpoll?: boolean;
  register?: boolean;
}

/** A failed open or I/O, carrying the errno number and its name. */
export class DaioErrno extends Error {
  override name = "DaioErrno";
  constructor(readonly errno: number, readonly code: string, message: string) {
    super(message);
  }
}

interface Pending {
  resolve: (res: number) => void;
  queue: number;
}

interface Waiting {
  op: number;
  off: number;
  len: number;
  bufOff: number;
  flags: number;
  fd: number;
  resolve: (res: number) => void;
}

/**
 * One open file or block device on the native engine.
 *
 * @example
 * ```ts
 * import { DaioEngine, DaioOp, DaioFd } from "./daio_engine.ts";
 * const eng = DaioEngine.open("disk.img", {
 *   readOnly: true, direct: "auto", queues: 1, queueDepth: 32, slotSize: 262144,
 * });
 * const slot = await eng.acquireSlot();
 * const n = await eng.submit(DaioOp.read, 0, 4096, eng.slotOffset(slot), 0, DaioFd.main);
 * eng.releaseSlot(slot);
 * await eng.close();
 * ```
 */
export class DaioEngine {
  readonly info: DaioEngineInfo;
  /** The whole buffer pool, shared with the engine. */
  readonly pool: Uint8Array;
  readonly slotSize: number;
  readonly slots: number;
  readonly queues: number;
  readonly queueDepth: number;

  #h: number;
  #closed = false;
  #reqBuf: Uint8Array<ArrayBuffer>;
  #reqView: DataView;
  #reqCount = 0;
  #flushScheduled = false;
  #cqBuf: Uint8Array<ArrayBuffer>;
  #cqView: DataView;
  #pending: (Pending | undefined)[];
  #freeTags: number[];
  #inflight: number[];
  #inflightTotal = 0;
  #backlog: Waiting[] = [];
  #freeSlots: number[];
  #slotWaiters: ((slot: number) => void)[] = [];
  #reaping: Promise<void> | null = null;
  #idleWaiters: (() => void)[] = [];

  private constructor(h: number, info: DaioEngineInfo, opts: DaioEngineOptions) {
    this.#h = h;
    this.info = info;
    this.queues = opts.queues;
    this.queueDepth = opts.queueDepth;
    this.slotSize = opts.slotSize;
    this.slots = opts.queues * opts.queueDepth;
    const ptr = native().daio_dev_pool(h);
    if (ptr === null) throw new Error("daio: engine lost its buffer pool");
    this.pool = new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(ptr, info.poolBytes));
    const tags = this.slots;
    this.#reqBuf = new Uint8Array(tags * REQ_BYTES);
    this.#reqView = new DataView(this.#reqBuf.buffer);
    this.#cqBuf = new Uint8Array(tags * CQE_BYTES);
    this.#cqView = new DataView(this.#cqBuf.buffer);
    this.#pending = new Array(tags).fill(undefined);
    this.#freeTags = Array.from({ length: tags }, (_, i) => tags - 1 - i);
    this.#inflight = new Array(opts.queues).fill(0);
    this.#freeSlots = Array.from({ length: this.slots }, (_, i) => this.slots - 1 - i);
  }

  /** Opens `path` on the engine; throws {@linkcode DaioErrno} naming the errno. */
  static open(path: string, opts: DaioEngineOptions): DaioEngine {
    if (opts.slotSize % 4096 !== 0 || opts.slotSize <= 0) {
      throw new Error(`daio: slot size ${opts.slotSize} is not a positive multiple of 4096`);
    }
    let flags = 0;
    if (opts.readOnly) flags |= DaioOpen.readOnly;
    if (opts.direct === true) flags |= DaioOpen.direct;
    if (opts.direct === "auto") flags |= DaioOpen.directAuto;
    if (opts.sqpoll) flags |= DaioOpen.sqpoll;
    if (opts.register === false) flags |= DaioOpen.noRegister;
    const poolBytes = opts.queues * opts.queueDepth * opts.slotSize;
    const infoBuf = new BigUint64Array(7);
    const h = native().daio_dev_open(
      new TextEncoder().encode(path + "\0"),
      flags,
      opts.queues,
      opts.queueDepth,
      BigInt(poolBytes),
      new Uint8Array(infoBuf.buffer),
    );
    if (h < 0) throw errnoError(-h, path);
    const info: DaioEngineInfo = {
      size: Number(infoBuf[0]),
      align: Number(infoBuf[1]),
      direct: infoBuf[2] === 1n,
      poolBytes: Number(infoBuf[3]),
      registeredBuffers: infoBuf[4] === 1n,
      blockDevice: infoBuf[5] === 1n,
      directRefused: infoBuf[6] !== 0n ? errnoName(Number(infoBuf[6])) : null,
    };
    return new DaioEngine(h, info, opts);
  }

  /** The pool offset of a slot. */
  slotOffset(slot: number): number {
    return slot * this.slotSize;
  }

  /** Takes one pool slot (waits while all are in use). */
  acquireSlot(): Promise<number> | number {
    const s = this.#freeSlots.pop();
    if (s !== undefined) return s;
    return new Promise((resolve) => this.#slotWaiters.push(resolve));
  }

  /** Gives a slot back. */
  releaseSlot(slot: number): void {
    const w = this.#slotWaiters.shift();
    if (w) w(slot);
    else this.#freeSlots.push(slot);
  }

  /**
   * Queues one operation; resolves with the kernel's result (bytes, or -errno: the caller maps
   * errors, so a short transfer and a failure are told apart where they happen).
   */
  submit(
    op: number,
    off: number,
    len: number,
    bufOff: number,
    flags: number,
    fd: number,
  ): Promise<number> {
    if (this.#closed) return Promise.resolve(-108 /* ESHUTDOWN */);
    return new Promise((resolve) => {
      const w: Waiting = { op, off, len, bufOff, flags, fd, resolve };
      if (!this.#dispatch(w)) this.#backlog.push(w);
    });
  }

  /** Resolves when nothing is in flight or waiting. */
  idle(): Promise<void> {
    if (this.#inflightTotal === 0 && this.#backlog.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Waits for in-flight I/O, stops the reaper and releases the engine. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.idle();
    this.#closed = true;
    native().daio_dev_wake(this.#h);
    if (this.#reaping) await this.#reaping;
    native().daio_dev_close(this.#h);
  }

  /** Puts a request in the next batch if its queue has room. */
  #dispatch(w: Waiting): boolean {
    // The least loaded queue; ties go to the lowest index.
    let q = 0;
    for (let i = 1; i < this.queues; i++) if (this.#inflight[i] < this.#inflight[q]) q = i;
    if (this.#inflight[q] >= this.queueDepth) return false;
    const tag = this.#freeTags.pop()!;
    this.#pending[tag] = { resolve: w.resolve, queue: q };
    this.#inflight[q]++;
    this.#inflightTotal++;
    const v = this.#reqView;
    const at = this.#reqCount * REQ_BYTES;
    v.setUint32(at, tag, true);
    v.setUint32(at + 4, 0, true);
    v.setUint32(at + 8, w.off % TWO32, true);
    v.setUint32(at + 12, Math.floor(w.off / TWO32), true);
    v.setUint32(at + 16, w.len % TWO32, true);
    v.setUint32(at + 20, Math.floor(w.len / TWO32), true);
    v.setUint32(at + 24, w.bufOff, true);
    v.setUint8(at + 28, w.op);
    v.setUint8(at + 29, w.flags);
    v.setUint8(at + 30, w.fd);
    v.setUint8(at + 31, q);
    this.#reqCount++;
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(() => this.#flush());
    }
    if (!this.#reaping) this.#reaping = this.#reapLoop();
    return true;
  }

  #flush(): void {
    this.#flushScheduled = false;
    const n = this.#reqCount;
    if (n === 0) return;
    this.#reqCount = 0;
    const rc = native().daio_dev_submit(this.#h, this.#reqBuf, n);
    const done = rc < 0 ? 0 : rc;
    // Requests the engine could not take complete at once with its error.
    for (let i = done; i < n; i++) {
      const tag = this.#reqView.getUint32(i * REQ_BYTES, true);
      this.#complete(tag, rc < 0 ? rc : -5 /* EIO */);
    }
  }

  #complete(tag: number, res: number): void {
    const p = this.#pending[tag];
    if (!p) return;
    this.#pending[tag] = undefined;
    this.#freeTags.push(tag);
    this.#inflight[p.queue]--;
    this.#inflightTotal--;
    p.resolve(res);
  }

  async #reapLoop(): Promise<void> {
    const n = native();
    const max = this.slots;
    while (this.#inflightTotal > 0 && !this.#closed) {
      const got = await n.daio_dev_reap(this.#h, this.#cqBuf, max, 1000);
      if (got < 0) throw new Error(`daio: reap failed: ${errnoName(-got)}`);
      const v = this.#cqView;
      for (let i = 0; i < got; i++) {
        const at = i * CQE_BYTES;
        const tag = v.getUint32(at, true);
        const res = v.getInt32(at + 12, true) * TWO32 + v.getUint32(at + 8, true);
        this.#complete(tag, res);
      }
      while (this.#backlog.length > 0 && this.#dispatch(this.#backlog[0])) this.#backlog.shift();
      if (this.#inflightTotal === 0 && this.#backlog.length === 0) {
        const ws = this.#idleWaiters;
        this.#idleWaiters = [];
        for (const w of ws) w();
      }
    }
    this.#reaping = null;
  }
}

/** Builds the error for a failed open: `path: ENOENT (No such file or directory)`. */
function errnoError(errno: number, path: string): DaioErrno {
  const code = errnoName(errno);
  const text: Record<string, string> = {
    ENOENT: "no such file or device",
    EISDIR: "is a directory, not an image file or block device",
    EACCES: "permission denied",
    EROFS: "read-only file system (open it read-only)",
    ENOTBLK: "not a regular file or block device",
    EINVAL: "O_DIRECT refused by the file system (use --direct 0 or auto)",
  };
  return new DaioErrno(errno, code, `${path}: ${code} (${text[code] ?? "open failed"})`);
}
