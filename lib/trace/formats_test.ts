import assert from "node:assert/strict";
import type { IoRecord } from "./io_record.ts";
import { formatRecord, TraceFormatError } from "./jsonl.ts";
import { BinaryTraceWriter } from "./binary.ts";
import { OracleGeneralWriter, readOracleChunks } from "./oracle_general.ts";
import { detectFormat, type ReadStats, readTrace, readTraceChunks } from "./read_trace.ts";

const fixtures = new URL("../../fixtures/traces/", import.meta.url).pathname;
const enc = new TextEncoder();
const streamOf = (...parts: (string | Uint8Array)[]) =>
  new ReadableStream<Uint8Array>({
    start(c) {
      for (const p of parts) c.enqueue(typeof p === "string" ? enc.encode(p) : p);
      c.close();
    },
  });

async function records(
  input: string | ReadableStream<Uint8Array>,
  opts = {},
  stats?: ReadStats,
): Promise<IoRecord[]> {
  const out: IoRecord[] = [];
  for await (const r of readTrace(input, opts, stats)) out.push(r);
  return out;
}

async function bytesOf(write: (s: WritableStream<Uint8Array>) => Promise<void>) {
  const parts: Uint8Array[] = [];
  await write(new WritableStream({ write: (c) => void parts.push(c.slice()) }));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) out.set(p, o), o += p.length;
  return out;
}

Deno.test("formats: Alibaba block trace, detected; bytes and µs; devices kept apart", async () => {
  const stats: ReadStats = { bad: 0 };
  const recs = await records(`${fixtures}alibaba_block.csv`, {}, stats);
  assert.equal(stats.format, "alibaba");
  assert.equal(recs.length, 240);
  assert.deepEqual(recs[0], { ts: 0, op: "W", off: 3182592, len: 4096, dev: "17" });
  assert.deepEqual(recs[1], { ts: 1802000, op: "R", off: 4096, len: 16384, dev: "3" });
  const only: ReadStats = { bad: 0 };
  const dev3 = await records(`${fixtures}alibaba_block.csv`, { device: "3" }, only);
  assert.ok(dev3.length > 0 && dev3.every((r) => r.dev === "3"));
  assert.equal(dev3.length + (only.filtered ?? 0), 240);
  assert.deepEqual(dev3, recs.filter((r) => r.dev === "3"));
  // A header line is skipped; a bad opcode names its line.
  const hdr = "device_id,opcode,offset,length,timestamp\n3,R,0,4096,10\n";
  assert.equal((await records(streamOf(hdr), { format: "alibaba" })).length, 1);
  await assert.rejects(
    () => records(streamOf("3,R,0,4096,10\n3,X,0,4096,11\n")),
    (e: Error) => e instanceof TraceFormatError && /^line 2: opcode must be R or W/.test(e.message),
  );
});

Deno.test("formats: Tencent CBS, detected; sectors to bytes, s to ns; --device", async () => {
  const stats: ReadStats = { bad: 0 };
  const recs = await records(`${fixtures}tencent_cbs.csv`, {}, stats);
  assert.equal(stats.format, "tencent");
  assert.equal(recs.length, 240);
  assert.deepEqual(recs[0], { ts: 0, op: "R", off: 10656 * 512, len: 24 * 512, dev: "9" });
  assert.equal(recs[1].ts, 1e9);
  const v = await records(`${fixtures}tencent_cbs.csv`, { device: "1063" });
  assert.deepEqual(v, recs.filter((r) => r.dev === "1063"));
  assert.equal(detectFormat(enc.encode("1538323200,10656,24,1,9\n")), "tencent");
  assert.equal(detectFormat(enc.encode("3,W,0,4096,1577808000000153\n")), "alibaba");
  await assert.rejects(
    () => records(streamOf("1538323200,10656,24,2,9\n"), { format: "tencent" }),
    /line 1: ioType must be 0 \(read\) or 1 \(write\)/,
  );
});

Deno.test("formats: every sample round-trips through JSON lines and the binary form", async () => {
  for (const name of ["alibaba_block.csv", "tencent_cbs.csv"]) {
    const recs = await records(`${fixtures}${name}`);
    const jsonl = recs.map(formatRecord).join("\n") + "\n";
    assert.deepEqual(await records(streamOf(jsonl)), recs, `${name} via jsonl`);
    const bin = await bytesOf(async (s) => {
      const w = new BinaryTraceWriter(s);
      for (const r of recs) await w.write(r);
      await w.close();
    });
    assert.deepEqual(await records(streamOf(bin)), recs, `${name} via bin`);
    // The device filter works on the binary form too.
    const dev = recs[0].dev!;
    assert.deepEqual(
      await records(streamOf(bin), { device: dev }),
      recs.filter((r) => r.dev === dev),
    );
  }
});

