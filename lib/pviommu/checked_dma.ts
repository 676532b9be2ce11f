/**
 * Checked DMA: the copy an emulated device does inside the hypervisor, from or to guest RAM,
 * allowed only if every page of the IOVA range is mapped for the endpoint with the needed
 * permission. A refused access copies nothing and leaves a fault in the {@linkcode FaultLog}.
 *
 * The hit path for an access within one page reads the IOTLB's typed arrays directly: no
 * allocation, one hash, three compares. Two engines run it: `native` (default: one FFI call
 * to native/pviommu_dma.c does lookup, permission check and memcpy) and `ts` (the same in
 * TypeScript). Every other case (miss, access across pages, fault) is decided by the model
 * in TypeScript, so both engines have the same semantics.
 *
 * @module
 */
import type { Fault, PvIommu, Run } from "./iommu.ts";
import { FaultFlag, FaultReason, MapFlag } from "./spec.ts";
import { FaultLog } from "./fault_log.ts";
import { dmaByteCounts, dmaContext } from "./native_dma.ts";
import { type Native, native } from "../ffi/ffi.ts";

/**
 * The library, loaded once at import (null when it cannot be): a module constant, so that
 * V8 sees a constant call target and makes the FFI call a fast call (through an instance
 * field it does not: +20 ns a call here).
 */
const LIB: Native | null = (() => {
  try {
    return native();
  } catch {
    return null;
  }
})();

/** Which code runs the IOTLB-hit path. */
export type DmaEngine = "native" | "ts";

/** Options of {@linkcode CheckedDma}. */
export interface CheckedDmaOptions {
  /** `native` (default) or `ts`. */
  engine?: DmaEngine;
}

/**
 * Checked DMA into and out of guest RAM (`ram[gpa]` is guest-physical address `gpa`).
 *
 * @example
 * ```ts
 * import { CheckedDma } from "./checked_dma.ts";
 * import { PvIommu } from "./iommu.ts";
 * const iommu = new PvIommu();
 * iommu.attach(1, 8);
 * iommu.map(1, 0x1000, 0x1fff, 0x3000, 1);
 * const dma = new CheckedDma(iommu, new Uint8Array(0x10000));
 * dma.read(8, 0x1000, new Uint8Array(512)); // null: allowed
 * dma.write(8, 0x1000, new Uint8Array(512)); // a MAPPING fault: not writable
 * ```
 */
export class CheckedDma {
  readonly log: FaultLog;
  /** Clock for fault times (ns). */
  now: () => number = () => performance.now() * 1e6;
  /**
   * Bytes read [0] and written [1]. The native engine's hit path counts them in C (they are
   * slots of its context): a store here after the FFI call waits behind the copy's stores
   * (+3-5% on a 4 KiB read, A/B), and a number field that leaves the small-integer range once
   * the count passes 2^30 made every hit +8% slower still.
   */
  readonly #bytes: Float64Array;
  #runs: Run[] = [];
  // The IOTLB's arrays, held directly so the hit path does no property chains.
  readonly #ps: number;
  readonly #mask: number;
  readonly #f64: Float64Array;
  readonly #i32: Int32Array;
  readonly #u8: Uint8Array;
  readonly engine: DmaEngine;
  readonly #native: boolean;
  readonly #ctx: BigUint64Array;

  constructor(
    readonly iommu: PvIommu,
    readonly ram: Uint8Array,
    log?: FaultLog,
    opts: CheckedDmaOptions = {},
  ) {
    this.log = log ?? new FaultLog();
    this.engine = ram.length === 0 ? "ts" : opts.engine ?? "native";
    if (this.engine === "native" && LIB === null) native(); // throws the loader's error
    this.#native = this.engine === "native";
    this.#ctx = this.#native
      ? dmaContext(iommu.iotlb, ram, iommu.pageShift)
      : new BigUint64Array(0);
    this.#bytes = this.#native ? dmaByteCounts(this.#ctx) : new Float64Array(2);
    const t = iommu.iotlb;
    this.#ps = iommu.pageSize;
    this.#mask = t.mask;
    this.#f64 = t.f64;
    this.#i32 = t.i32;
    this.#u8 = t.u8;
  }

  /** Bytes copied from guest memory by allowed reads. */
  get bytesRead(): number {
    return this.#bytes[0];
  }

  /** Bytes copied to guest memory by allowed writes. */
  get bytesWritten(): number {
    return this.#bytes[1];
  }

