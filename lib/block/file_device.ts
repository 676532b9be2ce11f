/**
 * The daio-engine-backed {@linkcode BlockDevice} for an image file or a block device: the bottom
 * of every hvkit export. Any offset and length works, also with O_DIRECT: requests are cut into
 * aligned pieces that go through the engine's aligned buffer pool, and a piece that covers an
 * aligned block only in part is read, modified and written back. Such a read-modify-write holds
 * the blocks it touches, so two writes that share a block but not bytes never lose each other's
 * data. The last partial block of a file whose size is not aligned is served by a buffered twin
 * descriptor, so a direct write never grows the file.
 *
 * @module
 */
import {
  type BlockDevice,
  type BlockErrno,
  BlockError,
  type BlockSizes,
  checkRange,
  type WriteFlags,
  type ZeroFlags,
} from "./block_device.ts";
import { DaioEngine, DaioErrno, DaioFd, DaioOp, Falloc } from "./daio_engine.ts";
import { errnoName } from "../ffi/errno.ts";

/** Options of {@linkcode openFileDevice}. */
export interface FileDeviceOptions {
  /** Open read-only (writes fail with EPERM). Default false. */
  readOnly?: boolean;
  /** O_DIRECT: true (fail if refused), false, or "auto" (fall back to buffered). Default "auto". */
  direct?: boolean | "auto";
  /** io_uring instances (queues). Default 1. */
  queues?: number;
  /** Requests in flight per queue. Default 64. */
  queueDepth?: number;
  /** Bytes per buffer-pool slot, the largest single engine request. Default 256 KiB. */
  slotSize?: number;
  /** Register the pool and file with io_uring (fixed buffers/files). Default true. */
  register?: boolean;
  /** Kernel-side submission polling (IORING_SETUP_SQPOLL). Default false. */
  sqpoll?: boolean;
  /**
   * How completions wake the JS thread: "socket" (default: the kernel makes a Unix socket
   * readable, no helper thread; falls back to "ffi" where no socket can be made) or "ffi" (a
   * nonblocking FFI wait, one thread hop per wait).
   */
  wakeup?: "socket" | "ffi";
}

/** A failed open, with the real errno name (`ENOENT`, `EISDIR`, ...) beside the NBD-level code. */
export class FileDeviceError extends BlockError {
  override name = "FileDeviceError";
  constructor(code: BlockErrno, readonly errno: string, message: string) {
    super(code, message);
  }
}

/** The NBD-carriable errno for a kernel errno name. */
export function blockErrnoOf(name: string): BlockErrno {
  switch (name) {
    case "EPERM":
    case "EACCES":
    case "EROFS":
      return "EPERM";
    case "ENOSPC":
    case "EDQUOT":
    case "EFBIG":
      return "ENOSPC";
    case "ENOMEM":
      return "ENOMEM";
    case "EINVAL":
      return "EINVAL";
    case "EOVERFLOW":
      return "EOVERFLOW";
    case "EOPNOTSUPP":
    case "ENOTSUP":
      return "ENOTSUP";
    case "ESHUTDOWN":
      return "ESHUTDOWN";
    default:
      return "EIO";
  }
}

/** One write (or zeroing) piece in flight, for read-modify-write exclusion. */
interface Span {
  start: number;
  end: number;
  rmw: boolean;
  done: Promise<void>;
}

/** The engine-backed device; made by {@linkcode openFileDevice}. */
export class FileDevice implements BlockDevice {
  readonly name: string;
  readonly size: number;
  readonly readOnly: boolean;
  readonly blockSizes: BlockSizes;
  /** Whether O_DIRECT is in use. */
  readonly direct: boolean;
  /** Why O_DIRECT is not in use although "auto" asked for it (an errno name), else null. */
  readonly directRefused: string | null;
  /** The alignment O_DIRECT needs (1 when buffered). */
  readonly align: number;
  readonly #eng: DaioEngine;
  /** End of the part of the file reachable with aligned direct I/O. */
  readonly #alignedEnd: number;
  readonly #spans = new Set<Span>();
  #closing = false;

