/**
 * The simulator: replays I/O records through one policy, block by block, exactly as the live
 * cache (`qbic-cache serve`) drives the same policy object, so hit counts can be compared.
 *
 * Semantics, per record:
 * - R, W and Z (zero writes count as writes) covering blocks `floor(off/bs)..floor((off+len-1)/bs)`
 *   are that many accesses, in ascending block order: `policy.access(block, isWrite)`.
 * - A request the admission filter refuses does not touch the policy's state except that every
 *   cached copy of its blocks is dropped (`policy.remove`); its blocks count as accesses that
 *   missed ("bypassed"). A filter that demotes (`refusal: "demote"`) has a refused request's
 *   blocks accessed as usual, then moved to the eviction end (`policy.demote`): counted as
 *   "demoted", hits and misses as any access. Only `Simulator.step` demotes (the column paths,
 *   which take a yes/no mask, refuse such a filter).
 * - F (flush) is not an access; it is only counted. T (trim) removes its blocks from the cache
 *   (`policy.remove`) and is not an access. Zero-length requests touch nothing.
 *
 * Figures: `hitRatio` is hits / block accesses (what libCacheSim reports over a pre-split
 * trace); `byteHitRatio` counts the request bytes that fell in hit blocks; and
 * `wholeRequestHitShare` is the share of R/W/Z requests whose every block hit. Reads and writes
 * are also counted separately.
 *
 * @module
 */
import type { IoOp, IoRecord } from "../trace/io_record.ts";
import { type AdmissionFilter, type CachePolicy, checkDemote, demotes } from "./policy.ts";

/** Counters for one kind of request (reads, or writes + zeroes). */
export interface OpCounts {
  requests: number;
  /** Block accesses. */
  blocks: number;
  hits: number;
  bytes: number;
  hitBytes: number;
  /** Requests whose every block hit. */
  wholeHits: number;
}

/** What one simulation found. */
export interface SimResult {
  policy: string;
  capacityBlocks: number;
  blockSize: number;
  reads: OpCounts;
  /** Writes and zero writes. */
  writes: OpCounts;
  flushes: number;
  trims: number;
  /** Requests refused by the admission filter, and their blocks. */
  bypassedRequests: number;
  bypassedBlocks: number;
  /** Block accesses (reads + writes). */
  accesses: number;
  hits: number;
  /** hits / accesses (0 when there were none). */
  hitRatio: number;
  /** Bytes in hit blocks / bytes requested. */
  byteHitRatio: number;
  /** Share of R/W/Z requests whose every block hit (not the same as hitRatio). */
  wholeRequestHitShare: number;
}

/** Op codes of the column form (and of the binary trace). */
export const OP_CODE: Record<IoOp, number> = { R: 0, W: 1, F: 2, T: 3, Z: 4 };
/** Op letters by code. */
export const OP_LETTER: IoOp[] = ["R", "W", "F", "T", "Z"];

/** A policy that needs to see the whole future first (Belady's OPT). */
export interface FutureAware {
  /** Receives the sequence of blocks that `access` will be called with, in order. */
  prepare(accessSequence: Float64Array): void;
}

function isFutureAware(p: unknown): p is FutureAware {
  return typeof (p as FutureAware).prepare === "function";
}

function zeroCounts(): OpCounts {
  return { requests: 0, blocks: 0, hits: 0, bytes: 0, hitBytes: 0, wholeHits: 0 };
}

/**
 * Incremental simulator: feed records one at a time with `step`, read `result()` at any time.
 * Belady needs `simulate`/`simulateColumns`, which look ahead.
 */
export class Simulator {
  readonly reads = zeroCounts();
  readonly writes = zeroCounts();
  flushes = 0;
  trims = 0;
  bypassedRequests = 0;
  bypassedBlocks = 0;
  /** Refused requests a demoting filter cached at the eviction end (not in bypassed). */
  demotedRequests = 0;
  readonly #demote: boolean;

  constructor(
    readonly policy: CachePolicy,
    readonly blockSize: number,
    readonly admission?: AdmissionFilter,
  ) {
    if (!(blockSize > 0) || !Number.isInteger(blockSize)) {
      throw new RangeError(`block size must be a positive integer, got ${blockSize}`);
    }
    checkDemote(admission, policy);
    this.#demote = demotes(admission);
  }