  /** Device reads guest memory at `iova` into `dst`. Returns null, or the fault it raised. */
  read(endpoint: number, iova: number, dst: Uint8Array): Fault | null {
    // Kept small so that V8 inlines it into the device's loop: the TS engine's hit path and
    // the slow path are methods of their own (with them inline, read() is too big to inline
    // and each call pays a JS call on top of the FFI call: +6..11% on a 4 KiB read).
    if (this.#native) {
      if (LIB!.hv_pviommu_dma_read(this.#ctx, endpoint, iova, dst, dst.length) === 0) {
        return null; // counted in C
      }
      return this.#readSlow(endpoint, iova, dst);
    }
    return this.#readTs(endpoint, iova, dst);
  }

  #readTs(endpoint: number, iova: number, dst: Uint8Array): Fault | null {
    const gpa = this.#one(endpoint, iova, dst.length, MapFlag.READ);
    if (gpa >= 0) {
      dst.set(this.ram.subarray(gpa, gpa + dst.length));
      this.#bytes[0] += dst.length;
      return null;
    }
    return this.#readSlow(endpoint, iova, dst);
  }

  /** Device writes `src` to guest memory at `iova`. Returns null, or the fault it raised. */
  write(endpoint: number, iova: number, src: Uint8Array): Fault | null {
    if (this.#native) {
      if (LIB!.hv_pviommu_dma_write(this.#ctx, endpoint, iova, src, src.length) === 0) {
        return null; // counted in C
      }
      return this.#writeSlow(endpoint, iova, src);
    }
    return this.#writeTs(endpoint, iova, src);
  }

  #writeTs(endpoint: number, iova: number, src: Uint8Array): Fault | null {
    const gpa = this.#one(endpoint, iova, src.length, MapFlag.WRITE);
    if (gpa >= 0) {
      this.ram.set(src, gpa);
      this.#bytes[1] += src.length;
      return null;
    }
    return this.#writeSlow(endpoint, iova, src);
  }

  /**
   * Device reads a descriptor chain: `seg` holds (IOVA, length) pairs, whose bytes land one
   * after another in `dst`. One FFI call serves every segment that is an IOTLB hit inside one
   * page (in one C loop, so the next segment's IOTLB lookup overlaps the current copy); the
   * rest go through {@linkcode read}. Segments are DMAs done in order: on a
   * fault the earlier segments are copied, the faulting one and later ones are not, and the
   * fault is returned.
   */
  readv(endpoint: number, seg: Float64Array, dst: Uint8Array): Fault | null {
    const n = chainLength(seg, dst.length);
    let k = 0;
    let off = 0;
    if (this.#native) {
      k = LIB!.hv_pviommu_dma_readv(this.#ctx, endpoint, seg, n, dst, dst.length);
      if (k === n) return null;
      for (let j = 0; j < k; j++) off += seg[2 * j + 1];
    } else {
      // The TS engine's hit path, copying straight into place (no view of dst per segment).
      for (; k < n; k++) {
        const len = seg[2 * k + 1];
        const gpa = this.#one(endpoint, seg[2 * k], len, MapFlag.READ);
        if (gpa < 0) break;
        dst.set(this.ram.subarray(gpa, gpa + len), off);
        this.#bytes[0] += len;
        off += len;
      }
    }
    for (; k < n; k++) {
      const len = seg[2 * k + 1];
      const f = this.read(endpoint, seg[2 * k], dst.subarray(off, off + len));
      if (f !== null) return f;
      off += len;
    }
    return null;
  }

  /**
   * Device writes a descriptor chain: `seg` holds (IOVA, length) pairs, filled one after
   * another from `src`. Same rules as {@linkcode readv}.
   */
  writev(endpoint: number, seg: Float64Array, src: Uint8Array): Fault | null {
    const n = chainLength(seg, src.length);
    let k = 0;
    let off = 0;
    if (this.#native) {
      k = LIB!.hv_pviommu_dma_writev(this.#ctx, endpoint, seg, n, src, src.length);
      if (k === n) return null;
      for (let j = 0; j < k; j++) off += seg[2 * j + 1];
    } else {
      for (; k < n; k++) {
        const len = seg[2 * k + 1];
        const gpa = this.#one(endpoint, seg[2 * k], len, MapFlag.WRITE);
        if (gpa < 0) break;
        this.ram.set(src.subarray(off, off + len), gpa);
        this.#bytes[1] += len;
        off += len;
      }
    }
    for (; k < n; k++) {
      const len = seg[2 * k + 1];
      const f = this.write(endpoint, seg[2 * k], src.subarray(off, off + len));
      if (f !== null) return f;
      off += len;
    }
    return null;
  }

  /** A miss, an access across pages, or a fault: the model checks it mapping by mapping. */
  #readSlow(endpoint: number, iova: number, dst: Uint8Array): Fault | null {
    const f = this.#check(endpoint, iova, dst.length, "read");
    if (f !== null) return f;
    let done = 0;
    for (const r of this.#runs) {
      const g = Number(r.gpa), n = Number(r.len);
      dst.set(this.ram.subarray(g, g + n), done);
      done += n;
    }
    this.#bytes[0] += dst.length;
    return null;
  }

  #writeSlow(endpoint: number, iova: number, src: Uint8Array): Fault | null {
    const f = this.#check(endpoint, iova, src.length, "write");
    if (f !== null) return f;
    let done = 0;
    for (const r of this.#runs) {
      const n = Number(r.len);
      this.ram.set(src.subarray(done, done + n), Number(r.gpa));
      done += n;
    }
    this.#bytes[1] += src.length;
    return null;
  }

