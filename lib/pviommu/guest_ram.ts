/**
 * Guest RAM for checked DMA: a memory file mapped shared (QEMU's
 * `-object memory-backend-file,share=on,mem-path=FILE`), so DMA copies reach the running
 * guest; or plain process memory for tests and benchmarks.
 *
 * @module
 */
import { check } from "../ffi/errno.ts";
import { native } from "../ffi/ffi.ts";

/** Guest-physical memory: `bytes[gpa]` is the byte at guest-physical address `gpa`. */
export interface GuestRam {
  readonly bytes: Uint8Array;
  /** Host virtual address of byte 0, when the memory is a real mapping (for VFIO). */
  readonly hostAddress: bigint | null;
  /**
   * True once the file shrank under the mapping and a page past its new end was touched: the
   * native layer put a zero page there instead of letting SIGBUS kill the process, so what was
   * read there is zeroes and what was written there is lost. A caller checks it after DMA.
   */
  readonly shrunk: boolean;
  close(): void;
}

/**
 * Maps a guest RAM file (MAP_SHARED). Writes go to the file, and so to a guest running on it.
 *
 * @example
 * ```ts
 * import { openGuestRam } from "./guest_ram.ts";
 * const ram = openGuestRam("/dev/shm/guest.ram", { writable: false });
 * console.log(ram.bytes.length);
 * ram.close();
 * ```
 */
export function openGuestRam(path: string, opts: { writable: boolean }): GuestRam {
  const out = new BigUint64Array(3);
  check(
    native().hv_pviommu_mmap_file(
      new TextEncoder().encode(path + "\0"),
      opts.writable ? 1 : 0,
      out,
    ),
    `map guest RAM ${path}`,
  );
  const [addr, len, shrunkAt] = out;
  const ptr = Deno.UnsafePointer.create(addr);
  const flagPtr = Deno.UnsafePointer.create(shrunkAt);
  if (ptr === null || flagPtr === null) throw new Error(`map guest RAM ${path}: null mapping`);
  const bytes = new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(ptr, Number(len)));
  // The native flag word, read in place: one load per check, no FFI call.
  const flag = new Int32Array(Deno.UnsafePointerView.getArrayBuffer(flagPtr, 4));
  let open = true;
  return {
    bytes,
    hostAddress: addr,
    get shrunk() {
      return open && flag[0] !== 0;
    },
    close() {
      if (!open) return;
      open = false;
      check(native().hv_pviommu_munmap(addr, len), `unmap guest RAM ${path}`);
    },
  };
}

/** Guest RAM in process memory (tests, benchmarks, audits without a guest). */
export function memoryGuestRam(size: number): GuestRam {
  return { bytes: new Uint8Array(size), hostAddress: null, shrunk: false, close() {} };
}
