/**
 * The native IOTLB-hit path of checked DMA (native/pviommu_dma.c): one FFI call looks the
 * page up in the IOTLB's own typed arrays, checks the permission and copies. Anything else
 * (a miss, an access across pages, a fault) answers "slow path" and the TypeScript model
 * decides, so the semantics are the model's.
 *
 * @module
 */
import { native } from "../ffi/ffi.ts";
import type { Iotlb } from "./iotlb.ts";

const ptr = (a: ArrayBufferView): bigint =>
  BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(a as Uint8Array)));

/**
 * The context native/pviommu_dma.c reads (and writes: its address prediction, slot 6, and
 * the byte counts, slots 8 and 9 as doubles: see {@linkcode dmaByteCounts}):
 * pointers to the IOTLB entries, its counters and guest RAM.
 * It holds raw addresses: keep `iotlb` and `ram` alive as long as the context is used
 * (CheckedDma holds all three).
 *
 * @example
 * ```ts
 * import { dmaContext, nativeDmaRead } from "./native_dma.ts";
 * import { Iotlb } from "./iotlb.ts";
 * const ram = new Uint8Array(1 << 20);
 * const ctx = dmaContext(new Iotlb(), ram, 12);
 * nativeDmaRead(ctx, 8, 0x1000, new Uint8Array(64)); // 1: a miss, take the slow path
 * ```
 */
export function dmaContext(iotlb: Iotlb, ram: Uint8Array, pageShift: number): BigUint64Array {
  if (ram.length === 0) throw new RangeError("guest RAM is empty");
  // An explicit ArrayBuffer: outside V8's heap (see Iotlb.counters).
  const ctx = new BigUint64Array(new ArrayBuffer(CTX_BYTES), 0, CTX_BYTES / 8);
  ctx.set([
    ptr(iotlb.f64),
    ptr(iotlb.counters),
    ptr(ram),
    BigInt(ram.length),
    BigInt(iotlb.mask),
    BigInt(pageShift),
    0n, // the C side's last (guest page - IOVA page)
  ]);
  return ctx;
}

/** Bytes of a context: 7 slots, one spare, 2 byte counts. */
const CTX_BYTES = 80;

/**
 * The byte counts the native hit path adds to: [0] bytes read, [1] bytes written (a view of
 * the context's slots 8 and 9).
 */
export function dmaByteCounts(ctx: BigUint64Array): Float64Array {
  return new Float64Array(ctx.buffer, 64, 2);
}

/** Checked read on an IOTLB hit inside one page: 0 = copied, 1 = take the slow path. */
export function nativeDmaRead(
  ctx: BigUint64Array,
  endpoint: number,
  iova: number,
  dst: Uint8Array,
): number {
  return native().hv_pviommu_dma_read(ctx, endpoint, iova, dst, dst.length);
}

/** Checked write on an IOTLB hit inside one page: 0 = copied, 1 = take the slow path. */
export function nativeDmaWrite(
  ctx: BigUint64Array,
  endpoint: number,
  iova: number,
  src: Uint8Array,
): number {
  return native().hv_pviommu_dma_write(ctx, endpoint, iova, src, src.length);
}