/** Block numbers of the R/W/Z accesses, as a pre-split trace has them. */
function blockSequence(recs: IoRecord[], bs: number): number[] {
  const seq: number[] = [];
  for (const r of recs) {
    if (r.op === "F" || r.op === "T" || r.len === 0) continue;
    for (let b = Math.floor(r.off / bs); b <= Math.floor((r.off + r.len - 1) / bs); b++) {
      seq.push(b);
    }
  }
  return seq;
}

Deno.test("formats: oracleGeneral written one record per block access and read back", async () => {
  for (const bs of [4096, 512]) {
    const recs = await records(`${fixtures}alibaba_block.csv`);
    recs.push({ ts: 5e9, op: "F", off: 0, len: 0 }, { ts: 6e9, op: "T", off: 0, len: 8192 });
    let dropped = 0, written = 0;
    const og = await bytesOf(async (s) => {
      const w = new OracleGeneralWriter(s, bs);
      for (const r of recs) await w.write(r);
      await w.close();
      dropped = w.dropped;
      written = w.written;
    });
    const want = blockSequence(recs, bs);
    assert.equal(dropped, 2);
    assert.equal(written, want.length);
    assert.equal(og.length, 24 * want.length);
    // The layout libCacheSim reads: u32 time, u64 obj_id, u32 obj_size, i64 next (-1).
    const dv = new DataView(og.buffer);
    assert.equal(dv.getUint32(4, true) + dv.getUint32(8, true) * 2 ** 32, want[0]);
    assert.equal(dv.getUint32(12, true), bs);
    assert.equal(dv.getBigInt64(16, true), -1n);
    const lastRw = recs.filter((r) => r.op === "R" || r.op === "W").at(-1)!;
    assert.equal(dv.getUint32(24 * (want.length - 1), true), Math.floor(lastRw.ts / 1e9));
    const back: IoRecord[] = [];
    for await (const c of readOracleChunks(streamOf(og.subarray(0, 1000), og.subarray(1000)))) {
      for (let i = 0; i < c.count; i++) {
        back.push({ ts: c.ts[i], op: "R", off: c.off[i], len: c.len[i] });
      }
    }
    assert.deepEqual(back.map((r) => r.off / bs), want);
    assert.ok(back.every((r) => r.len === bs));
    // Named by its file name, or by --format; a cut record names its number.
    const stats: ReadStats = { bad: 0 };
    let n = 0;
    for await (const c of readTraceChunks(streamOf(og), { format: "oracleGeneral" }, stats)) {
      n += c.count;
    }
    assert.equal(n, want.length);
    await assert.rejects(
      () => records(streamOf(og.subarray(0, 24 * 3 + 5)), { format: "oracleGeneral" }),
      /^TraceFormatError: line 4: truncated oracleGeneral record/,
    );
  }
});

Deno.test("formats: oracleGeneral obj_id * obj_size past 2^53 is refused naming the record", async () => {
  const rec = new Uint8Array(24);
  const dv = new DataView(rec.buffer);
  dv.setUint32(4, 0, true);
  dv.setUint32(8, 2 ** 21, true); // obj_id 2^53
  dv.setUint32(12, 1, true);
  await assert.rejects(
    () => records(streamOf(rec), { format: "oracleGeneral" }),
    /line 1: obj_id 9007199254740992 is past 2\^53/,
  );
  dv.setUint32(8, 2 ** 20, true); // 2^52 * 4096 bytes
  dv.setUint32(12, 4096, true);
  await assert.rejects(
    () => records(streamOf(rec), { format: "oracleGeneral" }),
    /line 1: obj_id \* obj_size .* ends past 2\^53/,
  );
});

Deno.test("formats: libCacheSim's csv (traceConv --output-txt) read and written", async () => {
  const { lcsCsvLines } = await import("./lcs_csv.ts");
  const recs = await records(`${fixtures}tencent_cbs.csv`);
  const text = recs.flatMap((r) => lcsCsvLines(r, 4096)).join("\n") + "\n";
  const stats: ReadStats = { bad: 0 };
  const back = await records(streamOf(text), {}, stats);
  assert.equal(stats.format, "lcs-csv");
  assert.deepEqual(back.map((r) => r.off / 4096), blockSequence(recs, 4096));
  // With the header libCacheSim's own csv traces carry, and three columns.
  const hdr = "time,obj_id,obj_size\n5,10,512\n6,11,512\n";
  assert.deepEqual(await records(streamOf(hdr)), [
    { ts: 5e9, op: "R", off: 5120, len: 512 },
    { ts: 6e9, op: "R", off: 5632, len: 512 },
  ]);
  await assert.rejects(
    () => records(streamOf("1,2,3,-1\n1,x,3,-1\n"), { format: "lcs-csv" }),
    /line 2: obj_id is not a number/,
  );
});
