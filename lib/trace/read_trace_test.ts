import assert from "node:assert/strict";
import type { IoRecord } from "./io_record.ts";
import { TraceFormatError } from "./jsonl.ts";
import { BinaryTraceWriter, readBinaryChunks } from "./binary.ts";
import { detectFormat, type ReadStats, readTrace, readTraceChunks } from "./read_trace.ts";

const enc = new TextEncoder();
const streamOf = (...parts: (string | Uint8Array)[]) =>
  new ReadableStream<Uint8Array>({
    start(c) {
      for (const p of parts) c.enqueue(typeof p === "string" ? enc.encode(p) : p);
      c.close();
    },
  });

async function all(text: string | Uint8Array, opts = {}, stats?: ReadStats): Promise<IoRecord[]> {
  const out: IoRecord[] = [];
  for await (const r of readTrace(streamOf(text), opts, stats)) out.push(r);
  return out;
}

Deno.test("trace: MSR Cambridge CSV", async () => {
  const recs = await all(
    "128166372003061629,hm,1,Read,383496192,32768,149\n" +
      "128166372016382155,hm,1,Write,3875717120,4096,1205\n",
  );
  assert.equal(recs.length, 2);
  assert.deepEqual(recs[0], {
    ts: 0,
    op: "R",
    off: 383496192,
    len: 32768,
    dev: "hm_1",
    rt_ns: 14900,
  });
  assert.equal(recs[1].ts, 13320526 * 100); // (…016382155 - …003061629) x 100 ns
  assert.equal(recs[1].op, "W");
});

Deno.test("trace: blkparse default output, first of Q/D/C taken, summary skipped", async () => {
  const text = [
    "  8,0    3        1     0.000000000   697  Q   W 223490 + 8 [kjournald]",
    "  8,0    3        2     0.000001000   697  G   W 223490 + 8 [kjournald]",
    "  8,0    3        3     0.000002000   697  D   W 223490 + 8 [kjournald]",
    "  8,0    0        4     0.001000000     0  Q   R 1000 + 16 [cat]",
    "  8,0    0        5     0.002000000     0  Q  FWS [kworker]",
    "  8,0    0        6     0.003000000     0  Q   D 64 + 8 [fstrim]",
    "  8,0    0        0     0.003500000     0  m   N cfq schedule",
    "",
    "CPU0 (8,0):",
    " Reads Queued:           1,        8KiB",
  ].join("\n");
  const recs = await all(text);
  assert.deepEqual(recs.map((r) => [r.op, r.off, r.len]), [
    ["W", 223490 * 512, 4096],
    ["R", 512000, 8192],
    ["F", 0, 0],
    ["T", 32768, 4096],
  ]);
  assert.equal(recs[1].ts, 1000000);
  assert.equal(recs[0].dev, "8,0");
});

Deno.test("trace: nbdkit log filter lines; replies and connection events skipped", async () => {
  const text = [
    "2024-01-02 03:04:05.000001 connection=1 Connect size=0x100000 write=1 flush=1",
    "2024-01-02 03:04:05.000100 connection=1 Write id=1 offset=0x1000 count=0x200 fua=1 flags=0x0",
    "2024-01-02 03:04:05.000200 connection=1 ...Write id=1 return=0 (Success)",
    "2024-01-02 03:04:05.000300 connection=1 Read id=2 offset=0x0 count=0x1000",
    "2024-01-02 03:04:05.000400 connection=1 Flush id=3",
    "2024-01-02 03:04:05.000500 connection=1 Zero id=4 offset=0x2000 count=0x1000 may_trim=1 fua=0",
    "2024-01-02 03:04:06 connection=1 Disconnect transactions=4",
  ].join("\n");
  const recs = await all(text);
  assert.deepEqual(recs.map((r) => [r.op, r.off, r.len, r.fua ?? false]), [
    ["W", 4096, 512, true],
    ["R", 0, 4096, false],
    ["F", 0, 0, false],
    ["Z", 8192, 4096, false],
  ]);
  assert.equal(recs[1].ts - recs[0].ts, 200000);
  assert.equal(recs[0].dev, "conn1");
});

Deno.test("trace: fio iolog v2 and v3", async () => {
  const v2 = await all(
    "fio version 2 iolog\n/dev/sda add\n/dev/sda open\n/dev/sda write 4096 512\n" +
      "/dev/sda read 0 4096\n/dev/sda sync 0 0\n/dev/sda trim 8192 4096\n/dev/sda close\n",
  );
  assert.deepEqual(v2.map((r) => [r.op, r.off, r.len, r.dev]), [
    ["W", 4096, 512, "/dev/sda"],
    ["R", 0, 4096, "/dev/sda"],
    ["F", 0, 0, "/dev/sda"],
    ["T", 8192, 4096, "/dev/sda"],
  ]);
  const v3 = await all("fio version 3 iolog\n0 f add\n0 f open\n12 f read 4096 4096\n");
  assert.deepEqual(v3, [{ ts: 12e6, op: "R", off: 4096, len: 4096, dev: "f" }]);
});

