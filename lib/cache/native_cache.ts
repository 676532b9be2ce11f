/**
 * The native twin of a policy plus the simulator's hot loop (native/cache_*.c), behind one
 * handle: replay a whole binary trace file in one FFI call (mmapped, off the JS thread), or
 * column batches, and read back the same {@linkcode SimResult} the TS Simulator gives. Each
 * native policy makes exactly the decisions of its TS twin (lib/cache/<name>.ts), which
 * lib/cache/native_twin_test.ts checks access by access. A policy without a twin (Belady's OPT)
 * is not available here: `hasNativeTwin` says so and callers use the TS engine for it.
 *
 * @example
 * ```ts
 * import { NativeCache } from "./native_cache.ts";
 * const c = new NativeCache("lru", 1024, 4096);
 * try {
 *   await c.runFile("trace.bin");
 *   console.log(c.result().hitRatio);
 * } finally {
 *   c.close();
 * }
 * ```
 *
 * @module
 */
import { native } from "../ffi/ffi.ts";
import { check } from "../ffi/errno.ts";
import { TraceFormatError } from "../trace/jsonl.ts";
import { ORACLE_RECORD_SIZE, oracleOffset } from "../trace/oracle_general.ts";
import type { OpCounts, SimResult } from "./simulate.ts";
import { parsePolicySpec } from "./policy_params.ts";
import { CacheMemoryError } from "./errors.ts";

/** Words of the native result array (CACHE_OUT_WORDS), in native/cache.h's order. */
const W = {
  reads: 0,
  writes: 6,
  flushes: 12,
  trims: 13,
  bypassedRequests: 14,
  bypassedBlocks: 15,
  records: 16,
  used: 17,
  memBytes: 18,
  capacity: 19,
  errKind: 20,
  errRecord: 21,
  errValue: 22,
  cpuNs: 23,
  words: 24,
} as const;

const EBADMSG = 74;
const ENOMEM = 12;
/** native/cache.h's CACHE_ERR_NO_MEMORY. */
const ERR_NO_MEMORY = 7;
/** CACHE_ERR_ORACLE_EXTENT (native/cache.h): the record's extent is checked again here. */
const ORACLE_EXTENT = 8;

/** The trace files the native replay maps itself. */
export type FileTraceFormat = "bin" | "oracleGeneral";

/**
 * Throws the TS reader's own error for oracleGeneral record `rec` (1-based) of `path`, which
 * the native replay refused: the same record, the same words.
 */
function oracleRecordError(path: string, rec: number): never {
  const f = Deno.openSync(path);
  try {
    const b = new Uint8Array(ORACLE_RECORD_SIZE);
    f.seekSync((rec - 1) * ORACLE_RECORD_SIZE, Deno.SeekMode.Start);
    let n = 0;
    while (n < b.length) {
      const r = f.readSync(b.subarray(n));
      if (r === null) break;
      n += r;
    }
    oracleOffset(new DataView(b.buffer), 0, rec);
  } finally {
    f.close();
  }
  throw new TraceFormatError(rec, "obj_id * obj_size ends past 2^53");
}
const ECANCELED = 125;

const enc = new TextEncoder();
const cstr = (s: string) => enc.encode(s + "\0");

let loadError: string | undefined;
let loaded = false;

/**
 * Why the native engine cannot run here (the library is missing or stale), or undefined when
 * it can.
 */
export function nativeUnavailable(): string | undefined {
  if (!loaded) {
    loaded = true;
    try {
      native().cache_policy_known(cstr("lru"));
    } catch (e) {
      loadError = (e as Error).message;
    }
  }
  return loadError;
}

/** True when `policy` (a name, or NAME(key=value,...)) has a native twin (and the library loads). */
export function hasNativeTwin(policy: string): boolean {
  let name = policy;
  if (policy.includes("(")) {
    try {
      name = parsePolicySpec(policy).name;
    } catch {
      return false;
    }
  }
  return nativeUnavailable() === undefined && native().cache_policy_known(cstr(name)) === 1;
}

function counts(c: BigUint64Array, at: number): OpCounts {
  return {
    requests: Number(c[at]),
    blocks: Number(c[at + 1]),
    hits: Number(c[at + 2]),
    bytes: Number(c[at + 3]),
    hitBytes: Number(c[at + 4]),
    wholeHits: Number(c[at + 5]),
  };
}

