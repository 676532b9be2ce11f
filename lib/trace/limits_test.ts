import assert from "node:assert/strict";
import type { IoRecord } from "./io_record.ts";
import { TraceFormatError } from "./jsonl.ts";
import { MAX_LINE_CHARS, MAX_OFFSET_END, MAX_REQUEST_LEN } from "./limits.ts";
import { BINARY_MAGIC, BinaryTraceWriter, readBinaryChunks, RECORD_SIZE } from "./binary.ts";
import { type ReadStats, readTrace, type TraceFormat } from "./read_trace.ts";

const enc = new TextEncoder();
const streamOf = (...parts: (string | Uint8Array)[]) =>
  new ReadableStream<Uint8Array>({
    start(c) {
      for (const p of parts) c.enqueue(typeof p === "string" ? enc.encode(p) : p);
      c.close();
    },
  });

async function read(text: string, format: TraceFormat, stats?: ReadStats): Promise<IoRecord[]> {
  const out: IoRecord[] = [];
  for await (const r of readTrace(streamOf(text), { format }, stats)) out.push(r);
  return out;
}

async function refused(text: string, format: TraceFormat, re: RegExp): Promise<void> {
  await assert.rejects(
    () => read(text, format),
    (e: Error) => e instanceof TraceFormatError && re.test(e.message),
    `${format}: ${JSON.stringify(text.slice(0, 120))} should be refused with ${re}`,
  );
}

// One request line per format, offset and length in bytes (each format's own units).
const LINES: Record<string, (off: number, len: number) => string> = {
  jsonl: (off, len) => `{"ts":1,"op":"R","off":${off},"len":${len}}\n`,
  msr: (off, len) => `128166372003061629,hm,1,Read,${off},${len},149\n`,
  blkparse: (off, len) =>
    `  8,0    3        1     0.000000000   697  Q   R ${off / 512} + ${len / 512} [cat]\n`,
  "fio-iolog": (off, len) => `fio version 2 iolog\n/dev/vda read ${off} ${len}\n`,
  "nbdkit-log": (off, len) =>
    `2024-01-02 03:04:05.678901 connection=1 Read id=1 offset=0x${off.toString(16)} count=0x${
      len.toString(16)
    }\n`,
};
// The line of the request in each sample, and the words its error names.
const LINE_NO: Record<string, number> = {
  jsonl: 1,
  msr: 1,
  blkparse: 1,
  "fio-iolog": 2,
  "nbdkit-log": 1,
};
const FIELD: Record<string, [string, string]> = {
  jsonl: ["off", "len"],
  msr: ["offset", "size"],
  blkparse: ["sector", "sectors"],
  "fio-iolog": ["offset", "length"],
  "nbdkit-log": ["offset=", "count="],
};

// The largest length that is a whole number of sectors (blkparse counts 512-byte sectors).
const LEN_EDGE = MAX_REQUEST_LEN - 511;

Deno.test("limits: len up to 4 GiB - 1 is read; past it the line and field are named", async () => {
  assert.equal(MAX_REQUEST_LEN, 2 ** 32 - 1);
  for (const [format, line] of Object.entries(LINES)) {
    const f = format as TraceFormat;
    const len = format === "blkparse" ? LEN_EDGE : MAX_REQUEST_LEN;
    const recs = await read(line(4096, len), f);
    assert.equal(recs.length, 1, format);
    assert.equal(recs[0].len, len, format);
    const over = format === "blkparse" ? LEN_EDGE + 512 : MAX_REQUEST_LEN + 1;
    const [, lenName] = FIELD[format];
    await refused(
      line(4096, over),
      f,
      new RegExp(`^line ${LINE_NO[format]}: ${escape(lenName)}.* is above the longest request`),
    );
  }
});

Deno.test("limits: a request may end at 2^53; one byte past is refused naming the field", async () => {
  assert.equal(MAX_OFFSET_END, 2 ** 53);
  for (const [format, line] of Object.entries(LINES)) {
    const f = format as TraceFormat;
    const off = MAX_OFFSET_END - 8192;
    const recs = await read(line(off, 8192), f);
    assert.equal(recs[0].off + recs[0].len, MAX_OFFSET_END, format);
    const [offName] = FIELD[format];
    await refused(
      line(off, 8704),
      f,
      new RegExp(`^line ${LINE_NO[format]}: ${escape(offName)}.* ends past 2\\^53`),
    );
  }
  // The one-line trace: refused up front, not simulated for minutes.
  await refused(
    '{"ts":1,"op":"R","off":0,"len":4503599627370495}\n',
    "jsonl",
    /^line 1: len 4503599627370495 is above the longest request/,
  );
});

