/**
 * The async bridge to the native daio device engine (native/daio_dev.c): many concurrent callers
 * await I/O with one short synchronous FFI call per request (its submit), which also takes the
 * completions that system call made visible.
 * Completions are read straight from the io_uring CQ rings, which this side sees as memory (no
 * FFI call). To wait, the bridge awaits a Unix socket with Deno's own async I/O: the engine links
 * every request to a one-byte send on it, so the kernel wakes the JS thread itself when a request
 * completes, with no helper thread in between (the task work that posts the completion runs on
 * the submitting thread, the JS thread, and sends the byte there). Where the socket cannot be
 * made (no permission), a nonblocking FFI wait on the engine's eventfd does the waiting (one
 * thread hop per wait). Data moves through a pool of aligned buffers the engine owns (registered
 * with io_uring as fixed buffers) that this side sees as one ArrayBuffer.
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
const EBUSY = 16;
const TWO32 = 2 ** 32;

/** One ring's completion queue, mapped: the kernel advances tail, this side advances head. */
interface CqRing {
  head: Uint32Array;
  tail: Uint32Array;
  cqes: DataView;
  mask: number;
  cqeBytes: number;
}

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
  /** The ring features this engine runs with (DAIO_FEAT_* names: "coop_taskrun", ...). */
  features: string[];
  /** NVMe passthrough on a /dev/ngXnY (io_uring_cmd). */
  nvme: boolean;
}

/** The engine's ring set-up features (native/daio.h DAIO_FEAT_*), by bit. */
export const DAIO_FEATURES = [
  "sqpoll",
  "coop_taskrun",
  "defer_taskrun",
  "iopoll",
  "fixed_files",
  "fixed_buffers",
  "nvme_passthrough",
  "min_wait",
  "registered_ring",
  "huge_buffers",
] as const;

/** The names of the feature bits set in `bits`. */
export function featureNames(bits: number): string[] {
  return DAIO_FEATURES.filter((_, i) => (bits & (1 << i)) !== 0);
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
  /**
   * How completions wake the JS thread: "socket" (default; a linked one-byte send on a Unix
   * socket Deno awaits, falling back to "ffi" where no socket can be made) or "ffi" (a
   * nonblocking FFI wait on the engine's eventfd: one helper-thread hop per wait).
   */
  wakeup?: "socket" | "ffi";
}

/** A failed open or I/O, carrying the errno number and its name. */
export class DaioErrno extends Error {
  override name = "DaioErrno";
  constructor(readonly errno: number, readonly code: string, message: string) {
    super(message);
  }
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
  /** How often the engine refused for want of ring space (requests requeued) and left SQEs queued. */
  readonly faults = { requeued: 0, kicked: 0 };

  #h: number;
  #nvme: boolean;
  #closed = false;
  #reqBuf: Uint8Array<ArrayBuffer>;
  #reqView: DataView;
  #reqCount = 0;
  #cqs: CqRing[] = [];
  #notify: Deno.UnixConn | null = null;
  #notifyReady: Promise<Deno.UnixConn | null> | null = null;
  #notifyBuf = new Uint8Array(65536);
  /** The notification read in progress, and how the ticker ends a wait on it. */
  #read: Promise<number | null> | null = null;
  #tickWake: (() => void) | null = null;
  /** Per tag: the waiting caller's resolve and its queue (parallel arrays: no object a request). */
  #pendingResolve: (((res: number) => void) | undefined)[];
  #pendingQueue: Int32Array;
  /** Per tag: the request's length (NVMe passthrough completes a transfer with 0, not bytes). */
  #pendingLen: Float64Array;
  #freeTags: number[];
  #inflight: number[];
  #inflightTotal = 0;
  #backlog: Waiting[] = [];
  #freeSlots: number[];
  #slotWaiters: ((slot: number) => void)[] = [];
  #reaping: Promise<void> | null = null;
  /** Set while the engine refuses requests for want of ring space (EBUSY); cleared by completions. */
  #busy = false;
  #idleWaiters: (() => void)[] = [];

  private constructor(h: number, info: DaioEngineInfo, opts: DaioEngineOptions) {
    this.#h = h;
    this.#nvme = info.nvme;
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
    for (let q = 0; q < opts.queues; q++) this.#cqs.push(mapCq(h, q));
    this.#pendingResolve = new Array(tags).fill(undefined);
    this.#pendingQueue = new Int32Array(tags);
    this.#pendingLen = new Float64Array(tags);
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
    const infoBuf = new BigUint64Array(9);
    const h = native().daio_dev_open(
      new TextEncoder().encode(path + "\0"),
      flags,
      opts.queues,
      opts.queueDepth,
      BigInt(poolBytes),
      new Uint8Array(infoBuf.buffer),
    );
    if (h < 0) throw errnoError(-h, path);
    let eng: DaioEngine;
    try {
      eng = new DaioEngine(h, infoOf(infoBuf), opts);
    } catch (e) {
      native().daio_dev_close(h);
      throw e;
    }
    if (opts.wakeup !== "ffi") eng.#connectNotify();
    return eng;
  }

