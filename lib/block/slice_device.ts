/**
 * A window of another device: `[base, base + size)` seen as a device of its own, with its own
 * name and read-only flag. How each export of a shared cache is carved out of the one address
 * space (lib/block/concat_device.ts): FLUSH is scoped to the window, so it writes back and
 * flushes only this export's data; a write to a read-only window is refused here, before it
 * can reach the shared cache.
 *
 * @module
 */
import {
  type BlockDevice,
  BlockError,
  type BlockSizes,
  checkRange,
  type WriteFlags,
  type ZeroFlags,
} from "./block_device.ts";
import { type BlockExtent, extentsOf, type ExtentSource } from "./extents.ts";
import { flushRangeOf } from "./concat_device.ts";
import { type HitSource, isHitSource } from "./hit_source.ts";

/** Options of {@linkcode SliceDevice}. */
export interface SliceOptions {
  name: string;
  base: number;
  size: number;
  readOnly?: boolean;
}

/**
 * A window of a device.
 *
 * @example
 * ```ts
 * import { MemoryDevice } from "./memory_device.ts";
 * import { SliceDevice } from "./slice_device.ts";
 * const whole = new MemoryDevice(1 << 21);
 * const vm2 = new SliceDevice(whole, { name: "vm2", base: 1 << 20, size: 1 << 20 });
 * await vm2.write(0, new Uint8Array(512).fill(1)); // lands at byte 1 MiB of `whole`
 * ```
 */
export class SliceDevice implements BlockDevice, ExtentSource, HitSource {
  readonly name: string;
  readonly size: number;
  readonly readOnly: boolean;
  readonly base: number;

  constructor(readonly inner: BlockDevice, o: SliceOptions) {
    if (o.base < 0 || o.size < 0 || o.base + o.size > inner.size) {
      throw new BlockError("EINVAL", `${o.name}: window ${o.base}+${o.size} outside ${inner.name}`);
    }
    this.name = o.name;
    this.base = o.base;
    this.size = o.size;
    this.readOnly = (o.readOnly ?? false) || inner.readOnly;
  }

  get blockSizes(): BlockSizes {
    return this.inner.blockSizes;
  }

  /** The device below's answer for the request issued last (a shared cache's hit flag). */
  get lastHit(): boolean | undefined {
    return isHitSource(this.inner) ? this.inner.lastHit : undefined;
  }

  #check(offset: number, length: number, write: boolean): void {
    if (write && this.readOnly) throw new BlockError("EPERM", `${this.name}: read-only`);
    checkRange(this, offset, length);
  }

  /** Checks the request, then passes it down at `base + offset`; a bad one is a rejection. */
  #pass<T>(
    offset: number,
    length: number,
    write: boolean,
    io: (at: number) => Promise<T>,
  ): Promise<T> {
    try {
      this.#check(offset, length, write);
    } catch (e) {
      return Promise.reject(e);
    }
    return io(this.base + offset);
  }

  read(offset: number, buf: Uint8Array): Promise<void> {
    return this.#pass(offset, buf.length, false, (at) => this.inner.read(at, buf));
  }
  write(offset: number, data: Uint8Array, flags?: WriteFlags): Promise<void> {
    return this.#pass(offset, data.length, true, (at) => this.inner.write(at, data, flags));
  }
  trim(offset: number, length: number, flags?: WriteFlags): Promise<void> {
    return this.#pass(offset, length, true, (at) => this.inner.trim(at, length, flags));
  }
  zero(offset: number, length: number, flags?: ZeroFlags): Promise<void> {
    return this.#pass(offset, length, true, (at) => this.inner.zero(at, length, flags));
  }
  /** Writes back and flushes this window only. */
  flush(): Promise<void> {
    return flushRangeOf(this.inner, this.base, Math.max(this.size, 1));
  }
  extents(offset: number, length: number): Promise<BlockExtent[]> {
    return this.#pass(offset, length, false, (at) => extentsOf(this.inner, at, length));
  }
  /** A window does not own the device below: whoever built the stack closes it once. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