Deno.test("trace: malformed lines name the line; --skip-bad counts them", async () => {
  const text = '{"op":"R","off":0,"len":4096}\n{"op":"X"}\n{"op":"W","off":0,"len":1}\nnot json\n';
  await assert.rejects(
    () => all(text),
    (e: unknown) => e instanceof TraceFormatError && e.line === 2,
  );
  const stats: ReadStats = { bad: 0 };
  const recs = await all(text, { skipBad: true }, stats);
  assert.equal(recs.length, 2);
  assert.equal(stats.bad, 2);
  assert.match(stats.firstBad!, /^line 2:/);
  await assert.rejects(
    () => all("128166372003061629,hm,1,Read,383496192,32768,149\n1,hm,1,Reed,0,1,1\n"),
    /line 2: type must be Read or Write/,
  );
});

Deno.test("trace: empty input is not an error; unknown text is", async () => {
  assert.deepEqual(await all(""), []);
  assert.deepEqual(await all("\n\n"), []);
  await assert.rejects(() => all("hello world\n"), /cannot tell the trace format/);
});

Deno.test("trace: detection", () => {
  const d = (s: string) => detectFormat(enc.encode(s));
  assert.equal(d('{"op":"R"}'), "jsonl");
  assert.equal(d("fio version 3 iolog\n"), "fio-iolog");
  assert.equal(d("2024-01-02 03:04:05.1 connection=1 Read"), "nbdkit-log");
  assert.equal(d("  8,0    3        1     0.000000000   697  Q   W 1 + 8 [x]"), "blkparse");
  assert.equal(d("128166372003061629,hm,1,Read,383496192,32768,149"), "msr");
  assert.equal(d(""), undefined);
});

async function toBinary(recs: IoRecord[]): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const w = new BinaryTraceWriter(new WritableStream({ write: (c) => void parts.push(c) }));
  for (const r of recs) await w.write(r);
  await w.close();
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) out.set(p, o), o += p.length;
  return out;
}

Deno.test("trace: binary round trip keeps ts, op, off, len, dev, fua, hit, class", async () => {
  const recs: IoRecord[] = [];
  for (let i = 0; i < 20000; i++) {
    const r: IoRecord = {
      ts: i * 1000,
      op: (["R", "W", "F", "T", "Z"] as const)[i % 5],
      off: i * 4096 + 2 ** 40,
      len: (i % 7) * 512,
    };
    if (i % 3 === 0) r.dev = `disk-${i % 4}-${"x".repeat(i % 50)}`;
    if (i % 11 === 0) r.fua = true;
    if (i % 13 === 0) r.hit = true;
    if (i % 17 === 0) r.class = "journal";
    recs.push(r);
  }
  const bin = await toBinary(recs);
  assert.deepEqual(await all(bin), recs);
  // The same bytes split at awkward places decode the same.
  const pieces: Uint8Array[] = [];
  for (let o = 0; o < bin.length; o += 1000) pieces.push(bin.subarray(o, o + 1000));
  let n = 0;
  for await (const c of readBinaryChunks(streamOf(...pieces))) n += c.count;
  assert.equal(n, recs.length);
  let m = 0;
  for await (const c of readTraceChunks(streamOf(bin))) m += c.count;
  assert.equal(m, recs.length);
});

Deno.test("trace: fuzz — truncated and random input fails with TraceFormatError or parses", async () => {
  const bin = await toBinary([{ ts: 1, op: "R", off: 0, len: 4096, dev: "a" }, {
    ts: 2,
    op: "W",
    off: 4096,
    len: 4096,
  }]);
  for (let cut = 1; cut < bin.length; cut++) {
    try {
      await all(bin.subarray(0, cut), { format: "bin" });
      assert.ok(cut % 24 === 16, `cut ${cut} parsed`);
    } catch (e) {
      assert.ok(e instanceof TraceFormatError, `cut ${cut}: ${e}`);
    }
  }
  let x = 42;
  const samples = [
    "128166372003061629,hm,1,Read,383496192,32768,149",
    "  8,0    3        1     0.000000000   697  Q   W 223490 + 8 [kjournald]",
    "2024-01-02 03:04:05.000100 connection=1 Write id=1 offset=0x1000 count=0x200 fua=1",
    '{"ts":1,"op":"R","off":0,"len":4096}',
  ];
  for (let i = 0; i < 400; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const s = samples[i % samples.length];
    const chars = [...s];
    for (let k = 0; k < 3; k++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      chars[x % chars.length] = String.fromCharCode(32 + (x >>> 16) % 95);
    }
    const text = s + "\n" + chars.join("").slice(0, (x >>> 8) % (s.length + 1)) + "\n";
    try {
      await all(text, { format: (["msr", "blkparse", "nbdkit-log", "jsonl"] as const)[i % 4] });
    } catch (e) {
      assert.ok(e instanceof TraceFormatError, `${JSON.stringify(text)}: ${e}`);
      assert.equal((e as TraceFormatError).line, 2);
    }
  }
});
