/**
 * The statistics layer: counts a cache's requests, bytes, block accesses and hits in the
 * simulator's terms (lib/cache/simulate.ts), as nbdkit's stats filter counts what passes it.
 * It sits above a {@linkcode CacheLayer} (directly or over layers that pass requests through)
 * and reads the cache's verdict on each request synchronously, right after issuing it:
 * `lastBlocks` (blocks looked up; -1 when the cache refused the request), `lastHits` and
 * `lastHit`. What only the cache sees (evictions, bypasses, write-backs) it counts itself in
 * `events`; {@linkcode CacheCounters} shows both as one set of figures. Requests pass through
 * unchanged (the promise below is returned as is, so a synchronous hit stays `DONE`).
 *
 * @module
 */
import type { BlockDevice, WriteFlags, ZeroFlags } from "./block_device.ts";
import { PassThroughLayer } from "./pass_through.ts";
import type { HitSource } from "./hit_source.ts";
import { type BlockExtent, extentsOf, type ExtentSource } from "./extents.ts";
import { flushRangeOf, type RangeFlusher } from "./concat_device.ts";
import type { CacheEventCounts, CacheLayer } from "./cache_layer.ts";

/** Counters of the live cache, in the simulator's terms (lib/cache/simulate.ts). */
export interface CacheStats extends Readonly<CacheEventCounts> {
  readRequests: number;
  readBlocks: number;
  readHits: number;
  readWholeHits: number;
  writeRequests: number;
  writeBlocks: number;
  writeHits: number;
  writeWholeHits: number;
  flushes: number;
  trims: number;
  readBytes: number;
  writeBytes: number;
}

/** The figures of one cache: counted per request here, per event by the cache. */
export class CacheCounters implements CacheStats {
  readRequests = 0;
  readBlocks = 0;
  readHits = 0;
  readWholeHits = 0;
  writeRequests = 0;
  writeBlocks = 0;
  writeHits = 0;
  writeWholeHits = 0;
  flushes = 0;
  trims = 0;
  readBytes = 0;
  writeBytes = 0;

  constructor(readonly events: Readonly<CacheEventCounts>) {}

  get bypassedRequests(): number {
    return this.events.bypassedRequests;
  }
  get bypassedBlocks(): number {
    return this.events.bypassedBlocks;
  }
  get evictions(): number {
    return this.events.evictions;
  }
  get writebacks(): number {
    return this.events.writebacks;
  }
  get writebackErrors(): number {
    return this.events.writebackErrors;
  }
}

/**
 * Counts the requests that reach `cache` through `inner` (which may be the cache itself).
 *
 * @example
 * ```ts
 * import { MemoryDevice } from "./memory_device.ts";
 * import { CacheLayer } from "./cache_layer.ts";
 * import { CacheStatsLayer } from "./cache_stats.ts";
 * import { createPolicy } from "../cache/registry.ts";
 * const cache = new CacheLayer(new MemoryDevice(1 << 20), {
 *   policy: createPolicy("lru", 16),
 *   blockSize: 4096,
 * });
 * const top = new CacheStatsLayer(cache, cache);
 * await top.read(0, new Uint8Array(4096));
 * await top.read(0, new Uint8Array(4096));
 * top.stats.readHits; // 1
 * ```
 */
export class CacheStatsLayer extends PassThroughLayer
  implements BlockDevice, HitSource, ExtentSource, RangeFlusher {
  readonly stats: CacheCounters;

  constructor(inner: BlockDevice, readonly cache: CacheLayer) {
    super(inner);
    this.stats = new CacheCounters(cache.events);
  }

  get lastHit(): boolean | undefined {
    return this.cache.lastHit;
  }

  /** Bytes of dirty data the cache holds. */
  get dirtyBytes(): number {
    return this.cache.dirtyBytes;
  }

  read(offset: number, buf: Uint8Array): Promise<void> {
    const p = this.inner.read(offset, buf);
    const c = this.cache;
    if (c.lastBlocks >= 0) {
      const s = this.stats;
      s.readRequests++;
      s.readBytes += buf.length;
      s.readBlocks += c.lastBlocks;
      s.readHits += c.lastHits;
      if (c.lastHit) s.readWholeHits++;
    }
    return p;
  }

  write(offset: number, data: Uint8Array, flags?: WriteFlags): Promise<void> {
    const p = this.inner.write(offset, data, flags);
    this.#countWrite(data.length);
    return p;
  }

  /** Write-zeroes counts as a write, as the simulator counts Z. */
  zero(offset: number, length: number, flags?: ZeroFlags): Promise<void> {
    const p = this.inner.zero(offset, length, flags);
    this.#countWrite(length);
    return p;
  }

  #countWrite(length: number): void {
    const c = this.cache;
    if (c.lastBlocks < 0) return;
    const s = this.stats;
    s.writeRequests++;
    s.writeBytes += length;
    s.writeBlocks += c.lastBlocks;
    s.writeHits += c.lastHits;
    if (c.lastHit) s.writeWholeHits++;
  }

  trim(offset: number, length: number, flags?: WriteFlags): Promise<void> {
    const p = this.inner.trim(offset, length, flags);
    if (this.cache.lastBlocks >= 0) this.stats.trims++;
    return p;
  }

  flush(): Promise<void> {
    const p = this.inner.flush();
    if (this.cache.lastBlocks >= 0) this.stats.flushes++;
    return p;
  }

  /** A FLUSH scoped to one export's range (lib/block/slice_device.ts); counts as a flush. */
  flushRange(offset: number, length: number): Promise<void> {
    const p = flushRangeOf(this.inner, offset, length);
    if (this.cache.lastBlocks >= 0) this.stats.flushes++;
    return p;
  }

  extents(offset: number, length: number): Promise<BlockExtent[]> {
    return extentsOf(this.inner, offset, length);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
