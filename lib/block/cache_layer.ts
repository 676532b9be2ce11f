/**
 * The cache layer: QBic's in-memory block cache as a {@linkcode BlockDevice} wrapping another —
 * the request paths (read, write, write-zeroes, trim, flush) over three parts, each its own file
 * (nbdkit's cache filter is split the same way: cache.c, blk.c, lru.c):
 * - lib/block/block_map.ts: which blocks are held; the {@linkcode CachePolicy} from lib/cache
 *   and the admission filter, driven exactly as lib/cache/simulate.ts drives them;
 * - lib/block/block_locks.ts: per-block locks, taken in arrival order;
 * - lib/block/write_back.ts: the dirty set; when writes reach the device (the mode below).
 * The policy decides when a request arrives, before any data moves; data then moves under
 * per-block locks taken in that order. A request whose blocks are all resident, filled and
 * unlocked is served without awaiting.
 * Two more layers stack above it (tools/qbic-cache/cache_stack.ts): block status
 * (lib/block/dirty_extents.ts; alone, this layer reports every range as data) and statistics
 * (lib/block/cache_stats.ts, which reads `lastBlocks`/`lastHits` after each request).
 *
 * Modes (what each promises):
 * - `writeback` (default): writes stay in memory (dirty) until evicted, FLUSHed or the layer
 *   closes. FLUSH writes every dirty block back and flushes the device; a FUA write goes to the
 *   device with FUA before it is acknowledged. A crash loses writes not yet flushed — as a disk
 *   with a volatile write cache may.
 * - `writethrough`: every write goes to the device before it is acknowledged; the cache only
 *   serves reads. Nothing acknowledged is lost to a crash of the server.
 * - `unsafe`: like writeback, but FLUSH and FUA are ignored; dirty data reaches the image only on
 *   eviction and clean shutdown. A crash loses any of it.
 * Write-zeroes and trim always pass to the device (zeroed resident blocks are updated in place).
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
import type { HitSource } from "./hit_source.ts";
import { DONE } from "./sync_done.ts";
import type { CachePolicy } from "../cache/policy.ts";
import type { IoOp } from "../trace/io_record.ts";
import { BlockLocks } from "./block_locks.ts";
import { BlockMap, type BlockMapOptions, type MapEvents } from "./block_map.ts";
import { type FlushScope, WriteBack, type WriteBackEvents } from "./write_back.ts";

/** Durability mode of the cache (see the module comment). */
export type CacheMode = "writeback" | "writethrough" | "unsafe";

/** The modes, as `--mode` spells them. */
export const CACHE_MODES: readonly CacheMode[] = ["writeback", "writethrough", "unsafe"];

/** Options of {@linkcode CacheLayer}: the block map's, and the write-back's. */
export interface CacheLayerOptions extends BlockMapOptions {
  mode?: CacheMode;
  /** Where writeback failures are reported. */
  log?: (msg: string) => void;
}

/** What only the cache sees (the statistics layer, lib/block/cache_stats.ts, shows them). */
export interface CacheEventCounts extends MapEvents, WriteBackEvents {}

/** A BlockDevice with an in-memory block cache in front of another. */
export class CacheLayer implements BlockDevice, HitSource {
  readonly name: string;
  readonly size: number;
  readonly readOnly: boolean;
  readonly blockSizes: BlockSizes;
  readonly mode: CacheMode;
  readonly blockSize: number;
  readonly policy: CachePolicy;
  readonly events: CacheEventCounts = {
    bypassedRequests: 0,
    bypassedBlocks: 0,
    evictions: 0,
    writebacks: 0,
    writebackErrors: 0,
  };
  /** Every block of the last request hit (HitSource); undefined if it was not looked up. */
  lastHit: boolean | undefined = undefined;
  /** Blocks the last request looked up; -1 when it was refused (range, read-only, closed). */
  lastBlocks = -1;
  /** Blocks of the last request that hit. */
  lastHits = 0;
  /** The device under the cache. */
  readonly inner: BlockDevice;

