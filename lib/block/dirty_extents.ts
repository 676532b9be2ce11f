/**
 * The block-status layer of a write-back cache: answers NBD_CMD_BLOCK_STATUS with the extents
 * of the device under the cache, overlaid with the ranges the cache holds dirty (reported as
 * data: the device does not know about them yet). It sits directly above a
 * {@linkcode CacheLayer}, which on its own answers block status as "all data" (always correct,
 * never precise); every other request passes through unchanged.
 *
 * @module
 */
import { type BlockDevice, BlockError, checkRange, type WriteFlags } from "./block_device.ts";
import type { ZeroFlags } from "./block_device.ts";
import { PassThroughLayer } from "./pass_through.ts";
import type { HitSource } from "./hit_source.ts";
import { type BlockExtent, extentsOf, type ExtentSource, overlayData } from "./extents.ts";
import { flushRangeOf, type RangeFlusher } from "./concat_device.ts";

/** What the layer needs of the cache under it. */
export interface DirtySource extends BlockDevice, HitSource {
  /** The device under the cache, whose extents are overlaid. */
  readonly inner: BlockDevice;
  readonly closed: boolean;
  /** Byte ranges of dirty blocks inside [offset, end), sorted, adjacent blocks merged. */
  dirtyRanges(offset: number, end: number): [number, number][];
}

/** Merges sorted-by-start ranges that touch or overlap, clipping them at `end`. */
export function mergeRanges(ranges: [number, number][], end: number): [number, number][] {
  const merged: [number, number][] = [];
  for (const [s, t] of ranges) {
    const prev = merged[merged.length - 1];
    if (prev && prev[1] >= s) prev[1] = Math.max(prev[1], Math.min(t, end));
    else merged.push([s, Math.min(t, end)]);
  }
  return merged;
}

/**
 * A cache's block status: the device's extents with its dirty blocks as data.
 *
 * @example
 * ```ts
 * import { MemoryDevice } from "./memory_device.ts";
 * import { CacheLayer } from "./cache_layer.ts";
 * import { DirtyExtentsLayer } from "./dirty_extents.ts";
 * import { createPolicy } from "../cache/registry.ts";
 * const cache = new CacheLayer(new MemoryDevice(1 << 20), {
 *   policy: createPolicy("lru", 16),
 *   blockSize: 4096,
 * });
 * const top = new DirtyExtentsLayer(cache);
 * await top.write(8192, new Uint8Array(4096).fill(9)); // dirty, only in the cache
 * await top.extents(8192, 4096); // [{ length: 4096, flags: 0 }]
 * ```
 */
export class DirtyExtentsLayer extends PassThroughLayer
  implements BlockDevice, HitSource, ExtentSource, RangeFlusher {
  declare readonly inner: DirtySource;

  constructor(cache: DirtySource) {
    super(cache);
  }

  get lastHit(): boolean | undefined {
    return this.inner.lastHit;
  }

  /**
   * Blocks dirty before or after the device answers both count, so a write-back racing the
   * query cannot make written data look like a hole.
   */
  async extents(offset: number, length: number): Promise<BlockExtent[]> {
    const cache = this.inner;
    if (cache.closed) throw new BlockError("ESHUTDOWN", `${this.name}: closed`);
    checkRange(this, offset, length);
    const before = cache.dirtyRanges(offset, offset + length);
    const inner = await extentsOf(cache.inner, offset, length);
    const covered = inner.reduce((n, e) => n + e.length, 0);
    const end = offset + covered;
    const after = cache.dirtyRanges(offset, end);
    const all = [...before.filter(([s]) => s < end), ...after].sort((a, b) => a[0] - b[0]);
    return overlayData(inner, offset, mergeRanges(all, end));
  }

  read(offset: number, buf: Uint8Array): Promise<void> {
    return this.inner.read(offset, buf);
  }
  write(offset: number, data: Uint8Array, flags?: WriteFlags): Promise<void> {
    return this.inner.write(offset, data, flags);
  }
  zero(offset: number, length: number, flags?: ZeroFlags): Promise<void> {
    return this.inner.zero(offset, length, flags);
  }
  trim(offset: number, length: number, flags?: WriteFlags): Promise<void> {
    return this.inner.trim(offset, length, flags);
  }
  flush(): Promise<void> {
    return this.inner.flush();
  }
  flushRange(offset: number, length: number): Promise<void> {
    return flushRangeOf(this.inner, offset, length);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
