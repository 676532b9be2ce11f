/**
 * The IOTLB: a direct-mapped cache of page translations, tagged by endpoint (like a PCIe
 * device's ATC), in typed arrays so that a hit costs a hash, two compares and a mask.
 *
 * Two invalidation modes, as Linux's IOMMU DMA layer has them:
 * - `strict`: an UNMAP invalidates the affected entries before it completes.
 * - `deferred`: an UNMAP queues its invalidation; the queue is flushed when it holds
 *   `flushBatch` ranges or its oldest entry is `flushTimeoutNs` old (Linux's flush queue:
 *   256 entries, 10 ms). Until then the stale entries still translate. The IOTLB measures
 *   that window (unmap to flush) and counts every DMA a stale entry served.
 *
 * @module
 */

/** Invalidation mode. */
export type InvalidationMode = "strict" | "deferred";

/** IOTLB settings. */
export interface IotlbOptions {
  /** Number of entries, a power of two (default 4096). */
  entries?: number;
  mode?: InvalidationMode;
  /** Deferred mode: flush when this many ranges are queued (default 256). */
  flushBatch?: number;
  /** Deferred mode: flush when the oldest queued range is this old, in ns (default 10 ms). */
  flushTimeoutNs?: number;
  /** Clock in nanoseconds (default: performance.now()). The audit drives it from trace times. */
  now?: () => number;
}

/** Counters of an IOTLB. */
export interface IotlbStats {
  mode: InvalidationMode;
  hits: number;
  misses: number;
  /** DMA page accesses served by an entry whose mapping was already unmapped. */
  staleHits: number;
  /** Ranges invalidated (queued or immediate). */
  invalidations: number;
  flushes: number;
  /** Unmap-to-flush windows measured (deferred mode). */
  windows: number;
  maxWindowNs: number;
  meanWindowNs: number;
}

interface Pending {
  endpoints: number[];
  firstPage: number;
  lastPage: number;
  since: number;
}

const GOLDEN = 0x9e3779b1;
/** Bytes per IOTLB entry (see {@linkcode Iotlb.f64}). */
export const ENTRY_BYTES = 32;

/**
 * A direct-mapped, endpoint-tagged translation cache.
 *
 * @example
 * ```ts
 * import { Iotlb } from "./iotlb.ts";
 * const tlb = new Iotlb({ entries: 256 });
 * tlb.fill(8, 0x10, 0xa0, 3);
 * tlb.lookup(8, 0x10); // index >= 0
 * ```
 */
export class Iotlb {
  readonly mask: number;
  readonly mode: InvalidationMode;
  /**
   * The entries, 32 bytes each so that one lookup touches one cache line (the native hit
   * path in native/pviommu_dma.c reads the same layout). Entry `i` is, as views:
   * `f64[4i]` IOVA page number (tag), `f64[4i+1]` guest-physical page number,
   * `f64[4i+2]` stale since (0 when valid; the unmap time in ns, > 0, when stale but not yet
   * flushed), `i32[8i+6]` endpoint ID (tag, -1 when empty), `u8[32i+28]` MAP_F_READ|WRITE.
   */
  readonly f64: Float64Array;
  readonly i32: Int32Array;
  readonly u8: Uint8Array;
  readonly flushBatch: number;
  readonly flushTimeoutNs: number;
  readonly now: () => number;
  /**
   * Hits and stale hits, in an array so that the native DMA path counts into it too. Its own
   * ArrayBuffer, so it lives outside V8's heap: a small typed array made by length can live
   * inside the heap, where a garbage collection moves it under the pointer C holds.
   */
  readonly counters: Float64Array = new Float64Array(new ArrayBuffer(64), 0, 2);
  misses = 0;
  invalidations = 0;
  flushes = 0;
  #windows = 0;
  #maxWindow = 0;
  #sumWindow = 0;
  #pending: Pending[] = [];

  constructor(opts: IotlbOptions = {}) {
    const n = opts.entries ?? 4096;
    if (n < 1 || (n & (n - 1)) !== 0) throw new RangeError(`IOTLB entries must be a power of 2`);
    this.mask = n - 1;
    this.mode = opts.mode ?? "strict";
    this.flushBatch = opts.flushBatch ?? 256;
    this.flushTimeoutNs = opts.flushTimeoutNs ?? 10_000_000;
    this.now = opts.now ?? (() => performance.now() * 1e6);
    const buf = new ArrayBuffer(n * ENTRY_BYTES);
    this.f64 = new Float64Array(buf);
    this.i32 = new Int32Array(buf);
    this.u8 = new Uint8Array(buf);
    for (let i = 0; i < n; i++) this.i32[i * 8 + 6] = -1;
  }

  /** Translations served from the IOTLB. */
  get hits(): number {
    return this.counters[0];
  }
  set hits(n: number) {
    this.counters[0] = n;
  }

  /** DMA page accesses served by a stale entry (deferred mode). */
  get staleHits(): number {
    return this.counters[1];
  }
  set staleHits(n: number) {
    this.counters[1] = n;
  }

  /** Endpoint tag of slot `i` (-1 when empty). */
  tagEp(i: number): number {
    return this.i32[i * 8 + 6];
  }

  /** IOVA page tag of slot `i`. */
  tagPage(i: number): number {
    return this.f64[i * 4];
  }

