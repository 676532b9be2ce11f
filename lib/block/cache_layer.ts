/**
 * The cache layer: QBic's in-memory block cache as a {@linkcode BlockDevice} wrapping another.
 * Which blocks stay is decided by a {@linkcode CachePolicy} from lib/cache, used unchanged, and
 * driven exactly as lib/cache/simulate.ts drives it, so a recorded trace replayed through the
 * simulator reproduces the live hit counts:
 * - R, W and Z touch blocks `floor(off/bs)..floor((off+len-1)/bs)` in ascending order with
 *   `policy.access(block, isWrite)` (Z counts as a write); F is not an access; T removes its
 *   blocks; a request the admission filter refuses removes its blocks and goes to the device.
 * - Policy decisions happen synchronously when a request arrives (arrival order), before any
 *   data moves. Data then moves under per-block locks taken in the same order, so requests on
 *   one block see each other in arrival order while requests on other blocks run in parallel.
 *   A request whose blocks are all resident, filled and unlocked is served without awaiting.
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
import { type BlockExtent, extentsOf, type ExtentSource, overlayData } from "./extents.ts";
import type { AdmissionFilter, CachePolicy } from "../cache/policy.ts";
import type { IoOp, IoRecord } from "../trace/io_record.ts";
import { flushRangeOf } from "./concat_device.ts";

/** Durability mode of the cache (see the module comment). */
export type CacheMode = "writeback" | "writethrough" | "unsafe";

/** The modes, as `--mode` spells them. */
export const CACHE_MODES: readonly CacheMode[] = ["writeback", "writethrough", "unsafe"];

/** Options of {@linkcode CacheLayer}. */
export interface CacheLayerOptions {
  policy: CachePolicy;
  /** Cache block size in bytes (the policy's unit). */
  blockSize: number;
  mode?: CacheMode;
  /** Keep blocks that read misses bring in (default true); false caches written blocks only. */
  cacheOnRead?: boolean;
  admission?: AdmissionFilter;
  /** Where writeback failures are reported. */
  log?: (msg: string) => void;
  /** Told of each block the policy evicts, synchronously, inside the request that caused it. */
  onEvicted?: (block: number) => void;
}

/** Counters of the live cache, in the simulator's terms (lib/cache/simulate.ts). */
export interface CacheStats {
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
  bypassedRequests: number;
  bypassedBlocks: number;
  evictions: number;
  /** Dirty blocks written back (on eviction, flush or close). */
  writebacks: number;
  writebackErrors: number;
  readBytes: number;
  writeBytes: number;
}

interface Entry {
  block: number;
  data: Uint8Array;
  /** Holds the block's current contents (a fresh entry is empty until filled). */
  valid: boolean;
  dirty: boolean;
}

type Release = () => void;

/** A BlockDevice with an in-memory block cache in front of another. */
export class CacheLayer implements BlockDevice, HitSource, ExtentSource {
  readonly name: string;
  readonly size: number;
  readonly readOnly: boolean;
  readonly blockSizes: BlockSizes;
  readonly mode: CacheMode;
  readonly blockSize: number;
  readonly policy: CachePolicy;
  readonly stats: CacheStats = {
    readRequests: 0,
    readBlocks: 0,
    readHits: 0,
    readWholeHits: 0,
    writeRequests: 0,
    writeBlocks: 0,
    writeHits: 0,
    writeWholeHits: 0,
    flushes: 0,
    trims: 0,
    bypassedRequests: 0,
    bypassedBlocks: 0,
    evictions: 0,
    writebacks: 0,
    writebackErrors: 0,
    readBytes: 0,
    writeBytes: 0,
  };
  lastHit: boolean | undefined = undefined;

  #inner: BlockDevice;
  #bs: number;
  #cacheOnRead: boolean;
  #admission: AdmissionFilter | null;
  #log: (msg: string) => void;
  #onEvicted: ((block: number) => void) | undefined;
  #resident = new Map<number, Entry>();
  /** Entries evicted but still owed to requests queued before their eviction, oldest first. */
  #evicting = new Map<number, Entry[]>();
  #dirty = new Set<Entry>();
  /** Per-block lock: the promise the last queued holder resolves on release. */
  #tails = new Map<number, Promise<void>>();
  #closed = false;