  /** How completions wake this side: a notification socket, or the FFI wait fallback. */
  get wakeup(): "socket" | "ffi" {
    return this.#notifyReady ? "socket" : "ffi";
  }

  /**
   * Makes the notification socket: listens on a fresh Unix socket path, has the engine connect to
   * it (from then on every request carries a linked one-byte send), accepts, and removes the path.
   * Any failure (no permission for a socket) leaves the FFI wait in charge.
   */
  #connectNotify(): void {
    let dir: string | undefined;
    let listener: Deno.UnixListener | undefined;
    try {
      dir = Deno.makeTempDirSync({ prefix: "daio-notify-" });
      const path = `${dir}/n.sock`;
      listener = Deno.listen({ transport: "unix", path });
      const rc = native().daio_dev_notify(this.#h, new TextEncoder().encode(path + "\0"));
      if (rc < 0) throw new Error(errnoName(-rc));
      const l = listener;
      const d = dir;
      this.#notifyReady = l.accept().then((c) => {
        this.#notify = c;
        return c;
      }).finally(() => {
        l.close();
        Deno.remove(d, { recursive: true }).catch(() => {});
      });
    } catch {
      listener?.close();
      if (dir) Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }

  /** The pool offset of a slot. */
  slotOffset(slot: number): number {
    return slot * this.slotSize;
  }

  /** Takes a free pool slot at once, or returns -1 when all are in use. */
  trySlot(): number {
    return this.#freeSlots.pop() ?? -1;
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
      if (!this.#dispatch(op, off, len, bufOff, flags, fd, resolve)) {
        this.#backlog.push({ op, off, len, bufOff, flags, fd, resolve });
      }
    });
  }

  /**
   * Test-only fault injection (off by default): every `prepEvery`-th request is refused as invalid
   * (it fails with EINVAL, alone), and every `submitEvery`-th ring submission the kernel takes
   * only half of what is queued while every `submitEvery`-th request finds its ring full. 0 = off.
   */
  injectFaults(prepEvery: number, submitEvery: number): void {
    const rc = native().daio_dev_inject(this.#h, prepEvery, submitEvery);
    if (rc < 0) throw new Error(`daio: inject: ${errnoName(-rc)}`);
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
    const conn = this.#notifyReady ? await this.#notifyReady.catch(() => null) : null;
    try {
      conn?.close();
    } catch { /* already closed */ }
    native().daio_dev_close(this.#h);
  }

  /** Puts a request in the next batch if its queue has room. */
  #dispatch(
    op: number,
    off: number,
    len: number,
    bufOff: number,
    flags: number,
    fd: number,
    resolve: (res: number) => void,
  ): boolean {
    if (this.#busy) return false;
    // The least loaded queue; ties go to the lowest index.
    let q = 0;
    for (let i = 1; i < this.queues; i++) if (this.#inflight[i] < this.#inflight[q]) q = i;
    if (this.#inflight[q] >= this.queueDepth) return false;
    const tag = this.#freeTags.pop()!;
    this.#pendingResolve[tag] = resolve;
    this.#pendingQueue[tag] = q;
    this.#pendingLen[tag] = op === DaioOp.read || op === DaioOp.write ? len : 0;
    this.#inflight[q]++;
    this.#inflightTotal++;
    const v = this.#reqView;
    const at = this.#reqCount * REQ_BYTES;
    v.setUint32(at, tag, true);
    v.setUint32(at + 4, 0, true);
    v.setUint32(at + 8, off % TWO32, true);
    v.setUint32(at + 12, Math.floor(off / TWO32), true);
    v.setUint32(at + 16, len % TWO32, true);
    v.setUint32(at + 20, Math.floor(len / TWO32), true);
    v.setUint32(at + 24, bufOff, true);
    v.setUint8(at + 28, op);
    v.setUint8(at + 29, flags);
    v.setUint8(at + 30, fd);
    v.setUint8(at + 31, q);
    this.#reqCount++;
    if (!this.#reaping) this.#reaping = this.#reapLoop();
    // Submitted at once, not batched to the end of the microtask turn: when a batch of completions
    // wakes 32 callers, the device gets the first new request while JS still runs the other 31
    // (alternating A/B at QD32: bridge/C 0.73 -> 0.79, p50 -10..-25%).
    this.#flush();
    return true;
  }

  #dispatchWaiting(w: Waiting): boolean {
    return this.#dispatch(w.op, w.off, w.len, w.bufOff, w.flags, w.fd, w.resolve);
  }

  #flush(): void {
    const n = this.#reqCount;
    if (n === 0) return;
    this.#reqCount = 0;
    const v = this.#reqView;
    // The engine takes a prefix of the batch; every request it took completes exactly once with
    // its tag, and one it did not take has nothing on the ring, so only then is its tag freed here.
    let i = 0;
    while (i < n) {
      const batch = i === 0 ? this.#reqBuf : this.#reqBuf.subarray(i * REQ_BYTES);
      const rc = native().daio_dev_submit(this.#h, batch, n - i);
      if (rc > 0) {
        i += rc;
        continue;
      }
      if (rc === -EBUSY) {
        // Its ring is full for now: the rest go back to the front of the backlog, in order, and
        // are dispatched again after the next completion (or shortly, when none is in flight).
        this.#busy = true;
        this.faults.requeued += n - i;
        for (let j = n - 1; j >= i; j--) this.#backlog.unshift(this.#takeBack(j));
        if (this.#inflightTotal === 0) setTimeout(() => this.#unbusy(), 1);
        break;
      }
      // Refused for itself (EINVAL: bad op or range) or the engine is gone: it fails alone.
      this.#complete(v.getUint32(i * REQ_BYTES, true), rc < 0 ? rc : -5 /* EIO */);
      i++;
    }
    // The submit's system call ran this thread's pending task work: completions it posted are
    // taken now, without waiting for their wakeup.
    if (this.#drain() > 0) this.#settle();
  }

  /** Undoes the dispatch of batch entry `j` (never on a ring): frees its tag, returns the request. */
  #takeBack(j: number): Waiting {
    const v = this.#reqView;
    const at = j * REQ_BYTES;
    const tag = v.getUint32(at, true);
    const resolve = this.#pendingResolve[tag]!;
    this.#pendingResolve[tag] = undefined;
    this.#freeTags.push(tag);
    this.#inflight[this.#pendingQueue[tag]]--;
    this.#inflightTotal--;
    return {
      off: v.getUint32(at + 8, true) + v.getUint32(at + 12, true) * TWO32,
      len: v.getUint32(at + 16, true) + v.getUint32(at + 20, true) * TWO32,
      bufOff: v.getUint32(at + 24, true),
      op: v.getUint8(at + 28),
      flags: v.getUint8(at + 29),
      fd: v.getUint8(at + 30),
      resolve,
    };
  }

  #unbusy(): void {
    this.#busy = false;
    this.#settle();
  }

  /** After completions: dispatches the backlog, and wakes idle() waiters when nothing is left. */
  #settle(): void {
    // Taken off before dispatching: a dispatch submits, may complete inline and settle again.
    while (this.#backlog.length > 0) {
      const w = this.#backlog.shift()!;
      if (!this.#dispatchWaiting(w)) {
        this.#backlog.unshift(w);
        break;
      }
    }
    if (this.#inflightTotal === 0 && this.#backlog.length === 0) {
      const ws = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const w of ws) w();
    }
  }

  #complete(tag: number, res: number): void {
    const resolve = this.#pendingResolve[tag];
    if (resolve === undefined) return;
    this.#pendingResolve[tag] = undefined;
    this.#freeTags.push(tag);
    this.#inflight[this.#pendingQueue[tag]]--;
    this.#inflightTotal--;
    resolve(res);
  }

  #cqsNonEmpty(): boolean {
    for (const cq of this.#cqs) if (cq.head[0] !== Atomics.load(cq.tail, 0)) return true;
    return false;
  }

  /** Completes everything the CQ rings hold; returns how many. */
  #drain(): number {
    let n = 0;
    for (const cq of this.#cqs) {
      let head = cq.head[0];
      const tail = Atomics.load(cq.tail, 0);
      if (head === tail) continue;
      const v = cq.cqes;
      while (head !== tail) {
        const at = (head & cq.mask) * cq.cqeBytes;
        // user_data's low word is the tag (the notification sends' all-ones tag matches nothing).
        const tag = v.getUint32(at, true);
        let res = v.getInt32(at + 8, true);
        // An NVMe command ends with 0 or an NVMe status (> 0): the whole transfer, or EIO.
        if (this.#nvme && res >= 0 && tag < this.#pendingLen.length) {
          res = res === 0 ? this.#pendingLen[tag] : -5;
        }
        this.#complete(tag, res);
        head = (head + 1) >>> 0;
        n++;
      }
      Atomics.store(cq.head, 0, head);
    }
    if (n > 0) this.#busy = false;
    return n;
  }

  /** Waits until a completion may be ready. */
  async #wait(): Promise<void> {
    // SQEs a submit left queued (the kernel took only part, or refused for the moment) are handed
    // over first; while some stay queued, nothing may complete to wake us: look again shortly.
    const left = native().daio_dev_kick(this.#h);
    if (left > 0) {
      this.faults.kicked++;
      await new Promise((r) => setTimeout(r, 1));
      return;
    }
    if (this.#notifyReady) {
      const conn = this.#notify ?? await this.#notifyReady.catch(() => null);
      if (conn) {
        // One read takes every pending notification byte (some may be for completions the last
        // drain already took: the next drain then finds nothing and we come back here). The read
        // outlives a wait the ticker ends, so two reads never overlap.
        this.#read ??= conn.read(this.#notifyBuf).then(
          (n) => (this.#read = null, n),
          () => (this.#read = null, null),
        );
        const got = await Promise.race([
          this.#read,
          new Promise<"tick">((r) => this.#tickWake = () => r("tick")),
        ]);
        this.#tickWake = null;
        if (got !== null) return;
      }
      // The socket is gone: fall back to the FFI wait. Requests already linked to a send that
      // fails complete normally; the send's error completion is ignored.
      this.#notifyReady = null;
      this.#notify = null;
    }
    const rc = await native().daio_dev_wait(this.#h, 1000);
    if (rc < 0) throw new Error(`daio: wait failed: ${errnoName(-rc)}`);
  }

  /**
   * While requests are in flight a ticker hands the kernel, every 10 ms, SQEs a partial submit
   * left queued after the reaper began to wait (nothing else would: the wait is for completions,
   * and a request still in the SQ never completes), and ends a socket wait when completions are
   * waiting in a CQ. Seen with the fault injection under load: one request left in the SQ, the
   * rest requeued, the reaper asleep for good.
   */
  async #reapLoop(): Promise<void> {
    const tick = setInterval(() => {
      const left = native().daio_dev_kick(this.#h);
      if (this.#tickWake !== null && (left > 0 || this.#cqsNonEmpty())) this.#tickWake();
    }, 10);
    try {
      await this.#reapLoopInner();
    } finally {
      clearInterval(tick);
    }
  }

  async #reapLoopInner(): Promise<void> {
    while (this.#inflightTotal > 0 && !this.#closed) {
      if (this.#drain() === 0) {
        await this.#wait();
        continue;
      }
      this.#settle();
      // Let the callers just completed run (and submit more) before looking again.
      await null;
    }
    this.#reaping = null;
    this.#settle();
  }
}

/** Maps ring q's completion queue. */
function mapCq(h: number, q: number): CqRing {
  const out = new BigUint64Array(6);
  const rc = native().daio_dev_cq(h, q, new Uint8Array(out.buffer));
  if (rc < 0) throw new Error(`daio: cannot map completion queue ${q}: ${errnoName(-rc)}`);
  const view = (addr: bigint, bytes: number) => {
    const ptr = Deno.UnsafePointer.create(addr);
    if (ptr === null) throw new Error(`daio: completion queue ${q} has a null pointer`);
    return Deno.UnsafePointerView.getArrayBuffer(ptr, bytes);
  };
  const entries = Number(out[4]);
  const cqeBytes = Number(out[5]);
  return {
    head: new Uint32Array(view(out[0], 4)),
    tail: new Uint32Array(view(out[1], 4)),
    cqes: new DataView(view(out[2], entries * cqeBytes)),
    mask: Number(out[3]),
    cqeBytes,
  };
}

/** Reads daio_dev_open's info_out. */
function infoOf(infoBuf: BigUint64Array): DaioEngineInfo {
  return {
    size: Number(infoBuf[0]),
    align: Number(infoBuf[1]),
    direct: infoBuf[2] === 1n,
    poolBytes: Number(infoBuf[3]),
    registeredBuffers: infoBuf[4] === 1n,
    blockDevice: infoBuf[5] === 1n,
    directRefused: infoBuf[6] !== 0n ? errnoName(Number(infoBuf[6])) : null,
    features: featureNames(Number(infoBuf[7])),
    nvme: infoBuf[8] === 1n,
  };
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
