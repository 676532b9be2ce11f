/**
 * Per-export accounting for many exports behind one cache (QBic's many VMs on one host): each
 * export's requests, block accesses and hits, bytes cached, evictions it caused and suffered,
 * device I/O and request latency percentiles. An {@linkcode ExportMeter} layer sits on top of
 * each export's stack and tells the shared {@linkcode ExportLedger} which export is issuing the
 * request; the cache's eviction hook (CacheLayer's `onEvicted`) and the statistics layer's
 * counters (cache_stats.ts) are read synchronously inside that call, so attributions are exact,
 * not sampled.
 *
 * @module
 */
import type { BlockDevice, WriteFlags, ZeroFlags } from "./block_device.ts";
import { PassThroughLayer } from "./pass_through.ts";
import { type BlockExtent, extentsOf, type ExtentSource } from "./extents.ts";
import { type HitSource, isHitSource } from "./hit_source.ts";
import { Histogram } from "../stats/histogram.ts";

/** The block counters of a cache, as the statistics layer (cache_stats.ts) has them. */
export interface BlockCounters {
  readBlocks: number;
  writeBlocks: number;
  readHits: number;
  writeHits: number;
}

/** One export's figures. */
export interface ExportFigures {
  name: string;
  requests: number;
  reads: number;
  writes: number;
  flushes: number;
  errors: number;
  readBytes: number;
  writeBytes: number;
  /** Block accesses (a request over n blocks is n) and those that hit. */
  accesses: number;
  hits: number;
  evictionsCaused: number;
  evictionsSuffered: number;
  /** Request latency, issue to completion, in nanoseconds. */
  latency: Histogram;
}

function emptyFigures(name: string): ExportFigures {
  return {
    name,
    requests: 0,
    reads: 0,
    writes: 0,
    flushes: 0,
    errors: 0,
    readBytes: 0,
    writeBytes: 0,
    accesses: 0,
    hits: 0,
    evictionsCaused: 0,
    evictionsSuffered: 0,
    latency: new Histogram(),
  };
}

/** The shared book: who is issuing now, whose block an evicted one is. */
export class ExportLedger {
  readonly exports: ExportFigures[];
  /** The export whose request is being issued (synchronously), or -1. */
  current = -1;

  /**
   * @param names the exports, in order
   * @param ownerOf the export a cache block belongs to (for a shared cache: by its offset)
   */
  constructor(names: string[], readonly ownerOf: (cacheIndex: number, block: number) => number) {
    this.exports = names.map(emptyFigures);
  }

  /** The eviction hook for cache `cacheIndex` (0 for a shared cache). */
  evictionHook(cacheIndex: number): (block: number) => void {
    return (block) => {
      const owner = this.ownerOf(cacheIndex, block);
      if (owner >= 0) this.exports[owner].evictionsSuffered++;
      if (this.current >= 0) this.exports[this.current].evictionsCaused++;
    };
  }
}

/**
 * The top of one export's stack: counts its requests into the ledger.
 *
 * @example
 * ```ts
 * import { MemoryDevice } from "./memory_device.ts";
 * import { ExportLedger, ExportMeter } from "./export_meter.ts";
 * const ledger = new ExportLedger(["vm1"], () => 0);
 * const vm1 = new ExportMeter(new MemoryDevice(1 << 20), 0, ledger, null);
 * await vm1.read(0, new Uint8Array(4096));
 * ledger.exports[0].reads; // 1
 * ```
 */
export class ExportMeter extends PassThroughLayer implements BlockDevice, ExtentSource, HitSource {
  readonly #fig: ExportFigures;

  /**
   * @param counters the block counters of the cache this export's requests reach (null: none)
   */
  constructor(
    inner: BlockDevice,
    readonly index: number,
    readonly ledger: ExportLedger,
    readonly counters: BlockCounters | null,
  ) {
    super(inner);
    this.#fig = ledger.exports[index];
  }

  get lastHit(): boolean | undefined {
    return isHitSource(this.inner) ? this.inner.lastHit : undefined;
  }

  /** Issues `io` as this export; counts accesses and hits from the cache's counters. */
  #issue(io: () => Promise<void>): Promise<void> {
    const f = this.#fig;
    const c = this.counters;
    const a0 = c ? c.readBlocks + c.writeBlocks : 0;
    const h0 = c ? c.readHits + c.writeHits : 0;
    const t0 = performance.now();
    this.ledger.current = this.index;
    let p: Promise<void>;
    try {
      p = io();
    } finally {
      this.ledger.current = -1;
    }
    if (c) {
      f.accesses += c.readBlocks + c.writeBlocks - a0;
      f.hits += c.readHits + c.writeHits - h0;
    }
    f.requests++;
    return p.then(
      () => f.latency.record(Math.round((performance.now() - t0) * 1e6)),
      (e) => {
        f.errors++;
        throw e;
      },
    );
  }

  read(offset: number, buf: Uint8Array): Promise<void> {
    this.#fig.reads++;
    this.#fig.readBytes += buf.length;
    return this.#issue(() => this.inner.read(offset, buf));
  }
  write(offset: number, data: Uint8Array, flags?: WriteFlags): Promise<void> {
    this.#fig.writes++;
    this.#fig.writeBytes += data.length;
    return this.#issue(() => this.inner.write(offset, data, flags));
  }
  flush(): Promise<void> {
    this.#fig.flushes++;
    return this.#issue(() => this.inner.flush());
  }
  trim(offset: number, length: number, flags?: WriteFlags): Promise<void> {
    return this.#issue(() => this.inner.trim(offset, length, flags));
  }
  zero(offset: number, length: number, flags?: ZeroFlags): Promise<void> {
    this.#fig.writes++;
    this.#fig.writeBytes += length;
    return this.#issue(() => this.inner.zero(offset, length, flags));
  }
  extents(offset: number, length: number): Promise<BlockExtent[]> {
    return extentsOf(this.inner, offset, length);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