  constructor(path: string, eng: DaioEngine, readOnly: boolean) {
    this.#eng = eng;
    this.name = path.split("/").filter(Boolean).pop() ?? path;
    this.size = eng.info.size;
    this.readOnly = readOnly;
    this.direct = eng.info.direct;
    this.directRefused = eng.info.directRefused;
    this.align = eng.info.align;
    this.#alignedEnd = Math.floor(this.size / this.align) * this.align;
    this.blockSizes = {
      minimum: 1,
      preferred: Math.max(this.align, 4096),
      maximum: 32 * 1024 * 1024,
    };
  }

  /** Statistics-free view of the engine (for diagnostics and benchmarks). */
  get engine(): DaioEngine {
    return this.#eng;
  }

  read(offset: number, buf: Uint8Array): Promise<void> {
    // The hot path (what an NBD server mostly sends): a range inside the directly reachable part
    // that fits one slot, with a slot free: one engine request, one async frame.
    const len = buf.length;
    const end = offset + len;
    if (len > 0 && offset >= 0 && end <= this.#alignedEnd && Number.isSafeInteger(end)) {
      const a0 = offset - offset % this.align;
      const r = end % this.align;
      const a1 = r === 0 ? end : end + this.align - r;
      if (a1 - a0 <= this.#eng.slotSize && !this.#closing) {
        const slot = this.#eng.trySlot();
        if (slot >= 0) return this.#readOne(a0, a1, offset, buf, slot);
      }
    }
    return this.#readAny(offset, buf);
  }

