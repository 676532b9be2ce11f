/**
 * The cache's block map: which blocks are held in memory, and the policy that decides it.
 * Lookup, admission and eviction run synchronously in arrival order, exactly as
 * lib/cache/simulate.ts drives a {@linkcode CachePolicy}, so a recorded trace replayed through
 * the simulator reproduces the live hit counts:
 * - a request's blocks `floor(off/bs)..floor((off+len-1)/bs)` are accessed in ascending order
 *   with `policy.access(block, isWrite)`; a miss the policy keeps gets an (empty) entry;
 * - a request the admission filter refuses, and a trim, remove their blocks (a demoting
 *   filter's refusal is looked up as usual, then its blocks move to the policy's eviction end).
 * A block that leaves while dirty, or while requests queued before its eviction still need it,
 * stays reachable to them ("evicting") until a task queued behind them settles it (the
 * write-back's job: lib/block/write_back.ts) and lets it go.
 *
 * @module
 */
import { type AdmissionFilter, type CachePolicy, checkDemote, demotes } from "../cache/policy.ts";
import type { IoOp, IoRecord } from "../trace/io_record.ts";
import type { BlockLocks } from "./block_locks.ts";
import type { BlockDevice } from "./block_device.ts";

/** One cached block. */
export interface Entry {
  block: number;
  data: Uint8Array;
  /** Holds the block's current contents (a fresh entry is empty until filled). */
  valid: boolean;
  dirty: boolean;
}

/** Counts of what the map does on its own (the statistics layer shows them). */
export interface MapEvents {
  bypassedRequests: number;
  bypassedBlocks: number;
  evictions: number;
}

/** How the map is set up (part of the cache layer's options). */
export interface BlockMapOptions {
  policy: CachePolicy;
  /** Cache block size in bytes (the policy's unit). */
  blockSize: number;
  /** Keep blocks that read misses bring in (default true); false caches written blocks only. */
  cacheOnRead?: boolean;
  admission?: AdmissionFilter;
  /** Told of each block the policy evicts, synchronously, inside the request that caused it. */
  onEvicted?: (block: number) => void;
}

/**
 * Settles a retired entry, holding its block's lock: resolves true when it may be let go,
 * false to keep it reachable (a write-back that failed and will be retried).
 */
export type Settle = (e: Entry) => Promise<boolean>;

/** Resident blocks, blocks being evicted, and the policy over them. */
export class BlockMap {
  readonly resident = new Map<number, Entry>();
  readonly policy: CachePolicy;
  readonly bs: number;
  readonly size: number;
  /** Entries evicted but still owed to requests queued before their eviction, oldest first. */
  #evicting = new Map<number, Entry[]>();
  #admission: AdmissionFilter | null;
  /** A refusal caches the blocks at the policy's eviction end (`refusal: "demote"`). */
  #demote: boolean;
  #cacheOnRead: boolean;
  #onEvicted: ((block: number) => void) | undefined;

  constructor(
    readonly inner: BlockDevice,
    readonly locks: BlockLocks,
    o: BlockMapOptions,
    readonly events: MapEvents,
    readonly settle: Settle,
  ) {
    this.policy = o.policy;
    this.bs = o.blockSize;
    this.size = inner.size;
    this.#cacheOnRead = o.cacheOnRead ?? true;
    this.#admission = o.admission && o.admission.name !== "all" ? o.admission : null;
    checkDemote(this.#admission, this.policy);
    this.#demote = demotes(this.#admission);
    this.#onEvicted = o.onEvicted;
    this.policy.onEvict = (b) => this.#onEvict(b);
  }

  /** Bytes of block b (the last block of the device may be short). */
  blockLen(b: number): number {
    return Math.min(this.bs, this.size - b * this.bs);
  }

  /** True when [offset, offset+length) covers all of block b. */
  covers(b: number, offset: number, length: number): boolean {
    const bs = this.bs;
    return offset <= b * bs && offset + length >= b * bs + this.blockLen(b);
  }

  /** The entry that holds block b for the current lock holder: evicted-but-owed first. */
  entry(b: number): Entry | undefined {
    const q = this.#evicting.get(b);
    return q ? q[0] : this.resident.get(b);
  }

  /** True when every block of first..last is resident and filled. */
  allValid(first: number, last: number): boolean {
    for (let b = first; b <= last; b++) if (this.resident.get(b)?.valid !== true) return false;
    return true;
  }

  /** Copies first..last (all held) into `buf`, which starts at byte `offset`. */
  copyOut(first: number, last: number, offset: number, buf: Uint8Array): void {
    const bs = this.bs;
    const end = offset + buf.length;
    for (let b = first; b <= last; b++) {
      const e = this.entry(b)!;
      const s = Math.max(offset, b * bs);
      const t = Math.min(end, (b + 1) * bs);
      buf.set(e.data.subarray(s - b * bs, t - b * bs), s - offset);
    }
  }

  /**
   * The fast path of a read whose blocks all hit: when every block is resident, filled and
   * unlocked (so no evicted copy is owed either: a retired entry always has a lock queued),
   * copies them into `buf` now and returns true.
   */
  tryRead(first: number, last: number, offset: number, buf: Uint8Array): boolean {
    if (this.locks.anyLocked(first, last)) return false;
    if (first === last) {
      const e = this.resident.get(first);
      if (e === undefined || !e.valid) return false;
      const s0 = offset - first * this.bs;
      if (s0 === 0 && buf.length === e.data.length) buf.set(e.data);
      else buf.set(e.data.subarray(s0, s0 + buf.length));
      return true;
    }
    if (!this.allValid(first, last)) return false;
    this.copyOut(first, last, offset, buf);
    return true;
  }

  /**
   * A read of blocks first..last, holding their locks: held blocks are copied out, runs of
   * missing ones read from the device in one request each and kept in their (empty) entries.
   */
  async readThrough(first: number, last: number, offset: number, buf: Uint8Array) {
    const bs = this.bs;
    const end = offset + buf.length;
    let b = first;
    while (b <= last) {
      const e = this.entry(b);
      if (e?.valid) {
        const s = Math.max(offset, b * bs);
        const t = Math.min(end, (b + 1) * bs);
        buf.set(e.data.subarray(s - b * bs, t - b * bs), s - offset);
        b++;
        continue;
      }
      // A run of blocks the device must supply, read in one request.
      let z = b;
      while (z + 1 <= last && !this.entry(z + 1)?.valid) z++;
      const runStart = b * bs;
      const runEnd = Math.min((z + 1) * bs, this.size);
      const s = Math.max(offset, runStart);
      const t = Math.min(end, runEnd);
      let src: Uint8Array;
      if (s === runStart && t === runEnd) {
        src = buf.subarray(s - offset, t - offset);
        await this.inner.read(s, src);
      } else {
        src = new Uint8Array(runEnd - runStart);
        await this.inner.read(runStart, src);
        buf.set(src.subarray(s - runStart, t - runStart), s - offset);
      }
      for (let k = b; k <= z; k++) {
        const fe = this.entry(k);
        if (fe && !fe.valid) {
          fe.data.set(src.subarray((k - b) * bs, (k - b) * bs + fe.data.length));
          fe.valid = true;
        }
      }
      b = z + 1;
    }
  }

  #insert(b: number): void {
    if (this.resident.has(b)) return;
    this.resident.set(b, {
      block: b,
      data: new Uint8Array(this.blockLen(b)),
      valid: false,
      dirty: false,
    });
  }