  /** One record. */
  step(rec: IoRecord): void {
    const code = OP_CODE[rec.op];
    let admitted = true;
    if (this.admission) {
      if (code === 2 || code === 3) this.admission.observe?.(rec);
      else admitted = this.admission.admit(rec);
    }
    this.stepRaw(code, rec.off, rec.len, admitted);
  }

  /**
   * One request in column form; `admitted` is the admission filter's answer (a refusal is a
   * demotion when the Simulator was built with a demoting filter).
   */
  stepRaw(code: number, off: number, len: number, admitted: boolean): void {
    if (code === 2) {
      this.flushes++;
      return;
    }
    const policy = this.policy, bs = this.blockSize;
    if (code === 3) {
      this.trims++;
      if (len === 0) return;
      const last = Math.floor((off + len - 1) / bs);
      for (let b = Math.floor(off / bs); b <= last; b++) policy.remove(b);
      return;
    }
    const c = code === 0 ? this.reads : this.writes;
    c.requests++;
    if (len === 0) {
      c.wholeHits++;
      return;
    }
    const first = Math.floor(off / bs);
    const last = Math.floor((off + len - 1) / bs);
    const n = last - first + 1;
    c.blocks += n;
    c.bytes += len;
    if (!admitted && !this.#demote) {
      this.bypassedRequests++;
      this.bypassedBlocks += n;
      for (let b = first; b <= last; b++) policy.remove(b);
      return;
    }
    const isWrite = code !== 0;
    let hits = 0;
    if (n === 1) {
      if (policy.access(first, isWrite)) {
        hits = 1;
        c.hitBytes += len;
      }
    } else {
      const end = off + len;
      for (let b = first; b <= last; b++) {
        if (policy.access(b, isWrite)) {
          hits++;
          c.hitBytes += Math.min(end, (b + 1) * bs) - Math.max(off, b * bs);
        }
      }
    }
    c.hits += hits;
    if (hits === n) c.wholeHits++;
    if (!admitted) {
      this.demotedRequests++;
      for (let b = first; b <= last; b++) policy.demote!(b);
    }
  }

  /** The figures so far. */
  result(): SimResult {
    const r = this.reads, w = this.writes;
    const accesses = r.blocks + w.blocks;
    const hits = r.hits + w.hits;
    const bytes = r.bytes + w.bytes;
    const reqs = r.requests + w.requests;
    return {
      policy: this.policy.name,
      capacityBlocks: this.policy.capacity,
      blockSize: this.blockSize,
      reads: { ...r },
      writes: { ...w },
      flushes: this.flushes,
      trims: this.trims,
      bypassedRequests: this.bypassedRequests,
      bypassedBlocks: this.bypassedBlocks,
      accesses,
      hits,
      hitRatio: accesses ? hits / accesses : 0,
      byteHitRatio: bytes ? (r.hitBytes + w.hitBytes) / bytes : 0,
      wholeRequestHitShare: reqs ? (r.wholeHits + w.wholeHits) / reqs : 0,
    };
  }
}

/** A trace held as columns (what the binary reader produces): the fast path. */
export interface TraceColumns {
  count: number;
  op: Uint8Array;
  off: Float64Array;
  len: Float64Array;
  /** Optional: when present, records are rebuilt for a non-trivial admission filter. */
  ts?: Float64Array;
}

/** Builds columns from records (keeps only what the simulator needs). */
export function toColumns(records: Iterable<IoRecord>): TraceColumns {
  let cap = 1024, n = 0;
  let op = new Uint8Array(cap), off = new Float64Array(cap), len = new Float64Array(cap);
  let ts = new Float64Array(cap);
  for (const r of records) {
    if (n === cap) {
      cap *= 2;
      const o2 = new Uint8Array(cap), f2 = new Float64Array(cap), l2 = new Float64Array(cap);
      const t2 = new Float64Array(cap);
      o2.set(op), f2.set(off), l2.set(len), t2.set(ts);
      op = o2, off = f2, len = l2, ts = t2;
    }
    op[n] = OP_CODE[r.op];
    off[n] = r.off;
    len[n] = r.len;
    ts[n] = r.ts;
    n++;
  }
  return { count: n, op, off, len, ts };
}