  #locks = new BlockLocks();
  #map: BlockMap;
  #wb: WriteBack;
  #closed = false;

  constructor(inner: BlockDevice, opts: CacheLayerOptions) {
    const bs = opts.blockSize;
    if (!Number.isInteger(bs) || bs < 512 || (bs & (bs - 1)) !== 0) {
      throw new RangeError(`cache block size must be a power of two >= 512, got ${bs}`);
    }
    this.inner = inner;
    this.blockSize = bs;
    this.name = inner.name;
    this.size = inner.size;
    this.readOnly = inner.readOnly;
    this.blockSizes = {
      minimum: inner.blockSizes.minimum,
      preferred: Math.max(inner.blockSizes.preferred, bs),
      maximum: inner.blockSizes.maximum,
    };
    this.mode = opts.mode ?? "writeback";
    this.policy = opts.policy;
    this.#map = new BlockMap(inner, this.#locks, opts, this.events, (e) => this.#wb.settle(e));
    const log = opts.log ?? ((m) => console.error(`cache: ${m}`));
    const wt = this.mode === "writethrough";
    this.#wb = new WriteBack(inner, this.#map, this.#locks, wt, this.events, log);
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Bytes of dirty data held. */
  get dirtyBytes(): number {
    return this.#wb.count * this.blockSize;
  }

  /** Blocks resident now. */
  get residentBlocks(): number {
    return this.#map.resident.size;
  }

  /** The numbers of the resident blocks (for per-export accounting), in no order. */
  residentBlockNumbers(): IterableIterator<number> {
    return this.#map.resident.keys();
  }

  /** Byte ranges of dirty blocks inside [offset, end), sorted (for block status). */
  dirtyRanges(offset: number, end: number): [number, number][] {
    return this.#wb.dirtyRanges(offset, end);
  }

  /** How every request starts: clears lastHit; a rejected promise if the request is bad. */
  #start(offset: number, length: number, write: boolean): Promise<never> | null {
    this.lastHit = undefined;
    this.lastBlocks = -1;
    try {
      if (this.#closed) throw new BlockError("ESHUTDOWN", `${this.name}: closed`);
      if (write && this.readOnly) throw new BlockError("EPERM", `${this.name}: read-only`);
      checkRange(this, offset, length);
      this.lastBlocks = 0;
      this.lastHits = 0;
      return null;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** An empty read or write: a whole hit that touches no block. */
  #empty(): Promise<void> {
    this.lastHit = true;
    return Promise.resolve();
  }

  /** Looks up a R, W or Z request's blocks (block_map.ts); sets lastHit/lastBlocks/lastHits. */
  #lookup(op: IoOp, offset: number, length: number, first: number, last: number, fua: boolean) {
    const hits = this.#map.lookup(op, offset, length, first, last, fua);
    this.lastBlocks = last - first + 1;
    this.lastHits = hits;
    this.lastHit = hits === this.lastBlocks;
    return hits;
  }

  /**
   * Runs `io` holding the locks of blocks first..last, queued now (in arrival order); `queued`
   * runs right after they are queued.
   */
  #locked(first: number, last: number, io: () => Promise<void>, queued?: () => void) {
    const [wait, release] = this.#locks.lock(first, last);
    queued?.();
    return (async () => {
      try {
        if (wait) await wait;
        await io();
      } finally {
        release();
      }
    })();
  }

