/**
 * A file mapped read-only by the native layer (a memory image, a dump, a running VM's RAM file):
 * scanned in place, never copied, never written.
 *
 * @module
 */
import { native } from "../ffi/ffi.ts";
import { check } from "../ffi/errno.ts";

/**
 * A read-only mapping of a whole file.
 *
 * @example
 * ```ts
 * import { MappedFile } from "./mapped_file.ts";
 * const f = MappedFile.open("/tmp/guest.ram");
 * console.log(f.size, f.read(0, 16));
 * f.close();
 * ```
 */
export class MappedFile {
  private constructor(readonly handle: number, readonly path: string, readonly size: number) {}

  /** Maps `path` read-only (MAP_SHARED: a live RAM file is seen as the guest changes it). */
  static open(path: string): MappedFile {
    const size = new BigUint64Array(1);
    const h = check(native().vav_map_open(new TextEncoder().encode(path + "\0"), size), path);
    return new MappedFile(h, path, Number(size[0]));
  }

  /** Copies up to `len` bytes at `off` (fewer at the end of the file). */
  read(off: number, len: number): Uint8Array {
    const buf = new Uint8Array(len);
    const n = check(native().vav_map_read(this.handle, BigInt(off), buf, BigInt(len)), this.path);
    return buf.subarray(0, n);
  }

  /** Unmaps the file. */
  close(): void {
    native().vav_map_close(this.handle);
  }
}