/** The block sequence `access` will see (for Belady), given which requests are admitted. */
export function accessSequence(
  cols: TraceColumns,
  blockSize: number,
  admitted?: Uint8Array,
): Float64Array {
  let total = 0;
  for (let i = 0; i < cols.count; i++) {
    const c = cols.op[i];
    if (c === 2 || c === 3 || cols.len[i] === 0 || (admitted && !admitted[i])) continue;
    total += Math.floor((cols.off[i] + cols.len[i] - 1) / blockSize) -
      Math.floor(cols.off[i] / blockSize) + 1;
  }
  const seq = new Float64Array(total);
  let k = 0;
  for (let i = 0; i < cols.count; i++) {
    const c = cols.op[i];
    if (c === 2 || c === 3 || cols.len[i] === 0 || (admitted && !admitted[i])) continue;
    const last = Math.floor((cols.off[i] + cols.len[i] - 1) / blockSize);
    for (let b = Math.floor(cols.off[i] / blockSize); b <= last; b++) seq[k++] = b;
  }
  return seq;
}

/** The yes/no mask paths cannot demote: a demoting filter there is a set-up error. */
function noDemote(admission: AdmissionFilter | undefined): void {
  if (demotes(admission)) {
    throw new RangeError(`${admission!.label ?? admission!.name}: demotion needs Simulator.step`);
  }
}

/** Asks the admission filter about every R/W/Z request of the columns (F/T: `observe`). */
export function admissionMask(cols: TraceColumns, admission: AdmissionFilter): Uint8Array {
  noDemote(admission);
  const mask = new Uint8Array(cols.count);
  for (let i = 0; i < cols.count; i++) {
    const c = cols.op[i];
    const rec: IoRecord = {
      ts: cols.ts ? cols.ts[i] : 0,
      op: OP_LETTER[c],
      off: cols.off[i],
      len: cols.len[i],
    };
    if (c === 2 || c === 3) {
      admission.observe?.(rec);
      mask[i] = 1;
      continue;
    }
    mask[i] = admission.admit(rec) ? 1 : 0;
  }
  return mask;
}

/**
 * Replays columns through `policy` (the fast path). A filter that keeps per-stream state sees
 * the requests in order, once, before the replay.
 */
export function simulateColumns(
  cols: TraceColumns,
  policy: CachePolicy,
  blockSize: number,
  admission?: AdmissionFilter,
): SimResult {
  const mask = admission && admission.name !== "all" ? admissionMask(cols, admission) : undefined;
  if (isFutureAware(policy)) policy.prepare(accessSequence(cols, blockSize, mask));
  const sim = new Simulator(policy, blockSize);
  const op = cols.op, off = cols.off, len = cols.len;
  for (let i = 0; i < cols.count; i++) {
    sim.stepRaw(op[i], off[i], len[i], mask ? mask[i] === 1 : true);
  }
  return sim.result();
}

/**
 * Replays records through `policy`, block by block (see the module comment for the rules).
 *
 * @example
 * ```ts
 * import { simulate } from "./simulate.ts";
 * import { createPolicy } from "./registry.ts";
 * const r = simulate([{ ts: 0, op: "R", off: 0, len: 8192 }], createPolicy("lru", 4), 4096);
 * r.accesses; // 2
 * ```
 */
export function simulate(
  records: Iterable<IoRecord>,
  policy: CachePolicy,
  blockSize: number,
  admission?: AdmissionFilter,
): SimResult {
  if (isFutureAware(policy)) {
    noDemote(admission);
    // Belady looks ahead: hold the records, ask the filter once per record, in order.
    const list = Array.isArray(records) ? records as IoRecord[] : [...records];
    const cols = toColumns(list);
    let mask: Uint8Array | undefined;
    if (admission && admission.name !== "all") {
      mask = new Uint8Array(list.length);
      for (let i = 0; i < list.length; i++) {
        const c = cols.op[i];
        if (c === 2 || c === 3) admission.observe?.(list[i]);
        mask[i] = c === 2 || c === 3 || admission.admit(list[i]) ? 1 : 0;
      }
    }
    policy.prepare(accessSequence(cols, blockSize, mask));
    const sim = new Simulator(policy, blockSize);
    for (let i = 0; i < cols.count; i++) {
      sim.stepRaw(cols.op[i], cols.off[i], cols.len[i], mask ? mask[i] === 1 : true);
    }
    return sim.result();
  }
  const sim = new Simulator(policy, blockSize, admission);
  for (const r of records) sim.step(r);
  return sim.result();
}