/** What a column batch needs (a BinaryChunk or TraceColumns fits). */
export interface NativeBatch {
  count: number;
  op: Uint8Array;
  off: Float64Array;
  len: Float64Array;
}

/** One native policy with its simulator counters. Call `close()` when done. */
export class NativeCache {
  readonly handle: number;
  private readonly out = new BigUint64Array(W.words);
  private closed = false;
  #interrupted = false;

  /** Opens `policy` (a name `createPolicy` knows and that has a twin) for `capacity` blocks. */
  constructor(
    readonly policy: string,
    readonly capacity: number,
    readonly blockSize: number,
  ) {
    if (!Number.isSafeInteger(capacity) || capacity < 0) {
      throw new RangeError(`capacity must be a non-negative whole number of blocks: ${capacity}`);
    }
    if (!(blockSize > 0) || !Number.isInteger(blockSize)) {
      throw new RangeError(`block size must be a positive integer, got ${blockSize}`);
    }
    const spec = parsePolicySpec(policy);
    this.handle = check(
      spec.params.length
        ? native().cache_open_with(
          cstr(spec.name),
          BigInt(capacity),
          BigInt(blockSize),
          new Float64Array(spec.params),
          spec.params.length,
        )
        : native().cache_open(cstr(spec.name), BigInt(capacity), BigInt(blockSize)),
      `native cache ${spec.label} of ${capacity} blocks`,
    );
  }

  /**
   * One block access (as CachePolicy.access); true on a hit. Throws {@linkcode CacheMemoryError}
   * when the node table could not grow for it (the cache is then as it was before the call).
   */
  access(block: number, isWrite: boolean): boolean {
    const rc = native().cache_access(this.handle, BigInt(block), isWrite ? 1 : 0);
    if (rc === -ENOMEM) throw new CacheMemoryError(this.policy, this.capacity);
    return check(rc, "access") === 1;
  }

  /** True when the block is resident. */
  has(block: number): boolean {
    return check(native().cache_has(this.handle, BigInt(block)), "has") === 1;
  }

  /** Drops a block if resident. */
  remove(block: number): void {
    check(native().cache_remove(this.handle, BigInt(block)), "remove");
  }

