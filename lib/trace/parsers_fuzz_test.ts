// Property fuzzers for every trace reader (issue 15): on random, mutated and truncated input a
// reader yields records inside the limits (lib/trace/limits.ts) or throws TraceFormatError
// naming the line, and nothing else. Bounded case counts; the seed is printed, and
// HVKIT_FUZZ_SEED=<seed> replays a run.
import assert from "node:assert/strict";
import fc from "fast-check";
import { type IoRecord, isIoOp } from "./io_record.ts";
import { TraceFormatError } from "./jsonl.ts";
import { MAX_OFFSET_END, MAX_REQUEST_LEN } from "./limits.ts";
import type { LineParser } from "./line_parser.ts";
import { jsonlParser } from "./jsonl_parser.ts";
import { msrParser } from "./msr_csv.ts";
import { blkparseParser } from "./blkparse.ts";
import { fioIologParser } from "./fio_iolog.ts";
import { nbdkitLogParser } from "./nbdkit_log.ts";
import { alibabaParser } from "./alibaba_csv.ts";
import { tencentParser } from "./tencent_cbs.ts";
import { lcsCsvParser } from "./lcs_csv.ts";
import { readOracleChunks } from "./oracle_general.ts";
import { CompressedTraceError, decompress } from "./decompress.ts";
import { BINARY_MAGIC, BinaryTraceWriter, readBinaryChunks, RECORD_SIZE } from "./binary.ts";
import { readTrace, type TraceFormat } from "./read_trace.ts";

const seed = Number(Deno.env.get("HVKIT_FUZZ_SEED") ?? Math.floor(Math.random() * 2 ** 31));
console.log(`trace parser fuzz: seed ${seed} (HVKIT_FUZZ_SEED=${seed} replays it)`);
const RUNS = 300;
const params = (n = RUNS) => ({ seed, numRuns: n });

/** The limits every record a reader yields must hold. */
function checkRecord(r: IoRecord, where: string): void {
  assert.ok(isIoOp(r.op), `${where}: op ${r.op}`);
  assert.ok(typeof r.ts === "number" && Number.isFinite(r.ts), `${where}: ts ${r.ts}`);
  assert.ok(Number.isSafeInteger(r.off) && r.off >= 0, `${where}: off ${r.off}`);
  assert.ok(Number.isSafeInteger(r.len) && r.len >= 0, `${where}: len ${r.len}`);
  assert.ok(r.len <= MAX_REQUEST_LEN, `${where}: len ${r.len}`);
  assert.ok(r.off < MAX_OFFSET_END && r.len <= MAX_OFFSET_END - r.off, `${where}: end`);
  assert.ok(r.dev === undefined || typeof r.dev === "string", `${where}: dev`);
}

/** Feeds lines to a parser: each gives null, a record within the limits, or its own error. */
function feedLines(parser: LineParser, lines: string[]): void {
  lines.forEach((line, i) => {
    const n = i + 1;
    let r: IoRecord | null;
    try {
      r = parser.parse(line, n);
    } catch (e) {
      if (!(e instanceof TraceFormatError)) throw e;
      assert.equal(e.line, n, `${parser.format}: error names line ${e.line}, not ${n}`);
      return;
    }
    if (r !== null) checkRecord(r, `${parser.format} line ${n} ${JSON.stringify(line)}`);
  });
}

// Numbers that reach every edge: small, around the limits, past 2^53, huge, negative, odd.
const edgeNumber = fc.oneof(
  fc.nat(1 << 20),
  fc.constantFrom(
    0,
    511,
    512,
    MAX_REQUEST_LEN,
    MAX_REQUEST_LEN + 1,
    MAX_OFFSET_END - 4096,
    MAX_OFFSET_END,
    MAX_OFFSET_END + 2,
  ),
  fc.maxSafeNat(),
);
const numText = fc.oneof(
  edgeNumber.map(String),
  fc.constantFrom("-1", "1.5", "1e30", "0x10", "", "NaN", "99999999999999999999999"),
);
const hexText = fc.oneof(edgeNumber.map((n) => `0x${n.toString(16)}`), numText);
const word = fc.string({ maxLength: 8 });