  async #readOne(a0: number, a1: number, offset: number, buf: Uint8Array, slot: number) {
    const eng = this.#eng;
    try {
      const base = eng.slotOffset(slot);
      const rc = await eng.submit(DaioOp.read, a0, a1 - a0, base, 0, DaioFd.main);
      // A short or failed transfer goes the careful way (resubmits the rest, maps the error).
      if (rc !== a1 - a0) {
        if (rc < 0) throw this.#ioError("read", rc, a0, a1 - a0);
        await this.#transfer(DaioOp.read, DaioFd.main, a0 + rc, a1 - a0 - rc, base, rc);
      }
      const at = base + offset - a0;
      buf.set(eng.pool.subarray(at, at + buf.length));
    } finally {
      eng.releaseSlot(slot);
    }
  }

  async #readAny(offset: number, buf: Uint8Array): Promise<void> {
    this.#live();
    checkRange(this, offset, buf.length);
    const end = offset + buf.length;
    const jobs: Promise<void>[] = [];
    const directEnd = Math.min(end, this.#alignedEnd);
    if (offset < directEnd) {
      const a0 = this.#down(offset);
      const a1 = this.#up(directEnd);
      for (let c0 = a0; c0 < a1; c0 += this.#eng.slotSize) {
        const c1 = Math.min(c0 + this.#eng.slotSize, a1);
        jobs.push(this.#readPiece(c0, c1, offset, directEnd, buf, DaioFd.main));
      }
    }
    const tail = Math.max(offset, this.#alignedEnd);
    if (tail < end) {
      for (let c0 = tail; c0 < end; c0 += this.#eng.slotSize) {
        const c1 = Math.min(c0 + this.#eng.slotSize, end);
        jobs.push(this.#readPiece(c0, c1, c0, c1, buf, DaioFd.buffered, offset));
      }
    }
    await all(jobs);
  }

  async write(offset: number, data: Uint8Array, flags?: WriteFlags): Promise<void> {
    this.#writable();
    checkRange(this, offset, data.length);
    await this.#writeRange(offset, data, flags?.fua === true);
  }

  async flush(): Promise<void> {
    this.#live();
    if (this.readOnly) return;
    const rc = await this.#eng.submit(DaioOp.fsync, 0, 0, 0, 0, DaioFd.main);
    if (rc < 0) throw this.#ioError("flush", rc, 0, 0);
  }

  async trim(offset: number, length: number, flags?: WriteFlags): Promise<void> {
    this.#writable();
    checkRange(this, offset, length);
    // A hint: only whole aligned blocks are punched, partial edges keep their data.
    const a0 = this.#up(offset);
    const a1 = this.#down(offset + length);
    if (a0 < a1) {
      const rc = await this.#fallocate(Falloc.punchHole | Falloc.keepSize, a0, a1);
      if (rc < 0 && !isUnsupported(rc)) throw this.#ioError("trim", rc, offset, length);
    }
    if (flags?.fua) await this.flush();
  }

  async zero(offset: number, length: number, flags?: ZeroFlags): Promise<void> {
    this.#writable();
    checkRange(this, offset, length);
    if (length === 0) return;
    const end = offset + length;
    const mode = flags?.noHole
      ? Falloc.zeroRange | Falloc.keepSize
      : Falloc.punchHole | Falloc.keepSize;
    const a0 = this.#up(offset);
    const a1 = this.#down(Math.min(end, this.#alignedEnd));
    const jobs: Promise<void>[] = [];
    if (a0 < a1) {
      jobs.push((async () => {
        let rc = await this.#fallocate(mode, a0, a1);
        // Punching may be refused where zeroing is not (and vice versa on block devices).
        if (rc < 0 && isUnsupported(rc) && mode !== (Falloc.zeroRange | Falloc.keepSize)) {
          rc = await this.#fallocate(Falloc.zeroRange | Falloc.keepSize, a0, a1);
        }
        if (rc < 0 && isUnsupported(rc)) return await this.#writeZeroes(a0, a1, false);
        if (rc < 0) throw this.#ioError("zero", rc, a0, a1 - a0);
      })());
      if (offset < a0) jobs.push(this.#writeZeroes(offset, a0, false));
      if (a1 < end) jobs.push(this.#writeZeroes(a1, end, false));
    } else {
      jobs.push(this.#writeZeroes(offset, end, false));
    }
    await all(jobs);
    if (flags?.fua) await this.flush();
  }

  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    await this.#eng.idle();
    try {
      if (!this.readOnly) {
        const rc = await this.#eng.submit(DaioOp.fsync, 0, 0, 0, 0, DaioFd.main);
        if (rc < 0) throw this.#ioError("flush on close", rc, 0, 0);
      }
    } finally {
      await this.#eng.close();
    }
  }

  // ---- pieces ----

  /** Reads file range [c0, c1) through one slot and copies [u0, u1) of it into `buf`. */
  async #readPiece(
    c0: number,
    c1: number,
    u0: number,
    u1: number,
    buf: Uint8Array,
    fd: number,
    bufBase = u0,
  ): Promise<void> {
    const slot = await this.#eng.acquireSlot();
    try {
      const base = this.#eng.slotOffset(slot);
      await this.#transfer(DaioOp.read, fd, c0, c1 - c0, base, 0);
      const from = Math.max(u0, c0);
      const to = Math.min(u1, c1);
      buf.set(this.#eng.pool.subarray(base + from - c0, base + to - c0), from - bufBase);
    } finally {
      this.#eng.releaseSlot(slot);
    }
  }

  async #writeRange(offset: number, data: Uint8Array, fua: boolean): Promise<void> {
    const end = offset + data.length;
    const jobs: Promise<void>[] = [];
    const directEnd = Math.min(end, this.#alignedEnd);
    if (offset < directEnd) {
      const a0 = this.#down(offset);
      const a1 = this.#up(directEnd);
      for (let c0 = a0; c0 < a1; c0 += this.#eng.slotSize) {
        const c1 = Math.min(c0 + this.#eng.slotSize, a1);
        jobs.push(this.#writePiece(c0, c1, offset, directEnd, data, offset, fua, DaioFd.main));
      }
    }
    const tail = Math.max(offset, this.#alignedEnd);
    if (tail < end) {
      for (let c0 = tail; c0 < end; c0 += this.#eng.slotSize) {
        const c1 = Math.min(c0 + this.#eng.slotSize, end);
        jobs.push(this.#writePiece(c0, c1, c0, c1, data, offset, fua, DaioFd.buffered));
      }
    }
    await all(jobs);
  }

  /** Writes file range [c0, c1) whose bytes [u0, u1) come from `data` (at `dataBase`). */
  async #writePiece(
    c0: number,
    c1: number,
    u0: number,
    u1: number,
    data: Uint8Array,
    dataBase: number,
    fua: boolean,
    fd: number,
  ): Promise<void> {
    const from = Math.max(u0, c0);
    const to = Math.min(u1, c1);
    const headPartial = from > c0;
    const tailPartial = to < c1;
    const rmw = headPartial || tailPartial;
    const release = this.align > 1 && fd === DaioFd.main
      ? await this.#hold(c0, c1, rmw)
      : undefined;
    try {
      const slot = await this.#eng.acquireSlot();
      try {
        const base = this.#eng.slotOffset(slot);
        const a = this.align;
        if (headPartial) await this.#transfer(DaioOp.read, fd, c0, a, base, 0);
        if (tailPartial && (!headPartial || c1 - a > c0)) {
          await this.#transfer(DaioOp.read, fd, c1 - a, a, base, c1 - a - c0);
        }
        this.#eng.pool.set(data.subarray(from - dataBase, to - dataBase), base + from - c0);
        await this.#transfer(DaioOp.write, fd, c0, c1 - c0, base, 0, fua);
      } finally {
        this.#eng.releaseSlot(slot);
      }
    } finally {
      release?.();
    }
  }

  /** Writes zeroes over [start, end) through the normal write path (edges and fallbacks). */
  async #writeZeroes(start: number, end: number, fua: boolean): Promise<void> {
    const chunk = Math.min(end - start, 4 * this.#eng.slotSize);
    const zeroes = new Uint8Array(chunk);
    const jobs: Promise<void>[] = [];
    for (let at = start; at < end; at += chunk) {
      const n = Math.min(chunk, end - at);
      jobs.push(this.#writeRange(at, zeroes.subarray(0, n), fua));
    }
    await all(jobs);
  }

  async #fallocate(mode: number, start: number, end: number): Promise<number> {
    const release = this.align > 1 ? await this.#hold(start, end, false) : undefined;
    try {
      return await this.#eng.submit(DaioOp.fallocate, start, end - start, 0, mode, DaioFd.main);
    } finally {
      release?.();
    }
  }

  /**
   * Runs one read or write to completion, resubmitting the rest after a short transfer. A read
   * that meets the end of the file fills the rest with zeroes.
   */
  async #transfer(
    op: number,
    fd: number,
    off: number,
    len: number,
    base: number,
    slotAt: number,
    fua = false,
  ): Promise<void> {
    let done = 0;
    while (done < len) {
      const rc = await this.#eng.submit(
        op,
        off + done,
        len - done,
        base + slotAt + done,
        fua ? 1 : 0,
        fd,
      );
      if (rc < 0) throw this.#ioError(op === DaioOp.read ? "read" : "write", rc, off, len);
      if (rc === 0) {
        if (op === DaioOp.read) {
          this.#eng.pool.fill(0, base + slotAt + done, base + slotAt + len);
          return;
        }
        throw new BlockError("EIO", `${this.name}: write at ${off + done} made no progress`);
      }
      done += rc;
    }
  }

  /**
   * Waits until no conflicting piece is in flight and registers this one; returns its release.
   * Pieces conflict when their aligned spans overlap and either is a read-modify-write.
   */
  async #hold(start: number, end: number, rmw: boolean): Promise<() => void> {
    for (;;) {
      let conflict: Span | undefined;
      for (const s of this.#spans) {
        if (s.start < end && start < s.end && (s.rmw || rmw)) {
          conflict = s;
          break;
        }
      }
      if (!conflict) break;
      await conflict.done;
    }
    let release!: () => void;
    const done = new Promise<void>((r) => release = r);
    const span: Span = { start, end, rmw, done };
    this.#spans.add(span);
    return () => {
      this.#spans.delete(span);
      release();
    };
  }

  #down(x: number): number {
    return x - (x % this.align);
  }

  #up(x: number): number {
    const r = x % this.align;
    return r === 0 ? x : x + this.align - r;
  }

  #live(): void {
    if (this.#closing) throw new BlockError("ESHUTDOWN", `${this.name}: device is closed`);
  }

  #writable(): void {
    this.#live();
    if (this.readOnly) throw new BlockError("EPERM", `${this.name}: device is read-only`);
  }

  #ioError(what: string, rc: number, off: number, len: number): BlockError {
    const code = errnoName(-rc);
    return new BlockError(
      blockErrnoOf(code),
      `${this.name}: ${what} at ${off}+${len} failed: ${code}`,
    );
  }
}

function isUnsupported(rc: number): boolean {
  const code = errnoName(-rc);
  return code === "EOPNOTSUPP" || code === "ENOTSUP" || code === "EINVAL" || code === "ENODEV";
}

/** Awaits every job, and throws the first failure only after all settled (no stray I/O). */
async function all(jobs: Promise<void>[]): Promise<void> {
  if (jobs.length === 1) return await jobs[0];
  const results = await Promise.allSettled(jobs);
  for (const r of results) if (r.status === "rejected") throw r.reason;
}

/**
 * Opens an image file or a block device as a {@linkcode BlockDevice} on the daio engine.
 * Errors are {@linkcode FileDeviceError}s naming the errno (`ENOENT`, `EISDIR`, `EACCES`, ...).
 *
 * @example
 * ```ts
 * import { openFileDevice } from "./file_device.ts";
 * const dev = await openFileDevice("disk.img", { direct: "auto", queues: 2, queueDepth: 32 });
 * const buf = new Uint8Array(1000);
 * await dev.read(12345, buf); // any offset and length, also with O_DIRECT
 * await dev.write(777, buf, { fua: true });
 * await dev.close();
 * ```
 */
export function openFileDevice(path: string, opts: FileDeviceOptions = {}): Promise<BlockDevice> {
  return Promise.resolve(openFileDeviceSync(path, opts));
}

/** Like {@linkcode openFileDevice}, typed as the concrete {@linkcode FileDevice}. */
export function openFileDeviceSync(path: string, opts: FileDeviceOptions = {}): FileDevice {
  const readOnly = opts.readOnly ?? false;
  const queues = opts.queues ?? 1;
  const queueDepth = opts.queueDepth ?? 64;
  const slotSize = opts.slotSize ?? 256 * 1024;
  if (!Number.isInteger(queues) || queues < 1 || queues > 64) {
    throw new FileDeviceError("EINVAL", "EINVAL", `queues must be 1..64, not ${queues}`);
  }
  if (!Number.isInteger(queueDepth) || queueDepth < 1 || queueDepth > 4096) {
    throw new FileDeviceError("EINVAL", "EINVAL", `queueDepth must be 1..4096, not ${queueDepth}`);
  }
  try {
    const eng = DaioEngine.open(path, {
      readOnly,
      direct: opts.direct ?? "auto",
      queues,
      queueDepth,
      slotSize,
      register: opts.register,
      sqpoll: opts.sqpoll,
      wakeup: opts.wakeup,
    });
    return new FileDevice(path, eng, readOnly);
  } catch (e) {
    if (e instanceof DaioErrno) {
      throw new FileDeviceError(blockErrnoOf(e.code), e.code, e.message);
    }
    throw e;
  }
}