  /** Replays a batch of requests; `mask[i]` = 0 marks a request the admission filter refused. */
  feed(batch: NativeBatch, mask?: Uint8Array): void {
    if (batch.count === 0) return;
    this.#fed(
      native().cache_feed(
        this.handle,
        batch.op,
        batch.off,
        batch.len,
        mask ?? null,
        batch.count,
      ),
    );
  }

  /**
   * `feed` off the JS thread: the event loop (signal listeners included) runs meanwhile, and
   * `cancel()` stops it within a few thousand records or blocks. The batch's arrays must not
   * change until the promise settles.
   */
  async feedAsync(batch: NativeBatch, mask?: Uint8Array): Promise<void> {
    if (batch.count === 0) return;
    this.#fed(
      await native().cache_feed_async(
        this.handle,
        batch.op,
        batch.off,
        batch.len,
        mask ?? null,
        batch.count,
      ),
    );
  }

  #fed(rc: number): void {
    if (rc === -ECANCELED) {
      this.#interrupted = true;
      return;
    }
    const oom = this.#memoryError(rc);
    if (oom) throw oom;
    if (rc < 0) {
      this.fetch();
      throw new TraceFormatError(
        Number(this.out[W.errRecord]),
        "op code or extent the native simulator cannot take " +
          "(offsets must be integers and requests end at or below 2^53)",
      );
    }
  }

  /**
   * Stops a running `feedAsync` or `runFile` soon (and makes later ones return at once); the
   * figures then cover what was replayed and `interrupted` is true.
   */
  cancel(): void {
    if (!this.closed) native().cache_cancel(this.handle);
  }

  /** True once a replay stopped early on `cancel()`: the figures are partial. */
  get interrupted(): boolean {
    return this.#interrupted;
  }

  /**
   * Sets PDC's exact admission for `runFile`: a request overlapping one of the journal `ranges`
   * (byte ranges; sorted, disjoint and non-empty, as RangeSet normalizes them) or, with
   * `refuseJournalTag`, tagged class "journal" is refused, as `pdcAdmission(ExactDetector)`.
   */
  setExactAdmission(
    ranges: readonly { off: number; len: number }[],
    refuseJournalTag: boolean,
  ): void {
    const pairs = new Float64Array(Math.max(1, ranges.length * 2));
    ranges.forEach((r, i) => {
      pairs[2 * i] = r.off;
      pairs[2 * i + 1] = r.off + r.len;
    });
    check(
      native().cache_set_admission(this.handle, pairs, ranges.length, refuseJournalTag ? 1 : 0),
      "admission ranges",
    );
  }

  /**
   * Replays a whole trace file, hvkit's binary form or libCacheSim's oracleGeneral, mmapped, in
   * one call off the JS thread. Throws TraceFormatError (with the record number) on a malformed
   * file, as the TS reader does. oracleGeneral takes no PDC admission (nothing to tag).
   */
  async runFile(path: string, format: FileTraceFormat = "bin"): Promise<void> {
    const code = format === "oracleGeneral" ? 1 : 0;
    const rc = await native().cache_run_file_as(this.handle, cstr(path), code, this.out);
    if (rc === -ECANCELED) {
      this.#interrupted = true;
      return;
    }
    if (rc === -EBADMSG) {
      const rec = Number(this.out[W.errRecord]);
      const kind = Number(this.out[W.errKind]);
      if (kind === ORACLE_EXTENT) oracleRecordError(path, rec); // throws the TS reader's error
      const reason = [
        "",
        "truncated binary trace header",
        "not an hvkit binary trace",
        `unsupported record size ${this.out[W.errValue]}`,
        `bad op code ${this.out[W.errValue]} in binary record`,
        "truncated binary record at the end",
        "offset is not a non-negative integer below 2^53, or the request ends past 2^53",
        "", // NO_MEMORY: not a trace error (-ENOMEM)
        "", // ORACLE_EXTENT, above
        "truncated oracleGeneral record at the end",
      ][kind] ?? `bad record (kind ${kind})`;
      throw new TraceFormatError(rec, reason);
    }
    const oom = this.#memoryError(rc);
    if (oom) throw oom;
    if (rc === -2) throw new Deno.errors.NotFound(`${path}: no such file`);
    check(rc, path);
  }

  /** A replay's -ENOMEM: CacheMemoryError when a table could not grow (else undefined). */
  #memoryError(rc: number): CacheMemoryError | undefined {
    if (rc !== -ENOMEM) return undefined;
    const out = this.fetch();
    if (Number(out[W.errKind]) !== ERR_NO_MEMORY) return undefined;
    return new CacheMemoryError(this.policy, this.capacity, Number(out[W.errRecord]));
  }

  private fetch(): BigUint64Array {
    check(native().cache_result(this.handle, this.out), "result");
    return this.out;
  }

  /** Requests (records other than device names) replayed so far. */
  get records(): number {
    return Number(this.fetch()[W.records]);
  }

  /** Resident blocks now. */
  get used(): number {
    return Number(this.fetch()[W.used]);
  }

  /** Bytes the native policy allocated (pool, index, ghosts, heap). */
  get memoryBytes(): number {
    return Number(this.fetch()[W.memBytes]);
  }

  /** Thread CPU seconds spent replaying files (`runFile`), all calls together. */
  get cpuSeconds(): number {
    return Number(this.fetch()[W.cpuNs]) / 1e9;
  }

  /** The figures so far, in the TS simulator's shape. */
  result(): SimResult {
    const c = this.fetch();
    const r = counts(c, W.reads), w = counts(c, W.writes);
    const accesses = r.blocks + w.blocks;
    const hits = r.hits + w.hits;
    const bytes = r.bytes + w.bytes;
    const reqs = r.requests + w.requests;
    return {
      policy: this.policy,
      capacityBlocks: this.capacity,
      blockSize: this.blockSize,
      reads: r,
      writes: w,
      flushes: Number(c[W.flushes]),
      trims: Number(c[W.trims]),
      bypassedRequests: Number(c[W.bypassedRequests]),
      bypassedBlocks: Number(c[W.bypassedBlocks]),
      accesses,
      hits,
      hitRatio: accesses ? hits / accesses : 0,
      byteHitRatio: bytes ? (r.hitBytes + w.hitBytes) / bytes : 0,
      wholeRequestHitShare: reqs ? (r.wholeHits + w.wholeHits) / reqs : 0,
    };
  }

  /** Frees the native policy (idempotent). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    native().cache_close(this.handle);
  }
}
