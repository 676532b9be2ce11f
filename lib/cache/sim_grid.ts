/**
 * Runs a grid of (policy, cache size) simulations over one trace. Two engines make the same
 * decisions: `native` (the default) runs each policy that has a native twin in C
 * (lib/cache/native_cache.ts) — over the mmapped file in one call when the grid has one native
 * cell, the trace is a binary file and the admission filter is none or PDC's exact one (a range
 * check the native loop makes itself), else over the same column chunks the TS engine reads,
 * with the filter's answers, all native cells in parallel off the JS thread; `ts` runs every
 * policy in TypeScript. A policy without a twin (Belady's
 * OPT) runs in TypeScript under either engine; each cell says which engine ran it.
 *
 * Chunks are read once and every streaming simulator sees each in turn, so a large trace is
 * never held whole — except when Belady's OPT is in the grid, which needs the whole access
 * sequence first (the chunks are then kept in memory and replayed). The admission filter, if
 * any, is asked once per request and its answers are shared by every simulator.
 *
 * Interruptible: when `signal` aborts, native replays are cancelled (native/cache_sim.c stops
 * within a few thousand records or blocks), TypeScript cells stop at the next slice of about
 * 2^20 block accesses, and the grid returns what was replayed with `interrupted` set.
 *
 * @module
 */
import type { BinaryChunk } from "../trace/binary.ts";
import { chunkRecord, isBinaryTrace, isNoAccessOp } from "../trace/binary.ts";
import { detectCompression } from "../trace/decompress.ts";
import { type AdmissionFilter, type CachePolicy, demotes } from "./policy.ts";
import { createPolicy } from "./registry.ts";
import { type FutureAware, type SimResult, Simulator } from "./simulate.ts";
import {
  type FileTraceFormat,
  hasNativeTwin,
  NativeCache,
  nativeUnavailable,
} from "./native_cache.ts";
import type { PdcAdmission } from "./pdc_admission.ts";
import { ExactDetector } from "../pdc/journal_detector.ts";
import { Breather, untilAborted } from "../cli/event_loop.ts";
import { parsePolicySpec } from "./policy_params.ts";

/** Which implementation runs the policies. */
export type SimEngine = "native" | "ts";

/** The engines `--engine` accepts. */
export const SIM_ENGINES: readonly SimEngine[] = ["native", "ts"];

/** One cell of the grid. */
export interface GridCell {
  policy: string;
  /** The policy with its effective parameters, `s3fifo(fifo-size-ratio=0.1,...)`. */
  label: string;
  /** Cache size in bytes as given. */
  sizeBytes: number;
  result: SimResult;
  /** The engine that ran this cell. */
  engine: SimEngine;
  /** Bytes the native policy allocated (native cells only). */
  memoryBytes?: number;
  /** Thread CPU seconds of the native replay of the mapped file (native file cells only). */
  cpuSeconds?: number;
}

/** What a grid run found. */
export interface GridResult {
  requests: number;
  cells: GridCell[];
  /** Wall time spent in the simulators (ms), all cells together. */
  simMs: number;
  /** True when `signal` stopped the run: every figure covers only a prefix of the trace. */
  interrupted: boolean;
}

/** Options of {@linkcode runGrid}. */
export interface GridOptions {
  /** Default `native`. */
  engine?: SimEngine;
  /**
   * The trace's path when it is a binary trace file on disk (see {@linkcode binaryTraceFile}):
   * native cells then replay it mmapped instead of reading the chunks.
   */
  binaryFile?: string;
  /** The form of `binaryFile` (default `bin`): libCacheSim's oracleGeneral maps too. */
  fileFormat?: FileTraceFormat;
  /** Stops the run early (SIGINT/SIGTERM); the partial figures are returned. */
  signal?: AbortSignal;
  /** Called after each chunk every cell has replayed, with the requests so far (streaming). */
  onProgress?: (requests: number) => void;
}

/**
 * The file and its form when `path` is a trace file on disk the native engine can map and
 * replay itself: hvkit's binary form (by its magic) or an uncompressed oracleGeneral file
 * (named by `--format oracleGeneral` or by its name, as lib/trace/read_trace.ts decides).
 * Undefined for stdin, compressed input and every other format (those stream).
 */