  #onEvict(b: number): void {
    this.events.evictions++;
    this.#onEvicted?.(b);
    this.retire(b);
  }

  /**
   * Takes block b out of the resident set. A clean entry nobody waits for is dropped; otherwise
   * it stays reachable to the requests queued before now, and a task queued behind them
   * settles it (writes it back if dirty) and lets it go.
   */
  retire(b: number): void {
    const e = this.resident.get(b);
    if (!e) return;
    this.resident.delete(b);
    if (!e.dirty && !this.locks.has(b)) return;
    const q = this.#evicting.get(b);
    if (q) q.push(e);
    else this.#evicting.set(b, [e]);
    const [wait, release] = this.locks.lock(b, b);
    (async () => {
      try {
        if (wait) await wait;
        if (await this.settle(e)) this.forget(e);
      } finally {
        release();
      }
    })();
  }

  /** Lets an evicted entry go once nothing is owed on it. */
  forget(e: Entry): void {
    const q = this.#evicting.get(e.block);
    if (!q) return;
    const i = q.indexOf(e);
    if (i >= 0) q.splice(i, 1);
    if (q.length === 0) this.#evicting.delete(e.block);
  }

  /** Asks the admission filter about a read, write or write-zeroes (true: none is set). */
  admit(op: IoOp, offset: number, length: number, fua: boolean): boolean {
    const f = this.#admission;
    if (f === null) return true;
    const rec: IoRecord = { ts: 0, op, off: offset, len: length, dev: this.inner.name };
    if (fua) rec.fua = true;
    return f.admit(rec);
  }

  /** Shows the admission filter a flush or trim, in arrival order (as the simulator does). */
  observe(op: IoOp, offset: number, length: number, fua: boolean): void {
    const f = this.#admission;
    if (f === null || f.observe === undefined) return;
    const rec: IoRecord = { ts: 0, op, off: offset, len: length, dev: this.inner.name };
    if (fua) rec.fua = true;
    f.observe(rec);
  }

  /**
   * Runs the admission filter and the policy over a R, W or Z request's blocks first..last;
   * returns how many hit (0 when the filter refuses it: its blocks are then removed).
   */
  lookup(op: IoOp, offset: number, length: number, first: number, last: number, fua: boolean) {
    const admitted = this.admit(op, offset, length, fua);
    if (!admitted && !this.#demote) {
      this.#bypass(first, last);
      return 0;
    }
    const isWrite = op !== "R";
    const keep = isWrite || this.#cacheOnRead;
    const policy = this.policy;
    let hits = 0;
    for (let b = first; b <= last; b++) {
      if (policy.access(b, isWrite)) hits++;
      else if (policy.has(b)) {
        if (keep) this.#insert(b);
        else policy.remove(b);
      }
    }
    if (!admitted) { for (let b = first; b <= last; b++) policy.demote!(b); }
    return hits;
  }

  #bypass(first: number, last: number): void {
    this.events.bypassedRequests++;
    this.events.bypassedBlocks += last - first + 1;
    this.remove(first, last);
  }

  /** Removes blocks first..last from the policy and the resident set (trim, bypass). */
  remove(first: number, last: number): void {
    for (let b = first; b <= last; b++) {
      this.policy.remove(b);
      this.retire(b);
    }
  }

  /** Drops every entry (after close). */
  clear(): void {
    this.resident.clear();
    this.#evicting.clear();
  }
}