Deno.test("limits: a line longer than the limit is refused, or skipped to its newline", async () => {
  const long = `{"ts":1,"op":"R","off":0,"len":4096,"pad":"${"x".repeat(MAX_LINE_CHARS)}"}`;
  const ok = '{"ts":2,"op":"W","off":4096,"len":4096}';
  await refused(`${ok}\n${long}\n${ok}\n`, "jsonl", /^line 2: line longer than/);
  // No newline at all: the reader must not buffer the whole input.
  await refused(`${ok}\n${"y".repeat(3 * MAX_LINE_CHARS)}`, "jsonl", /^line 2: line longer/);
  const stats: ReadStats = { bad: 0 };
  const out: IoRecord[] = [];
  const parts = [`${ok}\n`, long.slice(0, 600_000), long.slice(600_000), `\n${ok}\n`];
  for await (const r of readTrace(streamOf(...parts), { format: "jsonl", skipBad: true }, stats)) {
    out.push(r);
  }
  assert.deepEqual(out.map((r) => r.op), ["W", "W"]);
  assert.equal(stats.bad, 1);
  assert.match(stats.firstBad ?? "", /^line 2: line longer than/);
  // A line exactly at the limit is read.
  const atLimit = `{"ts":1,"op":"R","off":0,"len":4096,"p":"`;
  const edge = atLimit + "z".repeat(MAX_LINE_CHARS - atLimit.length - 2) + '"}';
  assert.equal(edge.length, MAX_LINE_CHARS);
  assert.equal((await read(edge + "\n", "jsonl")).length, 1);
});

/** A binary trace of one raw record. */
function binary(ts: number, off: number, len: number, op = 0): Uint8Array {
  const b = new Uint8Array(16 + RECORD_SIZE);
  b.set(BINARY_MAGIC);
  const dv = new DataView(b.buffer);
  dv.setUint32(8, RECORD_SIZE, true);
  dv.setFloat64(16, ts, true);
  dv.setFloat64(24, off, true);
  dv.setUint32(32, len, true);
  dv.setUint8(36, op);
  return b;
}

async function binaryRecords(bytes: Uint8Array): Promise<number> {
  let n = 0;
  for await (const c of readBinaryChunks(streamOf(bytes))) n += c.count;
  return n;
}

Deno.test("limits: the binary reader checks off (was unchecked), ts and name lengths", async () => {
  assert.equal(await binaryRecords(binary(0, MAX_OFFSET_END - 4096, 4096)), 1);
  const bad: [Uint8Array, RegExp][] = [
    [binary(0, MAX_OFFSET_END - 4096, 4097), /^line 1: off .* ends past 2\^53/],
    [binary(0, -4096, 4096), /^line 1: off must be a non-negative integer/],
    [binary(0, 1.5, 4096), /^line 1: off must be a non-negative integer/],
    [binary(0, NaN, 4096), /^line 1: off must be/],
    [binary(0, 2 ** 60, 0), /^line 1: off .* ends past 2\^53/],
    [binary(NaN, 0, 4096), /^line 1: ts is not finite/],
    [binary(0, 0, 5000, 255), /^line 1: device name of 5000 bytes, above 4096/],
  ];
  for (const [bytes, re] of bad) {
    await assert.rejects(
      () => binaryRecords(bytes),
      (e: Error) => e instanceof TraceFormatError && re.test(e.message),
      String(re),
    );
  }
  // The writer refuses a name the reader would refuse, before writing anything for it.
  const sink = new WritableStream<Uint8Array>();
  const w = new BinaryTraceWriter(sink);
  await assert.rejects(
    () => w.write({ ts: 0, op: "R", off: 0, len: 1, dev: "d".repeat(4097) }),
    /device name of 4097 bytes/,
  );
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
