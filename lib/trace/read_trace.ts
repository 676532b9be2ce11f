/**
 * Reads any supported trace (detected from its first bytes, or named with `format`) as I/O
 * records or as column chunks. Text formats go through a LineParser; the binary forms (hvkit's,
 * libCacheSim's oracleGeneral) are read without parsing text. gzip, zstd and xz input is
 * decompressed as it is read (lib/trace/decompress.ts), detected from its first bytes. With
 * `device`, only the records of that device (or volume) are kept. Malformed lines throw TraceFormatError naming the line, or with
 * `skipBad` are counted in `stats.bad` and skipped. An empty input yields nothing.
 *
 * @module
 */
import type { IoRecord } from "./io_record.ts";
import type { LineParser } from "./line_parser.ts";
import { TraceFormatError } from "./jsonl.ts";
import { MAX_LINE_CHARS } from "./limits.ts";
import { noteInput } from "../cli/stream_io.ts";
import { jsonlParser } from "./jsonl_parser.ts";
import { msrParser } from "./msr_csv.ts";
import { blkparseParser } from "./blkparse.ts";
import { nbdkitLogParser } from "./nbdkit_log.ts";
import { fioIologParser } from "./fio_iolog.ts";
import { alibabaParser } from "./alibaba_csv.ts";
import { tencentParser } from "./tencent_cbs.ts";
import { lcsCsvParser } from "./lcs_csv.ts";
import { readOracleChunks } from "./oracle_general.ts";
import { type Compression, decompress, detectCompression } from "./decompress.ts";
import { peek } from "./peek.ts";
import {
  type BinaryChunk,
  chunkRecord,
  isBinaryTrace,
  newChunk,
  OP_CODES,
  readBinaryChunks,
} from "./binary.ts";

/** Every format name `--format` accepts. */
export const TRACE_FORMATS = [
  "jsonl",
  "bin",
  "msr",
  "blkparse",
  "nbdkit-log",
  "fio-iolog",
  "alibaba",
  "tencent",
  "oracleGeneral",
  "lcs-csv",
] as const;
/** A trace format. */
export type TraceFormat = typeof TRACE_FORMATS[number];

/** The formats read as fixed-size binary records (the rest are text lines). */
type BinaryFormat = "bin" | "oracleGeneral";

const PARSERS: Record<Exclude<TraceFormat, BinaryFormat>, () => LineParser> = {
  alibaba: alibabaParser,
  tencent: tencentParser,
  "lcs-csv": lcsCsvParser,
  jsonl: jsonlParser,
  msr: msrParser,
  blkparse: blkparseParser,
  "nbdkit-log": nbdkitLogParser,
  "fio-iolog": fioIologParser,
};

/** True when `s` names a format. */
export function isTraceFormat(s: string): s is TraceFormat {
  return (TRACE_FORMATS as readonly string[]).includes(s);
}

/** Guesses the format from the first bytes; undefined when nothing matches (or empty). */
export function detectFormat(head: Uint8Array): TraceFormat | undefined {
  if (isBinaryTrace(head)) return "bin";
  const text = new TextDecoder().decode(head.subarray(0, 4096));
  const line = text.split("\n").map((l) => l.trim()).find((l) => l !== "");
  if (line === undefined) return undefined;
  if (line.startsWith("{")) return "jsonl";
  if (/^fio version \d+ iolog/.test(line)) return "fio-iolog";
  if (/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/.test(line)) return "nbdkit-log";
  if (/^\d+,\d+\s+\d+\s+\d+\s+[\d.]+\s/.test(line)) return "blkparse";
  if (/^\d+,[^,]*,\d+,[A-Za-z]+,\d+,\d+,\d+$/.test(line) || /^timestamp,hostname/i.test(line)) {
    return "msr";
  }
  if (/^\d+,[RW],\d+,\d+,\d+$/.test(line)) return "alibaba";
  if (/^\d+,\d+,\d+,[01],\d+$/.test(line)) return "tencent";
  if (/^\d+,\d+,\d+(,-?\d+)?$/.test(line) || /^time,obj_id,obj_size/i.test(line)) {
    return "lcs-csv";
  }
  return undefined;
}

/** Options for reading a trace. */
export interface ReadTraceOptions {
  /** Skip detection. */
  format?: TraceFormat;
  /** Count and skip malformed lines instead of failing. */
  skipBad?: boolean;
  /** Keep only the records whose `dev` is this (a device or volume id); the rest are counted. */
  device?: string;
}