export async function mappableTraceFile(
  path: string,
  format?: string,
): Promise<{ path: string; format: FileTraceFormat } | undefined> {
  if (path === "-" || (format !== undefined && format !== "bin" && format !== "oracleGeneral")) {
    return undefined;
  }
  let f: Deno.FsFile;
  try {
    f = await Deno.open(path, { read: true });
  } catch {
    return undefined; // the reader reports it
  }
  try {
    if (!(await f.stat()).isFile) return undefined;
    const buf = new Uint8Array(16);
    let n = 0;
    while (n < buf.length) {
      const r = await f.read(buf.subarray(n));
      if (r === null) break;
      n += r;
    }
    const head = buf.subarray(0, n);
    if (detectCompression(head)) return undefined;
    const named = format ?? (/\.oracleGeneral(\.|$)/i.test(path) ? "oracleGeneral" : undefined);
    if (named === "oracleGeneral") return { path, format: "oracleGeneral" };
    return isBinaryTrace(head) ? { path, format: "bin" } : undefined;
  } finally {
    f.close();
  }
}

/**
 * The journal ranges when `admission` is PDC with the exact detector (a per-request range check
 * and a tag test, which the native replay of a mapped file does itself), else undefined.
 */
function exactPdcRanges(
  admission?: AdmissionFilter,
): readonly { off: number; len: number }[] | undefined {
  const d = (admission as Partial<PdcAdmission> | undefined)?.detector;
  const plain = (admission as Partial<PdcAdmission> | undefined)?.checkpoint == null &&
    !demotes(admission);
  return admission?.name === "pdc" && d instanceof ExactDetector && plain
    ? d.set.ranges
    : undefined;
}

function maskOf(c: BinaryChunk, admission?: AdmissionFilter): Uint8Array | undefined {
  if (!admission || admission.name === "all") return undefined;
  if (demotes(admission)) throw new RangeError(`${admission.label}: the grid cannot demote`);
  const m = new Uint8Array(c.count);
  for (let i = 0; i < c.count; i++) {
    const op = c.op[i];
    if (isNoAccessOp(op)) {
      admission.observe?.(chunkRecord(c, i)); // flushes teach a stream-learning filter (PDC)
      m[i] = 1;
    } else m[i] = admission.admit(chunkRecord(c, i)) ? 1 : 0;
  }
  return m;
}

/** Feeds records `from..to` (default: all) of one chunk to one TS simulator (the TS hot loop). */
export function feedChunk(
  sim: Simulator,
  c: BinaryChunk,
  mask?: Uint8Array,
  from = 0,
  to = c.count,
): void {
  const op = c.op, off = c.off, len = c.len;
  if (mask) { for (let i = from; i < to; i++) sim.stepRaw(op[i], off[i], len[i], mask[i] === 1); }
  else for (let i = from; i < to; i++) sim.stepRaw(op[i], off[i], len[i], true);
}

/** Block accesses a TypeScript cell makes between two looks at the abort signal. */
const TS_SLICE_BLOCKS = 1 << 20;

interface Cell {
  policy: string;
  sizeBytes: number;
  sim?: Simulator;
  nat?: NativeCache;
}

/**
 * Feeds one chunk to one cell; false when `signal` aborted before the chunk was done. Native
 * cells run off the JS thread; TS cells in slices of about TS_SLICE_BLOCKS block accesses with a
 * turn of the event loop between slices when one is due, so a signal listener can run.
 */
async function feedCell(
  cell: Cell,
  c: BinaryChunk,
  blockSize: number,
  breather: Breather,
  mask?: Uint8Array,
  signal?: AbortSignal,
): Promise<boolean> {
  if (cell.nat) {
    if (!signal) cell.nat.feed(c, mask);
    else await cell.nat.feedAsync(c, mask);
    return !cell.nat.interrupted;
  }
  let i = 0;
  while (i < c.count) {
    let j = i, blocks = 0;
    while (j < c.count && blocks < TS_SLICE_BLOCKS) blocks += c.len[j++] / blockSize + 1;
    feedChunk(cell.sim!, c, mask, i, j);
    i = j;
    await breather.maybe();
    if (signal?.aborted) return false;
  }
  return true;
}

