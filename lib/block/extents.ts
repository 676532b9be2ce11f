/**
 * Allocation status of a device's ranges, for NBD_CMD_BLOCK_STATUS with the `base:allocation`
 * metadata context (proto.md). An optional capability beside {@linkcode BlockDevice}: a device
 * or layer that knows where its holes and zeroes are implements {@linkcode ExtentSource}; the
 * NBD server asks through {@linkcode hasExtents} and reports "allocated, contents unknown"
 * (flags 0, always a correct answer) for devices that do not.
 *
 * @module
 */
import type { BlockDevice } from "./block_device.ts";

/** `NBD_STATE_HOLE`: the range is not allocated in the backing store. */
export const STATE_HOLE = 1;
/** `NBD_STATE_ZERO`: the range reads as zeroes. */
export const STATE_ZERO = 2;

/** One run of bytes with the same status; runs are consecutive from the queried offset. */
export interface BlockExtent {
  /** Bytes, > 0. */
  length: number;
  /** {@linkcode STATE_HOLE} | {@linkcode STATE_ZERO}, or 0 for allocated data. */
  flags: number;
}

/** A device or layer that can tell holes and zeroes from data. */
export interface ExtentSource {
  /**
   * Consecutive extents from `offset`, at least one, covering at most `length` bytes (fewer
   * when describing the whole range would be costly: callers ask again from where it ended).
   */
  extents(offset: number, length: number): Promise<BlockExtent[]>;
}

/** True when `dev` implements {@linkcode ExtentSource}. */
export function hasExtents(dev: BlockDevice): dev is BlockDevice & ExtentSource {
  return typeof (dev as Partial<ExtentSource>).extents === "function";
}

/** Appends a run, merging it with the last one when the flags match. */
export function pushExtent(out: BlockExtent[], length: number, flags: number): void {
  if (length <= 0) return;
  const last = out[out.length - 1];
  if (last && last.flags === flags) last.length += length;
  else out.push({ length, flags });
}

/**
 * Marks byte ranges as allocated data (flags 0) over a list of extents that starts at
 * `offset` — how a cache reports blocks it holds dirty, which the device below does not know
 * about yet. `data` holds sorted, non-overlapping [start, end) pairs in absolute bytes.
 *
 * @example
 * ```ts
 * import { overlayData, STATE_HOLE, STATE_ZERO } from "./extents.ts";
 * overlayData([{ length: 8192, flags: STATE_HOLE | STATE_ZERO }], 0, [[4096, 8192]]);
 * // [{ length: 4096, flags: 3 }, { length: 4096, flags: 0 }]
 * ```
 */
export function overlayData(
  extents: BlockExtent[],
  offset: number,
  data: [number, number][],
): BlockExtent[] {
  if (data.length === 0) return extents;
  const out: BlockExtent[] = [];
  let pos = offset;
  let d = 0;
  for (const e of extents) {
    const end = pos + e.length;
    let at = pos;
    while (at < end) {
      while (d < data.length && data[d][1] <= at) d++;
      if (d === data.length || data[d][0] >= end) {
        pushExtent(out, end - at, e.flags);
        break;
      }
      const [ds, de] = data[d];
      if (ds > at) {
        pushExtent(out, ds - at, e.flags);
        at = ds;
      }
      const stop = Math.min(de, end);
      pushExtent(out, stop - at, 0);
      at = stop;
    }
    pos = end;
  }
  return out;
}

/**
 * The extents of `dev` if it knows them, else one extent of allocated data (flags 0), which
 * proto.md allows for any range. Layers use this to pass the question down.
 */
export function extentsOf(
  dev: BlockDevice,
  offset: number,
  length: number,
): Promise<BlockExtent[]> {
  if (hasExtents(dev)) return dev.extents(offset, length);
  return Promise.resolve([{ length, flags: 0 }]);
}