  constructor(inner: BlockDevice, opts: CacheLayerOptions) {
    const bs = opts.blockSize;
    if (!Number.isInteger(bs) || bs < 512 || (bs & (bs - 1)) !== 0) {
      throw new RangeError(`cache block size must be a power of two >= 512, got ${bs}`);
    }
    this.#inner = inner;
    this.#bs = bs;
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
    this.#cacheOnRead = opts.cacheOnRead ?? true;
    this.#admission = opts.admission && opts.admission.name !== "all" ? opts.admission : null;
    this.#log = opts.log ?? ((m) => console.error(`cache: ${m}`));
    this.#onEvicted = opts.onEvicted;
    this.policy.onEvict = (b) => this.#onEvict(b);
  }

  /** Bytes of dirty data held. */
  get dirtyBytes(): number {
    return this.#dirty.size * this.#bs;
  }

  /** Blocks resident now. */
  get residentBlocks(): number {
    return this.#resident.size;
  }

  /** The numbers of the resident blocks (for per-export accounting), in no order. */
  residentBlockNumbers(): IterableIterator<number> {
    return this.#resident.keys();
  }

  // ---- locks ----------------------------------------------------------------------------

  /** Queues a lock on blocks first..last (and `more`); resolves when all are held. */
  #lock(first: number, last: number, more?: Iterable<number>): [Promise<unknown> | null, Release] {
    let release!: Release;
    const mine = new Promise<void>((r) => release = r);
    let waits: Promise<void>[] | null = null;
    const take = (b: number) => {
      const prev = this.#tails.get(b);
      if (prev === mine) return;
      if (prev) (waits ??= []).push(prev);
      this.#tails.set(b, mine);
    };
    for (let b = first; b <= last; b++) take(b);
    if (more) { for (const b of more) take(b); }
    const done = () => {
      for (let b = first; b <= last; b++) if (this.#tails.get(b) === mine) this.#tails.delete(b);
      if (more) { for (const b of more) if (this.#tails.get(b) === mine) this.#tails.delete(b); }
      release();
    };
    const w = waits as Promise<void>[] | null;
    return [w === null ? null : w.length === 1 ? w[0] : Promise.all(w), done];
  }

  #anyLocked(first: number, last: number): boolean {
    if (this.#tails.size === 0) return false;
    for (let b = first; b <= last; b++) if (this.#tails.has(b)) return true;
    return false;
  }

  // ---- entries --------------------------------------------------------------------------

  #blockLen(b: number): number {
    return Math.min(this.#bs, this.size - b * this.#bs);
  }

  /** The entry that holds block b for the current lock holder: evicted-but-owed first. */
  #entry(b: number): Entry | undefined {
    const q = this.#evicting.get(b);
    return q ? q[0] : this.#resident.get(b);
  }

  #insert(b: number): void {
    if (this.#resident.has(b)) return;
    this.#resident.set(b, {
      block: b,
      data: new Uint8Array(this.#blockLen(b)),
      valid: false,
      dirty: false,
    });
  }

  #setDirty(e: Entry, dirty: boolean): void {
    if (e.dirty === dirty) return;
    e.dirty = dirty;
    if (dirty) this.#dirty.add(e);
    else this.#dirty.delete(e);
  }