/**
 * Runs every (policy, size) pair over the chunks (or, for native cells, the binary file).
 * Throws when the native engine is asked for and the native library does not load.
 */
export function runGrid(
  chunks: AsyncIterable<BinaryChunk>,
  policies: string[],
  sizesBytes: number[],
  blockSize: number,
  admission?: AdmissionFilter,
  opts: GridOptions = {},
): Promise<GridResult> {
  const pairs = policies.flatMap((policy) =>
    sizesBytes.map((sizeBytes) => ({ policy, sizeBytes }))
  );
  return runCells(chunks, pairs, blockSize, admission, opts);
}

/**
 * Runs the given (policy, size) cells over the chunks, in one pass (a part of a grid, as
 * `sim --shard` gives each process). Throws when the native engine is asked for and the native
 * library does not load.
 */
export async function runCells(
  chunks: AsyncIterable<BinaryChunk>,
  pairs: readonly { policy: string; sizeBytes: number }[],
  blockSize: number,
  admission?: AdmissionFilter,
  opts: GridOptions = {},
): Promise<GridResult> {
  const engine = opts.engine ?? "native";
  if (engine === "native") {
    const why = nativeUnavailable();
    if (why) throw new Error(`the native engine is unavailable (use --engine ts): ${why}`);
  }
  const cells: Cell[] = [];
  const signal = opts.signal;
  const cancelNative = () => {
    for (const c of cells) c.nat?.cancel();
  };
  signal?.addEventListener("abort", cancelNative);
  try {
    for (const { policy: p, sizeBytes: s } of pairs) {
      const blocks = Math.floor(s / blockSize);
      if (engine === "native" && hasNativeTwin(p)) {
        cells.push({ policy: p, sizeBytes: s, nat: new NativeCache(p, blocks, blockSize) });
      } else {
        const policy: CachePolicy = createPolicy(p, blocks);
        cells.push({ policy: p, sizeBytes: s, sim: new Simulator(policy, blockSize) });
      }
    }
    const needMask = admission !== undefined && admission.name !== "all";
    const ranges = exactPdcRanges(admission);
    // One native cell replays the mapped file itself; several share one streaming pass over it
    // (each chunk read once, the native cells fed it in parallel), so the file is read once
    // whatever the grid and memory is the caches plus one chunk.
    const nativeCells = cells.filter((c) => c.nat).length;
    const fileFormat = opts.fileFormat ?? "bin";
    // oracleGeneral records carry no tag and no op: PDC's admission needs the streaming path.
    const fromFile = opts.binaryFile !== undefined && nativeCells === 1 &&
      (!needMask || (ranges !== undefined && fileFormat === "bin"));
    let requests = -1, simMs = 0;
    if (fromFile) {
      for (const cell of cells) {
        if (!cell.nat) continue;
        if (ranges) cell.nat.setExactAdmission(ranges, true);
        const t = performance.now();
        await cell.nat.runFile(opts.binaryFile!, fileFormat);
        simMs += performance.now() - t;
        // An interrupted cell holds fewer; the grid reports the first (complete) count.
        if (requests < 0 || !cell.nat.interrupted) requests = cell.nat.records;
      }
    }
    const streaming = cells.filter((c) => !(fromFile && c.nat));
    if (streaming.length > 0 && !signal?.aborted) {
      const r = await stream(chunks, streaming, blockSize, admission, signal, opts.onProgress);
      requests = r.requests;
      simMs += r.simMs;
    }
    return {
      requests: Math.max(requests, 0),
      simMs,
      interrupted: signal?.aborted === true || cells.some((c) => c.nat?.interrupted),
      cells: cells.map((c) => ({
        policy: c.policy,
        label: parsePolicySpec(c.policy).label,
        sizeBytes: c.sizeBytes,
        result: c.nat ? c.nat.result() : c.sim!.result(),
        engine: c.nat ? "native" : "ts",
        ...(c.nat ? { memoryBytes: c.nat.memoryBytes } : {}),
        ...(c.nat && fromFile ? { cpuSeconds: c.nat.cpuSeconds } : {}),
      })),
    };
  } finally {
    signal?.removeEventListener("abort", cancelNative);
    for (const c of cells) c.nat?.close();
  }
}

