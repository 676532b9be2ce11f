/**
 * A layer that adds {@linkcode ExtentSource} to a device backed by a file: it answers where
 * the file's data and holes are with lseek(SEEK_DATA/SEEK_HOLE) on a read-only descriptor of
 * its own (native/nbd_extents.c), as nbdkit's file plugin and qemu-nbd do, and passes every
 * request to the device it wraps unchanged. Holes are reported as hole and zero.
 *
 * @module
 */
import type { BlockDevice, BlockSizes, WriteFlags, ZeroFlags } from "./block_device.ts";
import { BlockError } from "./block_device.ts";
import {
  type BlockExtent,
  type ExtentSource,
  pushExtent,
  STATE_HOLE,
  STATE_ZERO,
} from "./extents.ts";
import { native } from "../ffi/ffi.ts";
import { errnoName } from "../ffi/errno.ts";

/** Most extents one query returns (the client asks again from where the answer ended). */
const MAX_EXTENTS = 1024;

/**
 * A file-backed device with its holes known.
 *
 * @example
 * ```ts
 * import { FileExtentsLayer } from "./file_extents.ts";
 * import { openFileDevice } from "./file_device.ts";
 * const dev = new FileExtentsLayer(await openFileDevice("disk.img"), "disk.img");
 * console.log(await dev.extents(0, dev.size));
 * await dev.close();
 * ```
 */
export class FileExtentsLayer implements BlockDevice, ExtentSource {
  readonly name: string;
  readonly size: number;
  readonly readOnly: boolean;
  readonly blockSizes: BlockSizes;
  #fd: number;
  #out = new BigUint64Array(2 * MAX_EXTENTS);

  /** Wraps `inner`, which must be backed by the file at `path`. */
  constructor(private readonly inner: BlockDevice, path: string) {
    this.name = inner.name;
    this.size = inner.size;
    this.readOnly = inner.readOnly;
    this.blockSizes = inner.blockSizes;
    const fd = native().hv_nbd_extents_open(new TextEncoder().encode(path + "\0"));
    if (fd < 0) throw new BlockError("EIO", `${path}: ${errnoName(-fd)}`);
    this.#fd = fd;
  }

  /** Data and holes of [offset, offset+length) (holes read as zeroes). */
  // deno-lint-ignore require-await
  async extents(offset: number, length: number): Promise<BlockExtent[]> {
    if (this.#fd < 0) throw new BlockError("ESHUTDOWN", `${this.name}: closed`);
    const n = native().hv_nbd_extents(
      this.#fd,
      BigInt(offset),
      BigInt(length),
      this.#out,
      MAX_EXTENTS,
    );
    if (n < 0) throw new BlockError("EIO", `${this.name}: block status: ${errnoName(-n)}`);
    const out: BlockExtent[] = [];
    for (let i = 0; i < n; i++) {
      const hole = this.#out[2 * i + 1] !== 0n;
      pushExtent(out, Number(this.#out[2 * i]), hole ? STATE_HOLE | STATE_ZERO : 0);
    }
    return out;
  }

  read(offset: number, buf: Uint8Array): Promise<void> {
    return this.inner.read(offset, buf);
  }
  write(offset: number, data: Uint8Array, flags?: WriteFlags): Promise<void> {
    return this.inner.write(offset, data, flags);
  }
  flush(): Promise<void> {
    return this.inner.flush();
  }
  trim(offset: number, length: number, flags?: WriteFlags): Promise<void> {
    return this.inner.trim(offset, length, flags);
  }
  zero(offset: number, length: number, flags?: ZeroFlags): Promise<void> {
    return this.inner.zero(offset, length, flags);
  }

  /** Closes the device below and the extent descriptor. */
  async close(): Promise<void> {
    try {
      await this.inner.close();
    } finally {
      if (this.#fd >= 0) native().hv_nbd_extents_close(this.#fd);
      this.#fd = -1;
    }
  }
}