/** What reading found besides records. */
export interface ReadStats {
  format?: TraceFormat;
  /** Malformed lines skipped (with skipBad). */
  bad: number;
  /** The first malformed line's error, when skipped. */
  firstBad?: string;
  /** The compression the input was read through, if any. */
  compression?: Compression;
  /** Records left out by the `device` filter. */
  filtered?: number;
  /** Bytes read from the file so far (compressed bytes when compressed), for progress. */
  bytesRead?: number;
  /** The file's size when it is a regular file (not stdin), for progress. */
  bytesTotal?: number;
}

/**
 * Opens a path (`-` = stdin) as a byte stream read in large blocks; `progress` (optional) counts
 * the bytes read and takes the file's size.
 */
export async function openTraceStream(
  path: string,
  progress?: { bytesRead?: number; bytesTotal?: number },
): Promise<ReadableStream<Uint8Array>> {
  if (path === "-") return Deno.stdin.readable;
  const file = await Deno.open(path, { read: true });
  const st = await file.stat();
  if (st.isDirectory) {
    file.close();
    throw new Deno.errors.IsADirectory(`${path}: is a directory`);
  }
  if (progress) {
    progress.bytesRead = 0;
    if (st.isFile) progress.bytesTotal = st.size;
  }
  noteInput(path, file); // refuses a file that is also this run's output
  const block = 4 << 20;
  return new ReadableStream<Uint8Array>({
    async pull(ctl) {
      const buf = new Uint8Array(block);
      let n: number | null;
      try {
        n = await file.read(buf);
      } catch (e) {
        file.close();
        throw e;
      }
      if (n === null) {
        file.close();
        ctl.close();
      } else {
        if (progress) progress.bytesRead! += n;
        ctl.enqueue(buf.subarray(0, n));
      }
    },
    cancel() {
      file.close();
    },
  });
}

async function* textRecords(
  stream: ReadableStream<Uint8Array>,
  parser: LineParser,
  opts: ReadTraceOptions,
  stats: ReadStats,
): AsyncGenerator<IoRecord> {
  const dec = stream.pipeThrough(new TextDecoderStream());
  let rest = "", n = 0;
  // A line past MAX_LINE_CHARS is refused (or, with skipBad, dropped up to its newline) so a
  // file without newlines cannot grow `rest` without bound.
  let dropping = false;
  const bad = (e: TraceFormatError): null => {
    if (!opts.skipBad) throw e;
    stats.bad++;
    stats.firstBad ??= e.message;
    return null;
  };
  const tooLong = () =>
    new TraceFormatError(n, `line longer than ${MAX_LINE_CHARS} characters (the longest line)`);
  const one = (line: string): IoRecord | null => {
    n++;
    if (line.endsWith("\r")) line = line.slice(0, -1);
    if (line.length > MAX_LINE_CHARS) return bad(tooLong());
    try {
      const r = parser.parse(line, n);
      if (r !== null && opts.device !== undefined && r.dev !== opts.device) {
        stats.filtered = (stats.filtered ?? 0) + 1;
        return null;
      }
      return r;
    } catch (e) {
      if (!(e instanceof TraceFormatError)) throw e;
      return bad(e);
    }
  };
  for await (const chunk of dec) {
    let text = rest + chunk;
    let start = 0, i: number;
    if (dropping) {
      i = text.indexOf("\n");
      if (i < 0) continue;
      dropping = false;
      text = text.slice(i + 1);
    }
    while ((i = text.indexOf("\n", start)) >= 0) {
      const r = one(text.slice(start, i));
      start = i + 1;
      if (r) yield r;
    }
    rest = text.slice(start);
    if (rest.length > MAX_LINE_CHARS + 1) {
      n++;
      bad(tooLong());
      rest = "";
      dropping = true;
    }
  }
  if (rest !== "") {
    const r = one(rest);
    if (r) yield r;
  }
}