  /** Reads through the cache. */
  read(offset: number, buf: Uint8Array): Promise<void> {
    const length = buf.length;
    const bad = this.#start(offset, length, false);
    if (bad) return bad;
    if (length === 0) return this.#empty();
    const bs = this.blockSize;
    const first = Math.floor(offset / bs);
    const last = Math.floor((offset + length - 1) / bs);
    this.#lookup("R", offset, length, first, last, false);
    if (this.lastHit && this.#map.tryRead(first, last, offset, buf)) return DONE;
    return this.#locked(first, last, () => this.#map.readThrough(first, last, offset, buf));
  }

  /** Writes through the cache according to the mode (write_back.ts). */
  write(offset: number, data: Uint8Array, flags?: WriteFlags): Promise<void> {
    const length = data.length;
    const bad = this.#start(offset, length, true);
    if (bad) return bad;
    if (length === 0) return this.#empty();
    const bs = this.blockSize;
    const first = Math.floor(offset / bs);
    const last = Math.floor((offset + length - 1) / bs);
    this.#lookup("W", offset, length, first, last, flags?.fua === true);
    const fua = flags?.fua === true && this.mode !== "unsafe";
    if (this.#wb.tryWrite(first, last, offset, data, fua)) return Promise.resolve();
    return this.#locked(first, last, () => this.#wb.write(first, last, offset, data, fua));
  }

  /** Zeroes on the device and in resident copies. */
  zero(offset: number, length: number, flags?: ZeroFlags): Promise<void> {
    const bad = this.#start(offset, length, true);
    if (bad) return bad;
    if (length === 0) return this.#empty();
    const bs = this.blockSize;
    const first = Math.floor(offset / bs);
    const last = Math.floor((offset + length - 1) / bs);
    this.#lookup("Z", offset, length, first, last, flags?.fua === true);
    const fua = flags?.fua === true && this.mode !== "unsafe";
    return this.#locked(
      first,
      last,
      () => this.#wb.zero(first, last, offset, length, { ...flags, fua }),
    );
  }

  /** Drops the blocks from the cache (as the simulator does) and trims the device. */
  trim(offset: number, length: number, flags?: WriteFlags): Promise<void> {
    const bad = this.#start(offset, length, true);
    if (bad) return bad;
    this.#map.observe("T", offset, length, flags?.fua === true);
    if (length === 0) return Promise.resolve();
    const bs = this.blockSize;
    const first = Math.floor(offset / bs);
    const last = Math.floor((offset + length - 1) / bs);
    const fua = flags?.fua === true && this.mode !== "unsafe";
    // The blocks leave the map once the trim's locks are queued (so a write-back is owed after).
    return this.#locked(
      first,
      last,
      () => this.#wb.trim(first, last, offset, length, fua),
      () => this.#map.remove(first, last),
    );
  }

  /** Writes every dirty block back (in runs), then flushes the device. */
  flush(): Promise<void> {
    return this.#flush(null);
  }

  /**
   * FLUSH for one byte range (one export of many behind a shared cache): writes back only the
   * dirty blocks inside it, then flushes only what is below it, so it never waits on, or fails
   * for, other ranges' dirty data. Counts as a flush; the admission filter sees an F.
   */
  flushRange(offset: number, length: number): Promise<void> {
    const first = Math.floor(offset / this.blockSize);
    const last = Math.floor((offset + length - 1) / this.blockSize);
    return this.#flush({ first, last, offset, length });
  }

  #flush(scope: FlushScope | null): Promise<void> {
    this.lastHit = undefined;
    this.lastBlocks = -1;
    if (this.#closed) return Promise.reject(new BlockError("ESHUTDOWN", `${this.name}: closed`));
    this.lastBlocks = 0;
    this.#map.observe("F", 0, 0, false);
    if (this.mode === "unsafe") return Promise.resolve();
    return this.#wb.writeBackAll(true, scope ?? undefined);
  }

  /** Writes back every dirty block (all modes), flushes and closes the device below. */
  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#wb.writeBackAll(true);
      // Wait for every queued operation (write-backs of evictions included).
      await this.#locks.idle();
      if (this.#wb.count > 0) await this.#wb.writeBackAll(true);
    } finally {
      this.#closed = true;
      this.#map.clear();
      await this.inner.close();
    }
  }
}