// Near-valid lines of each format, from its own grammar with edge numbers.
const LINES: Record<string, fc.Arbitrary<string>> = {
  jsonl: fc.tuple(fc.constantFrom("R", "W", "F", "T", "Z", "X"), numText, numText, numText).map(
    ([op, ts, off, len]) => `{"ts":${ts || 0},"op":"${op}","off":${off || 0},"len":${len || 0}}`,
  ),
  msr: fc.tuple(numText, word, numText, fc.constantFrom("Read", "Write", "Trim"), numText, numText)
    .map(([ts, h, d, t, off, len]) => `${ts},${h},${d},${t},${off},${len},100`),
  blkparse: fc.tuple(
    fc.constantFrom("Q", "D", "C", "G", "M"),
    fc.constantFrom("R", "W", "WS", "FWS", "D", "N", "RA"),
    numText,
    numText,
  ).map(([act, rwbs, sec, cnt]) =>
    `  8,0    3        1     0.000001000   697  ${act}   ${rwbs} ${sec} + ${cnt} [x]`
  ),
  "fio-iolog": fc.tuple(fc.constantFrom("read", "write", "trim", "sync", "open"), numText, numText)
    .map(([a, off, len]) => `/dev/vda ${a} ${off} ${len}`),
  "nbdkit-log": fc.tuple(
    fc.constantFrom("Read", "Write", "Zero", "Trim", "Flush", "Cache"),
    hexText,
    hexText,
  ).map(([op, off, len]) =>
    `2024-01-02 03:04:05.678901 connection=1 ${op} id=1 offset=${off} count=${len} fua=0`
  ),
};
LINES.alibaba = fc.tuple(word, fc.constantFrom("R", "W", "X"), numText, numText, numText).map(
  ([d, op, off, len, ts]) => `${d},${op},${off},${len},${ts}`,
);
LINES.tencent = fc.tuple(numText, numText, numText, fc.constantFrom("0", "1", "2"), word).map(
  ([ts, off, size, t, vol]) => `${ts},${off},${size},${t},${vol}`,
);
LINES["lcs-csv"] = fc.tuple(numText, numText, numText, numText).map(
  ([t, id, size, next]) => `${t},${id},${size},${next}`,
);
const PARSERS: Record<string, () => LineParser> = {
  "lcs-csv": lcsCsvParser,
  alibaba: alibabaParser,
  tencent: tencentParser,
  jsonl: jsonlParser,
  msr: msrParser,
  blkparse: blkparseParser,
  "fio-iolog": fioIologParser,
  "nbdkit-log": nbdkitLogParser,
};
const HEADER: Record<string, string[]> = { "fio-iolog": ["fio version 2 iolog"] };

/** A line, or a mutation of it: a character replaced, or the line cut short. */
function mutated(line: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.oneof(
    line,
    fc.tuple(line, fc.nat(), fc.string({ minLength: 1, maxLength: 1, unit: "binary" })).map((
      [s, i, c],
    ) => s.slice(0, i % (s.length + 1)) + c + s.slice(i % (s.length + 1) + 1)),
    fc.tuple(line, fc.nat()).map(([s, i]) => s.slice(0, i % (s.length + 1))),
    fc.string({ maxLength: 80 }),
  );
}

for (const format of Object.keys(PARSERS)) {
  Deno.test(`fuzz ${format}: a line gives a record within the limits or names its line`, () => {
    fc.assert(
      fc.property(fc.array(mutated(LINES[format]), { maxLength: 12 }), (lines) => {
        feedLines(PARSERS[format](), [...(HEADER[format] ?? []), ...lines]);
      }),
      params(),
    );
  });
}

const enc = new TextEncoder();

/** A stream of `bytes` cut into pieces at the given points. */
function pieces(bytes: Uint8Array, cuts: number[]): ReadableStream<Uint8Array> {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  return new ReadableStream({
    start(ctl) {
      let from = 0;
      for (const c of [...at, bytes.length]) {
        if (c > from) ctl.enqueue(bytes.slice(from, c));
        from = Math.max(from, c);
      }
      ctl.close();
    },
  });
}

/** Reads a whole stream: records within the limits, or a TraceFormatError, nothing else. */
async function readAll(stream: ReadableStream<Uint8Array>, format?: TraceFormat): Promise<void> {
  try {
    for await (const r of readTrace(stream, { format })) checkRecord(r, format ?? "detected");
  } catch (e) {
    if (!(e instanceof TraceFormatError)) throw e;
  }
}

Deno.test("fuzz readTrace: text of every format, cut short and split anywhere", async () => {
  const formats = Object.keys(PARSERS);
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...formats),
      fc.array(fc.nat(), { maxLength: 6 }),
      fc.nat(),
      fc.boolean(),
      fc.array(fc.nat(), { maxLength: 10 }),
      async (format, picks, cut, named, cuts) => {
        const lines = picks.map((p) =>
          fc.sample(mutated(LINES[format]), { seed: p, numRuns: 1 })[0]
        );
        const text = [...(HEADER[format] ?? []), ...lines].join("\n");
        const bytes = enc.encode(text).subarray(0, cut % (text.length + 2));
        await readAll(pieces(bytes, cuts), named ? format as TraceFormat : undefined);
      },
    ),
    params(200),
  );
});