/** Resolves the format of a stream and returns it with the (re-assembled) stream. */
async function resolve(
  input: string | ReadableStream<Uint8Array>,
  opts: ReadTraceOptions,
  stats: ReadStats,
): Promise<{ format: TraceFormat | undefined; stream: ReadableStream<Uint8Array> }> {
  const raw = typeof input === "string" ? await openTraceStream(input, stats) : input;
  let { head, stream } = await peek(raw);
  const compression = detectCompression(head);
  if (compression) {
    ({ head, stream } = await peek(decompress(stream, compression)));
    stats.compression = compression;
  }
  let format = opts.format;
  // oracleGeneral has no magic: its name says it (libCacheSim's files end .oracleGeneral[.zst]).
  if (!format && typeof input === "string" && /\.oracleGeneral(\.|$)/i.test(input)) {
    format = "oracleGeneral";
  }
  if (!format) {
    format = detectFormat(head);
    if (!format && head.some((b) => b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09)) {
      await stream.cancel();
      throw new TraceFormatError(
        1,
        `cannot tell the trace format (give --format: ${TRACE_FORMATS.join(", ")})`,
      );
    }
  }
  stats.format = format;
  return { format, stream };
}

/**
 * Reads a trace as records. `stats` (optional) is filled as reading goes.
 *
 * @example
 * ```ts
 * import { readTrace } from "./read_trace.ts";
 * for await (const rec of readTrace("trace.jsonl")) console.log(rec.op, rec.off);
 * ```
 */
export async function* readTrace(
  input: string | ReadableStream<Uint8Array>,
  opts: ReadTraceOptions = {},
  stats: ReadStats = { bad: 0 },
): AsyncGenerator<IoRecord> {
  const { format, stream } = await resolve(input, opts, stats);
  if (!format) {
    await stream.cancel();
    return;
  }
  if (format === "bin" || format === "oracleGeneral") {
    for await (const c of binaryChunks(stream, format, opts, stats)) {
      for (let i = 0; i < c.count; i++) yield chunkRecord(c, i);
    }
    return;
  }
  yield* textRecords(stream, PARSERS[format](), opts, stats);
}

/**
 * Reads a trace as column chunks (the simulator's fast path): the binary form directly, text
 * formats in batches of parsed records.
 */
export async function* readTraceChunks(
  input: string | ReadableStream<Uint8Array>,
  opts: ReadTraceOptions = {},
  stats: ReadStats = { bad: 0 },
): AsyncGenerator<BinaryChunk> {
  const { format, stream } = await resolve(input, opts, stats);
  if (!format) {
    await stream.cancel();
    return;
  }
  if (format === "bin" || format === "oracleGeneral") {
    yield* binaryChunks(stream, format, opts, stats);
    return;
  }
  const devNames: string[] = [""];
  const devIds = new Map<string, number>();
  const cap = 8192;
  let c = newChunk(cap, devNames);
  for await (const r of textRecords(stream, PARSERS[format](), opts, stats)) {
    const k = c.count++;
    c.ts[k] = r.ts;
    c.op[k] = OP_CODES[r.op];
    c.off[k] = r.off;
    c.len[k] = r.len;
    c.flags[k] = (r.fua ? 1 : 0) | (r.hit ? 2 : 0) | (CLS[r.class ?? ""] ?? 0) << 2;
    if (r.dev !== undefined) {
      let id = devIds.get(r.dev);
      if (id === undefined) {
        id = devNames.length;
        devNames.push(r.dev);
        devIds.set(r.dev, id);
      }
      c.dev[k] = id;
    }
    if (c.count === cap) {
      yield c;
      c = newChunk(cap, devNames);
    }
  }
  if (c.count > 0) yield c;
}

/** The chunks of a binary form, with the device filter applied (chunks left empty dropped). */
async function* binaryChunks(
  stream: ReadableStream<Uint8Array>,
  format: BinaryFormat,
  opts: ReadTraceOptions,
  stats: ReadStats,
): AsyncGenerator<BinaryChunk> {
  const chunks = format === "bin" ? readBinaryChunks(stream) : readOracleChunks(stream);
  if (opts.device === undefined) {
    yield* chunks;
    return;
  }
  for await (const c of chunks) {
    let k = 0;
    for (let i = 0; i < c.count; i++) {
      if (c.devNames[c.dev[i]] !== opts.device || c.dev[i] === 0) continue;
      c.ts[k] = c.ts[i];
      c.op[k] = c.op[i];
      c.off[k] = c.off[i];
      c.len[k] = c.len[i];
      c.flags[k] = c.flags[i];
      c.dev[k] = c.dev[i];
      k++;
    }
    stats.filtered = (stats.filtered ?? 0) + c.count - k;
    c.count = k;
    if (k > 0) yield c;
  }
}

const CLS: Record<string, number> = { journal: 1, metadata: 2, data: 3, other: 4 };