  #onEvict(b: number): void {
    this.stats.evictions++;
    this.#onEvicted?.(b);
    this.#retire(b);
  }

  /**
   * Takes block b out of the resident set. A clean entry nobody waits for is dropped; otherwise
   * it stays reachable to the requests queued before now, and a task queued behind them writes
   * it back if dirty and lets it go.
   */
  #retire(b: number): void {
    const e = this.#resident.get(b);
    if (!e) return;
    this.#resident.delete(b);
    if (!e.dirty && !this.#tails.has(b)) return;
    const q = this.#evicting.get(b);
    if (q) q.push(e);
    else this.#evicting.set(b, [e]);
    const [wait, release] = this.#lock(b, b);
    (async () => {
      try {
        if (wait) await wait;
        if (e.dirty) {
          await this.#inner.write(b * this.#bs, e.data);
          this.#setDirty(e, false);
          this.stats.writebacks++;
        }
        this.#forget(e);
      } catch (err) {
        // Kept dirty and reachable: the next FLUSH retries and reports the failure.
        this.stats.writebackErrors++;
        this.#log(`write-back of block ${b} failed: ${(err as Error).message}`);
      } finally {
        release();
      }
    })();
  }

  #forget(e: Entry): void {
    const q = this.#evicting.get(e.block);
    if (!q) return;
    const i = q.indexOf(e);
    if (i >= 0) q.splice(i, 1);
    if (q.length === 0) this.#evicting.delete(e.block);
  }

  // ---- policy (synchronous, arrival order) ------------------------------------------------

  #admit(op: IoOp, offset: number, length: number, fua: boolean): boolean {
    if (this.#admission === null) return true;
    const rec: IoRecord = { ts: 0, op, off: offset, len: length, dev: this.name };
    if (fua) rec.fua = true;
    return this.#admission.admit(rec);
  }

  /** Shows the admission filter a flush or trim, in arrival order (as the simulator does). */
  #observe(op: IoOp, offset: number, length: number, fua: boolean): void {
    if (this.#admission === null || this.#admission.observe === undefined) return;
    const rec: IoRecord = { ts: 0, op, off: offset, len: length, dev: this.name };
    if (fua) rec.fua = true;
    this.#admission.observe(rec);
  }

  /** Runs the policy over a request's blocks; returns how many hit. */
  #access(first: number, last: number, isWrite: boolean, keep: boolean): number {
    const policy = this.policy;
    let hits = 0;
    for (let b = first; b <= last; b++) {
      if (policy.access(b, isWrite)) hits++;
      else if (policy.has(b)) {
        if (keep) this.#insert(b);
        else policy.remove(b);
      }
    }
    return hits;
  }

  #bypass(first: number, last: number): void {
    this.stats.bypassedRequests++;
    this.stats.bypassedBlocks += last - first + 1;
    for (let b = first; b <= last; b++) {
      this.policy.remove(b);
      this.#retire(b);
    }
  }

  #check(offset: number, length: number, write: boolean): void {
    if (this.#closed) throw new BlockError("ESHUTDOWN", `${this.name}: closed`);
    if (write && this.readOnly) throw new BlockError("EPERM", `${this.name}: read-only`);
    checkRange(this, offset, length);
  }

  /** How every request starts: clears lastHit; a rejected promise if the request is bad. */
  #start(offset: number, length: number, write: boolean): Promise<never> | null {
    this.lastHit = undefined;
    try {
      this.#check(offset, length, write);
      return null;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Counts an empty read or write: a whole hit that touches no block. */
  #empty(read: boolean): Promise<void> {
    const s = this.stats;
    if (read) {
      s.readRequests++;
      s.readWholeHits++;
    } else {
      s.writeRequests++;
      s.writeWholeHits++;
    }
    this.lastHit = true;
    return Promise.resolve();
  }

  /**
   * Counts a read (R), write (W) or write-zeroes (Z) request over blocks first..last and runs
   * the admission filter and the policy over them, in arrival order; sets lastHit. Returns how
   * many blocks hit.
   */
  #account(
    op: "R" | "W" | "Z",
    offset: number,
    length: number,
    first: number,
    last: number,
    fua: boolean,
  ): number {
    const s = this.stats;
    const read = op === "R";
    const n = last - first + 1;
    if (read) {
      s.readRequests++;
      s.readBytes += length;
      s.readBlocks += n;
    } else {
      s.writeRequests++;
      s.writeBytes += length;
      s.writeBlocks += n;
    }
    let hits = 0;
    if (this.#admit(op, offset, length, fua)) {
      hits = this.#access(first, last, !read, read ? this.#cacheOnRead : true);
    } else this.#bypass(first, last);
    if (read) s.readHits += hits;
    else s.writeHits += hits;
    this.lastHit = hits === n;
    if (hits === n) {
      if (read) s.readWholeHits++;
      else s.writeWholeHits++;
    }
    return hits;
  }

  // ---- read -------------------------------------------------------------------------------

  /** Reads through the cache. */
  read(offset: number, buf: Uint8Array): Promise<void> {
    const length = buf.length;
    const bad = this.#start(offset, length, false);
    if (bad) return bad;
    if (length === 0) return this.#empty(true);
    const bs = this.#bs;
    const first = Math.floor(offset / bs);
    const last = Math.floor((offset + length - 1) / bs);
    const n = last - first + 1;
    const hits = this.#account("R", offset, length, first, last, false);

    // Fast path: every block resident, filled, and nobody queued on it (so no evicted copy is
    // owed either: a retired entry always has a lock queued). Answered now, returning DONE.
    if (hits === n && !this.#anyLocked(first, last)) {
      if (first === last) {
        const e = this.#resident.get(first);
        if (e !== undefined && e.valid) {
          const s0 = offset - first * bs;
          if (s0 === 0 && length === e.data.length) buf.set(e.data);
          else buf.set(e.data.subarray(s0, s0 + length));
          return DONE;
        }
      } else {
        let ok = true;
        for (let b = first; b <= last && ok; b++) ok = this.#resident.get(b)?.valid === true;
        if (ok) {
          this.#copyOut(first, last, offset, buf);
          return DONE;
        }
      }
    }
    const [wait, release] = this.#lock(first, last);
    return this.#readSlow(wait, release, first, last, offset, buf);
  }

  #copyOut(first: number, last: number, offset: number, buf: Uint8Array): void {
    const bs = this.#bs;
    const end = offset + buf.length;
    for (let b = first; b <= last; b++) {
      const e = this.#entry(b)!;
      const s = Math.max(offset, b * bs);
      const t = Math.min(end, (b + 1) * bs);
      buf.set(e.data.subarray(s - b * bs, t - b * bs), s - offset);
    }
  }

  async #readSlow(
    wait: Promise<unknown> | null,
    release: Release,
    first: number,
    last: number,
    offset: number,
    buf: Uint8Array,
  ): Promise<void> {
    try {
      if (wait) await wait;
      const bs = this.#bs;
      const end = offset + buf.length;
      let b = first;
      while (b <= last) {
        const e = this.#entry(b);
        if (e?.valid) {
          const s = Math.max(offset, b * bs);
          const t = Math.min(end, (b + 1) * bs);
          buf.set(e.data.subarray(s - b * bs, t - b * bs), s - offset);
          b++;
          continue;
        }
        // A run of blocks the device must supply, read in one request.
        let z = b;
        while (z + 1 <= last && !this.#entry(z + 1)?.valid) z++;
        const runStart = b * bs;
        const runEnd = Math.min((z + 1) * bs, this.size);
        const s = Math.max(offset, runStart);
        const t = Math.min(end, runEnd);
        let src: Uint8Array;
        if (s === runStart && t === runEnd) {
          src = buf.subarray(s - offset, t - offset);
          await this.#inner.read(s, src);
        } else {
          src = new Uint8Array(runEnd - runStart);
          await this.#inner.read(runStart, src);
          buf.set(src.subarray(s - runStart, t - runStart), s - offset);
        }
        for (let k = b; k <= z; k++) {
          const fe = this.#entry(k);
          if (fe && !fe.valid) {
            fe.data.set(src.subarray((k - b) * bs, (k - b) * bs + fe.data.length));
            fe.valid = true;
          }
        }
        b = z + 1;
      }
    } finally {
      release();
    }
  }

  // ---- write ------------------------------------------------------------------------------

  /** Writes through the cache according to the mode. */
  write(offset: number, data: Uint8Array, flags?: WriteFlags): Promise<void> {
    const length = data.length;
    const bad = this.#start(offset, length, true);
    if (bad) return bad;
    if (length === 0) return this.#empty(false);
    const bs = this.#bs;
    const first = Math.floor(offset / bs);
    const last = Math.floor((offset + length - 1) / bs);
    this.#account("W", offset, length, first, last, flags?.fua === true);
    const fua = flags?.fua === true && this.mode !== "unsafe";

    // Fast path (write-back, no FUA): every block resident and filled or fully overwritten.
    if (this.mode !== "writethrough" && !fua && !this.#anyLocked(first, last)) {
      let ok = true;
      for (let b = first; b <= last && ok; b++) {
        const e = this.#resident.get(b);
        ok = e !== undefined && (e.valid || this.#covers(b, offset, length));
      }
      if (ok) {
        this.#copyIn(first, last, offset, data, true);
        return Promise.resolve();
      }
    }
    const [wait, release] = this.#lock(first, last);
    return this.#writeSlow(wait, release, first, last, offset, data, fua);
  }

  #covers(b: number, offset: number, length: number): boolean {
    const bs = this.#bs;
    return offset <= b * bs && offset + length >= b * bs + this.#blockLen(b);
  }

  /** Copies `data` into the entries of first..last (those that exist and are usable). */
  #copyIn(first: number, last: number, offset: number, data: Uint8Array, dirty: boolean): void {
    const bs = this.#bs;
    const end = offset + data.length;
    for (let b = first; b <= last; b++) {
      const e = this.#entry(b);
      if (!e) continue;
      const s = Math.max(offset, b * bs);
      const t = Math.min(end, (b + 1) * bs);
      if (!e.valid) {
        if (t - s < e.data.length) continue; // partial over an unfilled entry: filled first
        e.valid = true;
      }
      e.data.set(data.subarray(s - offset, t - offset), s - b * bs);
      if (dirty) this.#setDirty(e, true);
    }
  }

  /** Fills unfilled entries of the (partially covered) edge blocks from the device. */
  async #fillEdges(first: number, last: number, offset: number, length: number): Promise<void> {
    for (const b of first === last ? [first] : [first, last]) {
      const e = this.#entry(b);
      if (e && !e.valid && !this.#covers(b, offset, length)) {
        await this.#inner.read(b * this.#bs, e.data);
        e.valid = true;
      }
    }
  }

  async #writeSlow(
    wait: Promise<unknown> | null,
    release: Release,
    first: number,
    last: number,
    offset: number,
    data: Uint8Array,
    fua: boolean,
  ): Promise<void> {
    try {
      if (wait) await wait;
      const bs = this.#bs;
      await this.#fillEdges(first, last, offset, data.length);
      if (this.mode === "writethrough") {
        try {
          await this.#inner.write(offset, data, { fua: fua });
        } catch (e) {
          // The image did not take it: make the cached copies refill from the image.
          for (let b = first; b <= last; b++) {
            const en = this.#entry(b);
            if (en) en.valid = false;
          }
          throw e;
        }
        this.#copyIn(first, last, offset, data, false);
        return;
      }
      if (fua) {
        // Durable before the reply: the bytes go to the device with FUA; blocks wholly
        // overwritten are then clean, partially written ones keep their dirty state.
        await this.#inner.write(offset, data, { fua: true });
        const wasDirty: boolean[] = [];
        for (let b = first; b <= last; b++) wasDirty.push(this.#entry(b)?.dirty === true);
        this.#copyIn(first, last, offset, data, false);
        for (let b = first; b <= last; b++) {
          const e = this.#entry(b);
          if (e) this.#setDirty(e, wasDirty[b - first] && !this.#covers(b, offset, data.length));
        }
        return;
      }
      this.#copyIn(first, last, offset, data, true);
      // Blocks with no entry go to the device, in runs.
      const end = offset + data.length;
      let b = first;
      while (b <= last) {
        if (this.#entry(b)?.valid) {
          b++;
          continue;
        }
        let z = b;
        while (z + 1 <= last && !this.#entry(z + 1)?.valid) z++;
        const s = Math.max(offset, b * bs);
        const t = Math.min(end, (z + 1) * bs);
        await this.#inner.write(s, data.subarray(s - offset, t - offset));
        b = z + 1;
      }
    } finally {
      release();
    }
  }

  // ---- zero, trim, flush --------------------------------------------------------------------

  /** Zeroes on the device and in resident copies. */
  zero(offset: number, length: number, flags?: ZeroFlags): Promise<void> {
    const bad = this.#start(offset, length, true);
    if (bad) return bad;
    if (length === 0) return this.#empty(false);
    const bs = this.#bs;
    const first = Math.floor(offset / bs);
    const last = Math.floor((offset + length - 1) / bs);
    this.#account("Z", offset, length, first, last, flags?.fua === true);
    const [wait, release] = this.#lock(first, last);
    const fua = flags?.fua === true && this.mode !== "unsafe";
    return (async () => {
      try {
        if (wait) await wait;
        await this.#fillEdges(first, last, offset, length);
        await this.#inner.zero(offset, length, { ...flags, fua });
        const end = offset + length;
        for (let b = first; b <= last; b++) {
          const e = this.#entry(b);
          if (!e) continue;
          const s0 = Math.max(offset, b * bs) - b * bs;
          const t0 = Math.min(end, (b + 1) * bs) - b * bs;
          if (!e.valid) {
            if (t0 - s0 < e.data.length) continue;
            e.valid = true;
          }
          e.data.fill(0, s0, t0);
          // Wholly zeroed blocks now match the device.
          if (this.#covers(b, offset, length)) this.#setDirty(e, false);
        }
      } finally {
        release();
      }
    })();
  }

  /** Drops the blocks from the cache (as the simulator does) and trims the device. */
  trim(offset: number, length: number, flags?: WriteFlags): Promise<void> {
    const bad = this.#start(offset, length, true);
    if (bad) return bad;
    this.stats.trims++;
    this.#observe("T", offset, length, flags?.fua === true);
    if (length === 0) return Promise.resolve();
    const bs = this.#bs;
    const first = Math.floor(offset / bs);
    const last = Math.floor((offset + length - 1) / bs);
    const [wait, release] = this.#lock(first, last);
    for (let b = first; b <= last; b++) {
      this.policy.remove(b);
      this.#retire(b);
    }
    const fua = flags?.fua === true && this.mode !== "unsafe";
    return (async () => {
      try {
        if (wait) await wait;
        // Dirty data wholly inside the trimmed range need not be written back.
        for (let b = first; b <= last; b++) {
          const e = this.#entry(b);
          if (e && this.#covers(b, offset, length)) this.#setDirty(e, false);
        }
        await this.#inner.trim(offset, length, { fua });
      } finally {
        release();
      }
    })();
  }

  /** Writes every dirty block back (in runs), then flushes the device. */
  flush(): Promise<void> {
    this.lastHit = undefined;
    if (this.#closed) return Promise.reject(new BlockError("ESHUTDOWN", `${this.name}: closed`));
    this.stats.flushes++;
    this.#observe("F", 0, 0, false);
    if (this.mode === "unsafe") return Promise.resolve();
    return this.#writeBackAll(true);
  }

  /**
   * FLUSH for one byte range (one export of many behind a shared cache): writes back only the
   * dirty blocks inside it, then flushes only what is below it, so it never waits on, or fails
   * for, other ranges' dirty data. Counts as a flush; the admission filter sees an F.
   */
  flushRange(offset: number, length: number): Promise<void> {
    this.lastHit = undefined;
    if (this.#closed) return Promise.reject(new BlockError("ESHUTDOWN", `${this.name}: closed`));
    this.stats.flushes++;
    this.#observe("F", 0, 0, false);
    if (this.mode === "unsafe") return Promise.resolve();
    const first = Math.floor(offset / this.#bs);
    const last = Math.floor((offset + length - 1) / this.#bs);
    return this.#writeBackAll(true, { first, last, offset, length });
  }

  #writeBackAll(
    flushDevice: boolean,
    range?: { first: number; last: number; offset: number; length: number },
  ): Promise<void> {
    let dirty = [...this.#dirty];
    if (range) dirty = dirty.filter((e) => e.block >= range.first && e.block <= range.last);
    const blocks = [...new Set(dirty.map((e) => e.block))].sort((a, b) => a - b);
    const [wait, release] = blocks.length > 0 ? this.#lock(1, 0, blocks) : [null, () => {}];
    return (async () => {
      try {
        if (wait) await wait;
        const bs = this.#bs;
        let i = 0;
        while (i < blocks.length) {
          const e = this.#entry(blocks[i]);
          if (!e?.dirty) {
            i++;
            continue;
          }
          const run: Entry[] = [e];
          while (i + run.length < blocks.length) {
            const nb = blocks[i + run.length];
            const ne = this.#entry(nb);
            if (nb !== e.block + run.length || !ne?.dirty || run.length >= 256) break;
            run.push(ne);
          }
          let buf: Uint8Array;
          if (run.length === 1) buf = e.data;
          else {
            buf = new Uint8Array(run.reduce((n, r) => n + r.data.length, 0));
            let at = 0;
            for (const r of run) {
              buf.set(r.data, at);
              at += r.data.length;
            }
          }
          await this.#inner.write(e.block * bs, buf);
          for (const r of run) {
            this.#setDirty(r, false);
            this.stats.writebacks++;
            if (this.#resident.get(r.block) !== r) this.#forget(r);
          }
          i += run.length;
        }
        if (flushDevice) {
          await (range
            ? flushRangeOf(this.#inner, range.offset, range.length)
            : this.#inner.flush());
        }
      } finally {
        release();
      }
    })();
  }

  // ---- block status ------------------------------------------------------------------------

  /** Byte ranges of dirty blocks inside [offset, end), sorted, adjacent blocks merged. */
  #dirtyRanges(offset: number, end: number): [number, number][] {
    if (this.#dirty.size === 0) return [];
    const bs = this.#bs;
    const first = Math.floor(offset / bs);
    const last = Math.floor((end - 1) / bs);
    const blocks: number[] = [];
    if (last - first + 1 <= this.#dirty.size) {
      for (let b = first; b <= last; b++) {
        const e = this.#entry(b);
        if (e?.dirty || this.#resident.get(b)?.dirty) blocks.push(b);
      }
    } else {
      for (const e of this.#dirty) if (e.block >= first && e.block <= last) blocks.push(e.block);
      blocks.sort((a, b) => a - b);
    }
    const out: [number, number][] = [];
    for (const b of blocks) {
      const s = Math.max(offset, b * bs);
      const t = Math.min(end, (b + 1) * bs);
      const prev = out[out.length - 1];
      if (prev && prev[1] >= s) prev[1] = Math.max(prev[1], t);
      else out.push([s, t]);
    }
    return out;
  }

  /**
   * The device's extents, with the blocks this cache holds dirty reported as data: the device
   * does not know about them yet. Blocks dirty before or after the device answers both count,
   * so a write-back racing the query cannot make written data look like a hole.
   */
  async extents(offset: number, length: number): Promise<BlockExtent[]> {
    this.#check(offset, length, false);
    const before = this.#dirtyRanges(offset, offset + length);
    const inner = await extentsOf(this.#inner, offset, length);
    const covered = inner.reduce((n, e) => n + e.length, 0);
    const end = offset + covered;
    const after = this.#dirtyRanges(offset, end);
    const all = [...before.filter(([s]) => s < end), ...after].sort((a, b) => a[0] - b[0]);
    const merged: [number, number][] = [];
    for (const [s, t] of all) {
      const prev = merged[merged.length - 1];
      if (prev && prev[1] >= s) prev[1] = Math.max(prev[1], Math.min(t, end));
      else merged.push([s, Math.min(t, end)]);
    }
    return overlayData(inner, offset, merged);
  }

  /** Writes back every dirty block (all modes), flushes and closes the device below. */
  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#writeBackAll(true);
      // Wait for every queued operation (write-backs of evictions included).
      while (this.#tails.size > 0) await Promise.all([...this.#tails.values()]);
      if (this.#dirty.size > 0) await this.#writeBackAll(true);
    } finally {
      this.#closed = true;
      this.#resident.clear();
      this.#evicting.clear();
      await this.#inner.close();
    }
  }
}