async function binaryOf(recs: IoRecord[]): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const w = new BinaryTraceWriter(new WritableStream({ write: (c) => void parts.push(c) }));
  for (const r of recs) await w.write(r);
  await w.close();
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) out.set(p, o), o += p.length;
  return out;
}

Deno.test("fuzz binary: valid traces cut anywhere, bytes flipped, random records", async () => {
  const rec = fc.record({
    ts: fc.nat(),
    op: fc.constantFrom("R" as const, "W" as const, "F" as const, "T" as const, "Z" as const),
    off: fc.nat(2 ** 40),
    len: fc.nat(MAX_REQUEST_LEN),
    dev: fc.option(fc.string({ maxLength: 40 }), { nil: undefined }),
  });
  await fc.assert(
    fc.asyncProperty(
      fc.array(rec, { maxLength: 8 }),
      fc.nat(),
      fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 4 }),
      fc.array(fc.nat(), { maxLength: 6 }),
      async (recs, cut, flips, cuts) => {
        const r = recs.map((x) => {
          const o: IoRecord = { ts: x.ts, op: x.op, off: x.off, len: x.len };
          if (x.dev !== undefined) o.dev = x.dev;
          return o;
        });
        const bytes = (await binaryOf(r)).slice();
        for (const [at, v] of flips) {
          if (bytes.length > 16) bytes[16 + at % (bytes.length - 16)] = v;
        }
        const cutAt = cut % (bytes.length + 1);
        try {
          for await (const c of readBinaryChunks(pieces(bytes.subarray(0, cutAt), cuts))) {
            for (let i = 0; i < c.count; i++) {
              checkRecord({ ts: c.ts[i], op: "R", off: c.off[i], len: c.len[i] }, "binary");
              assert.ok(c.op[i] <= 4);
            }
          }
        } catch (e) {
          if (!(e instanceof TraceFormatError)) throw e;
        }
      },
    ),
    params(200),
  );
  // Random record bytes behind a valid header.
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: RECORD_SIZE * 6 }), async (body) => {
      const bytes = new Uint8Array(16 + body.length);
      bytes.set(BINARY_MAGIC);
      new DataView(bytes.buffer).setUint32(8, RECORD_SIZE, true);
      bytes.set(body, 16);
      await readAll(pieces(bytes, [5, 40]), "bin");
    }),
    params(200),
  );
});

Deno.test("fuzz oracleGeneral: random records, cut anywhere", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ maxLength: 24 * 6 }),
      fc.array(fc.nat(), { maxLength: 4 }),
      async (bytes, cuts) => {
        try {
          for await (const c of readOracleChunks(pieces(bytes, cuts))) {
            for (let i = 0; i < c.count; i++) {
              checkRecord({ ts: c.ts[i], op: "R", off: c.off[i], len: c.len[i] }, "oracle");
            }
          }
        } catch (e) {
          if (!(e instanceof TraceFormatError)) throw e;
        }
      },
    ),
    params(200),
  );
});

Deno.test("fuzz decompression: zstd and xz bytes damaged or cut give CompressedTraceError", async () => {
  const plain = enc.encode('{"ts":1,"op":"R","off":0,"len":4096}\n'.repeat(50));
  const made: Record<string, Uint8Array> = {};
  for (const [kind, cmd] of [["zstd", ["zstd", "-q", "-c"]], ["xz", ["xz", "-c"]]] as const) {
    const p = new Deno.Command(cmd[0], { args: cmd.slice(1), stdin: "piped", stdout: "piped" })
      .spawn();
    const w = p.stdin.getWriter();
    await w.write(plain);
    await w.close();
    made[kind] = (await p.output()).stdout;
  }
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom("zstd" as const, "xz" as const),
      fc.nat(),
      fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 3 }),
      fc.array(fc.nat(), { maxLength: 4 }),
      async (kind, cut, flips, cuts) => {
        const bytes = made[kind].slice(0, 6 + cut % (made[kind].length - 5));
        for (const [at, v] of flips) bytes[6 + at % Math.max(1, bytes.length - 6)] = v;
        let n = 0;
        try {
          for await (const c of decompress(pieces(bytes, cuts), kind)) n += c.length;
        } catch (e) {
          if (!(e instanceof CompressedTraceError)) throw e;
          return;
        }
        // Read to the end without an error: only an undamaged whole stream does that.
        assert.ok(n <= plain.length, `${kind}: ${n} bytes out of ${plain.length}`);
      },
    ),
    params(150),
  );
});