/**
 * Feeds one chunk to every cell: the native cells off the JS thread, in parallel with each other
 * and with the TypeScript cells (which run on this thread meanwhile). False when the run was
 * interrupted before the chunk was done. Every native feed is settled before this returns, even
 * when one fails, so no native call outlives the cells it uses.
 */
async function feedCells(
  cells: Cell[],
  c: BinaryChunk,
  blockSize: number,
  breather: Breather,
  mask?: Uint8Array,
  signal?: AbortSignal,
): Promise<boolean> {
  const natives = cells.filter((x) => x.nat);
  if (natives.length <= 1) {
    for (const cell of cells) {
      if (!await feedCell(cell, c, blockSize, breather, mask, signal)) return false;
    }
    return true;
  }
  const running = Promise.allSettled(natives.map((x) => x.nat!.feedAsync(c, mask)));
  let whole = true, tsError: unknown = undefined;
  try {
    for (const cell of cells) {
      if (!cell.nat && !await feedCell(cell, c, blockSize, breather, mask, signal)) {
        whole = false;
        break;
      }
    }
  } catch (e) {
    tsError = e ?? new Error("TypeScript cell failed");
  }
  const settled = await running;
  if (tsError !== undefined) throw tsError;
  const failed = settled.find((r) => r.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
  return whole && !natives.some((x) => x.nat!.interrupted);
}

async function stream(
  chunks: AsyncIterable<BinaryChunk>,
  cells: Cell[],
  blockSize: number,
  admission?: AdmissionFilter,
  signal?: AbortSignal,
  onProgress?: (requests: number) => void,
): Promise<{ requests: number; simMs: number }> {
  const future = cells.some((c) =>
    c.sim && typeof (c.sim.policy as Partial<FutureAware>).prepare === "function"
  );
  const breather = new Breather();
  // Requests every cell has seen whole (an interrupted run counts the complete chunks only).
  let requests = 0, simMs = 0;
  const feedAll = (c: BinaryChunk, mask?: Uint8Array): Promise<boolean> =>
    feedCells(cells, c, blockSize, breather, mask, signal);
  if (!future) {
    for await (const c of untilAborted(chunks, signal)) {
      const mask = maskOf(c, admission);
      const t = performance.now();
      const whole = await feedAll(c, mask);
      simMs += performance.now() - t;
      if (!whole) break;
      requests += c.count;
      onProgress?.(requests);
      await breather.maybe();
      if (signal?.aborted) break;
    }
    return { requests, simMs };
  }
  const held: { c: BinaryChunk; mask?: Uint8Array }[] = [];
  let total = 0;
  for await (const c of untilAborted(chunks, signal)) {
    const mask = maskOf(c, admission);
    held.push({ c, mask });
    for (let i = 0; i < c.count; i++) {
      const op = c.op[i];
      if (isNoAccessOp(op) || c.len[i] === 0 || (mask && !mask[i])) continue;
      total += Math.floor((c.off[i] + c.len[i] - 1) / blockSize) -
        Math.floor(c.off[i] / blockSize) + 1;
    }
    await breather.maybe();
    if (signal?.aborted) break; // OPT over the prefix read so far
  }
  const seq = new Float64Array(total);
  let k = 0;
  for (const { c, mask } of held) {
    for (let i = 0; i < c.count; i++) {
      const op = c.op[i];
      if (isNoAccessOp(op) || c.len[i] === 0 || (mask && !mask[i])) continue;
      const last = Math.floor((c.off[i] + c.len[i] - 1) / blockSize);
      for (let b = Math.floor(c.off[i] / blockSize); b <= last; b++) seq[k++] = b;
    }
  }
  for (const cell of cells) {
    const p = cell.sim?.policy as Partial<FutureAware> | undefined;
    if (p && typeof p.prepare === "function") p.prepare(seq);
  }
  const t = performance.now();
  for (const { c, mask } of held) {
    if (!await feedAll(c, mask)) break;
    requests += c.count;
    onProgress?.(requests);
  }
  simMs += performance.now() - t;
  return { requests, simMs };
}