  /** Guest-physical page number of slot `i`. */
  gpaPage(i: number): number {
    return this.f64[i * 4 + 1];
  }

  /** MAP_F_READ | MAP_F_WRITE of slot `i`. */
  perm(i: number): number {
    return this.u8[i * 32 + 28];
  }

  /** 0 when slot `i` is valid, else when its mapping was unmapped (ns). */
  staleSince(i: number): number {
    return this.f64[i * 4 + 2];
  }

  #drop(i: number): void {
    this.i32[i * 8 + 6] = -1;
  }

  /** The slot an (endpoint, page) pair lives in. */
  slot(endpoint: number, page: number): number {
    return ((page ^ Math.imul(endpoint, GOLDEN)) >>> 0) & this.mask;
  }

  /** The slot holding (endpoint, page), or -1. Counts nothing. */
  lookup(endpoint: number, page: number): number {
    const i = this.slot(endpoint, page);
    return this.i32[i * 8 + 6] === endpoint && this.f64[i * 4] === page ? i : -1;
  }

  /** Installs a translation (replacing whatever shared its slot). */
  fill(endpoint: number, page: number, gpaPage: number, perm: number): number {
    const i = this.slot(endpoint, page);
    this.i32[i * 8 + 6] = endpoint;
    this.f64[i * 4] = page;
    this.f64[i * 4 + 1] = gpaPage;
    this.u8[i * 32 + 28] = perm;
    this.f64[i * 4 + 2] = 0;
    return i;
  }

  /** Number of entries of an endpoint for pages in [first, last] (one scan of the table). */
  countRange(endpoint: number, first: number, last: number): number {
    let n = 0;
    for (let i = 0; i <= this.mask; i++) {
      if (this.tagEp(i) === endpoint) {
        const p = this.tagPage(i);
        if (p >= first && p <= last) n++;
      }
    }
    return n;
  }

  /** Drops every entry of an endpoint now (attach and detach are always synchronous). */
  invalidateEndpoint(endpoint: number): void {
    for (let i = 0; i <= this.mask; i++) {
      if (this.tagEp(i) === endpoint) this.#drop(i);
    }
  }

  /** Drops entries of these endpoints in [firstPage, lastPage] now, whatever the mode. */
  invalidateNow(endpoints: number[], firstPage: number, lastPage: number): void {
    this.#forEach(endpoints, firstPage, lastPage, (i) => this.#drop(i));
  }

  /**
   * An UNMAP's invalidation of [firstPage, lastPage] for the endpoints of the domain:
   * immediate in strict mode, queued in deferred mode.
   */
  invalidateRange(endpoints: number[], firstPage: number, lastPage: number): void {
    this.invalidations++;
    if (this.mode === "strict") {
      this.invalidateNow(endpoints, firstPage, lastPage);
      return;
    }
    const since = Math.max(this.now(), 1);
    this.#forEach(endpoints, firstPage, lastPage, (i) => {
      if (this.f64[i * 4 + 2] === 0) this.f64[i * 4 + 2] = since;
    });
    this.#pending.push({ endpoints, firstPage, lastPage, since });
    if (this.#pending.length >= this.flushBatch) this.flush();
  }

  /** Deferred mode: flushes the queue if its oldest range timed out. Call it now and then. */
  tick(): void {
    const p = this.#pending[0];
    if (p !== undefined && this.now() - p.since >= this.flushTimeoutNs) this.flush();
  }

  /** Number of ranges waiting for a flush. */
  get pending(): number {
    return this.#pending.length;
  }

  /** Completes every queued invalidation and records each range's stale window. */
  flush(): void {
    if (this.#pending.length === 0) return;
    const t = this.now();
    for (const p of this.#pending) {
      this.#forEach(p.endpoints, p.firstPage, p.lastPage, (i) => {
        if (this.staleSince(i) !== 0) this.#drop(i);
      });
      const w = Math.max(0, t - p.since);
      this.#windows++;
      this.#sumWindow += w;
      if (w > this.#maxWindow) this.#maxWindow = w;
    }
    this.#pending = [];
    this.flushes++;
  }

  /** The counters so far. */
  stats(): IotlbStats {
    return {
      mode: this.mode,
      hits: this.hits,
      misses: this.misses,
      staleHits: this.staleHits,
      invalidations: this.invalidations,
      flushes: this.flushes,
      windows: this.#windows,
      maxWindowNs: this.#maxWindow,
      meanWindowNs: this.#windows ? this.#sumWindow / this.#windows : 0,
    };
  }

  #forEach(endpoints: number[], first: number, last: number, f: (i: number) => void): void {
    const pages = last - first + 1;
    if (pages * endpoints.length <= this.mask + 1) {
      for (const ep of endpoints) {
        for (let p = first; p <= last; p++) {
          const i = this.slot(ep, p);
          if (this.tagEp(i) === ep && this.tagPage(i) === p) f(i);
        }
      }
      return;
    }
    const set = new Set(endpoints);
    for (let i = 0; i <= this.mask; i++) {
      if (this.tagEp(i) >= 0 && set.has(this.tagEp(i))) {
        const p = this.tagPage(i);
        if (p >= first && p <= last) f(i);
      }
    }
  }
}
