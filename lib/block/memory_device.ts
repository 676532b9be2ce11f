/**
 * An in-memory {@linkcode BlockDevice}: sparse, allocated in 64 KiB pages on first write, so a
 * large device costs only what was written (nbdkit's `memory` plugin is the model). Unwritten
 * ranges read as zeroes. Contents are lost on close.
 *
 * @module
 */
import { type BlockDevice, BlockError, type BlockSizes, checkRange } from "./block_device.ts";
import { DONE } from "./sync_done.ts";
import {
  type BlockExtent,
  type ExtentSource,
  pushExtent,
  STATE_HOLE,
  STATE_ZERO,
} from "./extents.ts";

const PAGE_SHIFT = 16;
const PAGE = 1 << PAGE_SHIFT;

/** Options of {@linkcode MemoryDevice}. */
export interface MemoryDeviceOptions {
  name?: string;
  readOnly?: boolean;
  blockSizes?: BlockSizes;
}

/**
 * A sparse RAM disk.
 *
 * @example
 * ```ts
 * import { MemoryDevice } from "./memory_device.ts";
 * const dev = new MemoryDevice(1 << 20);
 * await dev.write(4096, new Uint8Array(512).fill(7));
 * const buf = new Uint8Array(512);
 * await dev.read(4096, buf); // buf is all 7s
 * ```
 */
export class MemoryDevice implements BlockDevice, ExtentSource {
  readonly name: string;
  readonly readOnly: boolean;
  readonly blockSizes: BlockSizes;
  #pages = new Map<number, Uint8Array>();
  #closed = false;

  constructor(readonly size: number, opts: MemoryDeviceOptions = {}) {
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new BlockError("EINVAL", `memory device: bad size ${size}`);
    }
    this.name = opts.name ?? "memory";
    this.readOnly = opts.readOnly ?? false;
    this.blockSizes = opts.blockSizes ?? { minimum: 1, preferred: 4096, maximum: 32 << 20 };
  }

  /** Bytes of RAM held by written pages. */
  get allocated(): number {
    return this.#pages.size * PAGE;
  }

  #check(offset: number, length: number, write: boolean): void {
    if (this.#closed) throw new BlockError("ESHUTDOWN", `${this.name}: closed`);
    if (write && this.readOnly) throw new BlockError("EPERM", `${this.name}: read-only`);
    checkRange(this, offset, length);
  }

  /** Reads `buf.length` bytes at `offset`; holes read as zeroes. Completes at once (DONE). */
  read(offset: number, buf: Uint8Array): Promise<void> {
    try {
      this.#check(offset, buf.length, false);
    } catch (e) {
      return Promise.reject(e);
    }
    let done = 0;
    while (done < buf.length) {
      const pos = offset + done;
      const idx = Math.floor(pos / PAGE);
      const inPage = pos - idx * PAGE;
      const n = Math.min(PAGE - inPage, buf.length - done);
      const page = this.#pages.get(idx);
      if (page) buf.set(page.subarray(inPage, inPage + n), done);
      else buf.fill(0, done, done + n);
      done += n;
    }
    return DONE;
  }

  #put(offset: number, data: Uint8Array | null, length: number): void {
    let done = 0;
    while (done < length) {
      const pos = offset + done;
      const idx = Math.floor(pos / PAGE);
      const inPage = pos - idx * PAGE;
      const n = Math.min(PAGE - inPage, length - done);
      let page = this.#pages.get(idx);
      if (data === null) {
        if (page) {
          if (n === PAGE) this.#pages.delete(idx);
          else page.fill(0, inPage, inPage + n);
        }
      } else {
        if (!page) this.#pages.set(idx, page = new Uint8Array(PAGE));
        page.set(data.subarray(done, done + n), inPage);
      }
      done += n;
    }
  }

  /** Writes `data` at `offset`. */
  // deno-lint-ignore require-await
  async write(offset: number, data: Uint8Array): Promise<void> {
    this.#check(offset, data.length, true);
    this.#put(offset, data, data.length);
  }

  /** Nothing to do: memory is as durable as it gets. */
  flush(): Promise<void> {
    if (this.#closed) return Promise.reject(new BlockError("ESHUTDOWN", `${this.name}: closed`));
    return Promise.resolve();
  }

  /** Frees whole pages in the range and zeroes partial ones (reads return zeroes after). */
  // deno-lint-ignore require-await
  async trim(offset: number, length: number): Promise<void> {
    this.#check(offset, length, true);
    this.#put(offset, null, length);
  }

  /** Writes zeroes (frees whole pages). */
  // deno-lint-ignore require-await
  async zero(offset: number, length: number): Promise<void> {
    this.#check(offset, length, true);
    this.#put(offset, null, length);
  }

  /** Pages never written (or wholly trimmed or zeroed) are holes that read as zeroes. */
  // deno-lint-ignore require-await
  async extents(offset: number, length: number): Promise<BlockExtent[]> {
    this.#check(offset, length, false);
    const out: BlockExtent[] = [];
    let done = 0;
    while (done < length) {
      const pos = offset + done;
      const idx = Math.floor(pos / PAGE);
      const n = Math.min(PAGE - (pos - idx * PAGE), length - done);
      pushExtent(out, n, this.#pages.has(idx) ? 0 : STATE_HOLE | STATE_ZERO);
      done += n;
    }
    return out;
  }

  /** Drops the contents. */
  close(): Promise<void> {
    this.#closed = true;
    this.#pages.clear();
    return Promise.resolve();
  }
}
