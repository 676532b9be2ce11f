/**
 * Reads any supported trace (detected from its first bytes, or named with `format`) as I/O
 * records or as column chunks. Text formats go through a LineParser; the binary form is read
 * without parsing text. Malformed lines throw TraceFormatError naming the line, or with
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
import { type BinaryChunk, chunkRecord, isBinaryTrace, readBinaryChunks } from "./binary.ts";

/** Every format name `--format` accepts. */
export const TRACE_FORMATS = [
  "jsonl",
  "bin",
  "msr",
  "blkparse",
  "nbdkit-log",
  "fio-iolog",
] as const;
/** A trace format. */
export type TraceFormat = typeof TRACE_FORMATS[number];

const PARSERS: Record<Exclude<TraceFormat, "bin">, () => LineParser> = {
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
  return undefined;
}

/** Options for reading a trace. */
export interface ReadTraceOptions {
  /** Skip detection. */
  format?: TraceFormat;
  /** Count and skip malformed lines instead of failing. */
  skipBad?: boolean;
}

/** What reading found besides records. */
export interface ReadStats {
  format?: TraceFormat;
  /** Malformed lines skipped (with skipBad). */
  bad: number;
  /** The first malformed line's error, when skipped. */
  firstBad?: string;
}

/** Opens a path (`-` = stdin) as a byte stream read in large blocks. */
export async function openTraceStream(path: string): Promise<ReadableStream<Uint8Array>> {
  if (path === "-") return Deno.stdin.readable;
  const file = await Deno.open(path, { read: true });
  if ((await file.stat()).isDirectory) {
    file.close();
    throw new Deno.errors.IsADirectory(`${path}: is a directory`);
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
      } else ctl.enqueue(buf.subarray(0, n));
    },
    cancel() {
      file.close();
    },
  });
}

/** Peeks the first bytes of a stream; returns them and a stream that still yields everything. */
async function peek(
  stream: ReadableStream<Uint8Array>,
): Promise<{ head: Uint8Array; stream: ReadableStream<Uint8Array> }> {
  const reader = stream.getReader();
  const parts: Uint8Array[] = [];
  let total = 0, done = false;
  while (total < 512 && !done) {
    const r = await reader.read();
    if (r.done) done = true;
    else if (r.value.length) {
      parts.push(r.value);
      total += r.value.length;
    }
  }
  const head = new Uint8Array(total);
  let o = 0;
  for (const p of parts) head.set(p, o), o += p.length;
  const rest = new ReadableStream<Uint8Array>({
    start(ctl) {
      for (const p of parts) ctl.enqueue(p);
      if (done) ctl.close();
    },
    async pull(ctl) {
      const r = await reader.read();
      if (r.done) ctl.close();
      else ctl.enqueue(r.value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
  return { head, stream: rest };
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
      return parser.parse(line, n);
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
  const raw = typeof input === "string" ? await openTraceStream(input) : input;
  const { head, stream } = await peek(raw);
  let format = opts.format;
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
  if (format === "bin") {
    for await (const c of readBinaryChunks(stream)) {
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
  if (format === "bin") {
    yield* readBinaryChunks(stream);
    return;
  }
  const devNames: string[] = [""];
  const devIds = new Map<string, number>();
  const cap = 8192;
  let c = newChunk(cap, devNames);
  for await (const r of textRecords(stream, PARSERS[format](), opts, stats)) {
    const k = c.count++;
    c.ts[k] = r.ts;
    c.op[k] = OPC[r.op];
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

const OPC: Record<string, number> = { R: 0, W: 1, F: 2, T: 3, Z: 4 };
const CLS: Record<string, number> = { journal: 1, metadata: 2, data: 3, other: 4 };

function newChunk(n: number, devNames: string[]): BinaryChunk {
  return {
    count: 0,
    ts: new Float64Array(n),
    op: new Uint8Array(n),
    off: new Float64Array(n),
    len: new Float64Array(n),
    flags: new Uint8Array(n),
    dev: new Uint16Array(n),
    devNames,
  };
}