  /** The IOTLB hit path for an access inside one page: the GPA, or -1 to take the slow path. */
  #one(endpoint: number, iova: number, len: number, need: number): number {
    const ps = this.#ps;
    const page = Math.floor(iova / ps);
    const off = iova - page * ps;
    if (len === 0 || off + len > ps) return -1;
    const i = ((page ^ Math.imul(endpoint, 0x9e3779b1)) >>> 0) & this.#mask;
    if (
      this.#i32[i * 8 + 6] !== endpoint || this.#f64[i * 4] !== page ||
      (this.#u8[i * 32 + 28] & need) === 0
    ) {
      return -1;
    }
    const gpa = this.#f64[i * 4 + 1] * ps + off;
    if (gpa + len > this.ram.length) return -1;
    const tlb = this.iommu.iotlb;
    tlb.hits++;
    if (this.#f64[i * 4 + 2] !== 0) tlb.staleHits++;
    return gpa;
  }

  /**
   * Checks the access with the model (per mapping, see PvIommu.check); fills #runs with
   * where its bytes are, or logs and returns the fault. An IOVA that is not an integer in
   * [0, 2^64) faults as UNKNOWN.
   */
  #check(endpoint: number, iova: number, len: number, access: "read" | "write"): Fault | null {
    this.#runs.length = 0;
    if (len === 0) return null;
    const dirFlag = access === "write" ? FaultFlag.WRITE : FaultFlag.READ;
    const unknown = (address: bigint) =>
      this.#fault(
        {
          reason: FaultReason.UNKNOWN,
          flags: dirFlag | FaultFlag.ADDRESS,
          endpoint,
          address,
          domain: this.iommu.domainOf(endpoint) ?? -1,
        },
        iova,
        len,
      );
    if (!Number.isInteger(iova) || iova < 0 || iova >= 2 ** 64) {
      return unknown(Number.isInteger(iova) && iova >= 0 ? BigInt(iova) : 0n);
    }
    const f = this.iommu.check(endpoint, BigInt(iova), BigInt(len), access, this.#runs);
    const ramLen = BigInt(this.ram.length);
    for (const r of this.#runs) {
      // Translated, but not to guest RAM this hypervisor can copy (MMIO, or past the end):
      // refused at the first such byte, when it comes before the model's own fault.
      if ((r.flags & MapFlag.MMIO) !== 0 || r.gpa >= ramLen) return unknown(r.iova);
      if (r.gpa + r.len > ramLen) {
        // Named by the page of the first byte past guest RAM, as a page walk would.
        const page = (r.iova + ramLen - r.gpa) & ~BigInt(this.iommu.pageSize - 1);
        return unknown(page > r.iova ? page : r.iova);
      }
    }
    return f === null ? null : this.#fault(f, iova, len);
  }

  #fault(f: Fault, iova: number, len: number): Fault {
    this.log.add({ ...f, ts: this.now(), len, iova: Number.isInteger(iova) ? BigInt(iova) : 0n });
    return f;
  }
}

/** Segments of a chain of (address, length) pairs; throws when it does not fit `bufLen`. */
function chainLength(seg: Float64Array, bufLen: number): number {
  if (seg.length % 2 !== 0) throw new RangeError("a chain is (address, length) pairs");
  let total = 0;
  for (let k = 1; k < seg.length; k += 2) {
    const len = seg[k];
    if (!Number.isInteger(len) || len < 0) throw new RangeError(`segment length ${len}`);
    total += len;
  }
  if (total > bufLen) throw new RangeError(`chain of ${total} bytes, buffer of ${bufLen}`);
  return seg.length / 2;
}
