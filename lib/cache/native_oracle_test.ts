import assert from "node:assert/strict";
import { NativeCache } from "./native_cache.ts";
import { mappableTraceFile, runGrid } from "./sim_grid.ts";
import { readTraceChunks } from "../trace/read_trace.ts";
import { ORACLE_RECORD_SIZE } from "../trace/oracle_general.ts";
import { xorshiftUniform as rng } from "../stats/xorshift.ts";

const TWINS = ["lru", "fifo", "clock", "sieve", "s3fifo", "arc", "2q", "lfu", "qbic"];
const K = 4096;

/** oracleGeneral bytes of `recs` ([obj_id, obj_size] pairs; time = index, next = -1). */
function oracle(recs: [bigint, number][]): Uint8Array {
  const b = new Uint8Array(recs.length * ORACLE_RECORD_SIZE);
  const dv = new DataView(b.buffer);
  recs.forEach(([id, size], i) => {
    const p = i * ORACLE_RECORD_SIZE;
    dv.setUint32(p, i, true);
    dv.setBigUint64(p + 4, id, true);
    dv.setUint32(p + 12, size, true);
    dv.setBigInt64(p + 16, -1n, true);
  });
  return b;
}

Deno.test("native oracleGeneral replay: the mapped file gives what the TS reader gives, every twin", async () => {
  const dir = await Deno.makeTempDir({ prefix: "native_oracle_" });
  try {
    const seed = Date.now() % 100000;
    const rnd = rng(seed);
    // Mostly 4 KiB objects over a skewed id space; some of other sizes (0, 1, 512, 64 KiB)
    // that start inside blocks and span several.
    const sizes = [K, K, K, K, K, 0, 1, 512, 65536];
    const recs: [bigint, number][] = [];
    for (let i = 0; i < 30000; i++) {
      const hot = rnd() < 0.6;
      const id = Math.floor(rnd() * (hot ? 300 : 5000));
      recs.push([BigInt(id), sizes[Math.floor(rnd() * sizes.length)]]);
    }
    const path = `${dir}/t.oracleGeneral`;
    await Deno.writeFile(path, oracle(recs));
    const mapped = await mappableTraceFile(path);
    assert.deepEqual(mapped, { path, format: "oracleGeneral" });
    for (const name of TWINS) {
      const nat = await runGrid(readTraceChunks(path), [name], [200 * K], K, undefined, {
        engine: "native",
        binaryFile: path,
        fileFormat: "oracleGeneral",
      });
      const ts = await runGrid(readTraceChunks(path), [name], [200 * K], K, undefined, {
        engine: "ts",
      });
      assert.equal(nat.cells[0].engine, "native");
      assert.ok(nat.cells[0].cpuSeconds !== undefined, `${name}: replayed from the mapped file`);
      assert.equal(nat.requests, recs.length);
      assert.deepEqual(nat.cells[0].result, ts.cells[0].result, `${name}, seed ${seed}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("native oracleGeneral replay: bad records fail with the TS reader's message; the 2^53 edge is accepted", async () => {
  const dir = await Deno.makeTempDir({ prefix: "native_oracle_bad_" });
  try {
    const ok: [bigint, number][] = [[1n, K], [2n, K], [3n, K]];
    const cases: [string, Uint8Array][] = [
      ["obj_id at 2^53", oracle([...ok, [2n ** 53n, K]])],
      ["obj_id at 2^64 - 1", oracle([...ok, [2n ** 64n - 1n, 0]])],
      ["product past 2^53", oracle([...ok, [2n ** 40n, 2 ** 14]])],
      ["ends one byte past 2^53", oracle([...ok, [2n ** 41n - 1n, K + 1]])],
      ["a partial record at the end", new Uint8Array([...oracle(ok), 1, 2, 3, 4, 5])],
    ];
    for (const [what, data] of cases) {
      const path = `${dir}/bad.oracleGeneral`;
      await Deno.writeFile(path, data);
      let tsErr = "";
      try {
        for await (const _ of readTraceChunks(path)) { /* drain */ }
      } catch (e) {
        tsErr = (e as Error).message;
      }
      assert.match(tsErr, /^line 4: /, what);
      const nat = new NativeCache("lru", 4, K);
      try {
        await assert.rejects(() => nat.runFile(path, "oracleGeneral"), (e: Error) => {
          assert.equal(e.message, tsErr, what);
          return true;
        });
      } finally {
        nat.close();
      }
    }
    // The last block below 2^53, ending exactly at 2^53: a valid request for both readers.
    const edge = `${dir}/edge.oracleGeneral`;
    await Deno.writeFile(edge, oracle([...ok, [2n ** 41n - 1n, K]]));
    const nat = new NativeCache("lru", 4, K);
    try {
      await nat.runFile(edge, "oracleGeneral");
      assert.equal(nat.records, 4);
    } finally {
      nat.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mappableTraceFile: compressed, stdin and other formats stream; --format names it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "native_oracle_map_" });
  try {
    const raw = `${dir}/x.trace`;
    await Deno.writeFile(raw, oracle([[1n, K]]));
    assert.equal(await mappableTraceFile(raw), undefined, "no name, no magic: not mapped");
    assert.deepEqual(await mappableTraceFile(raw, "oracleGeneral"), {
      path: raw,
      format: "oracleGeneral",
    });
    assert.equal(await mappableTraceFile(raw, "jsonl"), undefined);
    assert.equal(await mappableTraceFile("-", "oracleGeneral"), undefined);
    const zst = `${dir}/x.oracleGeneral.zst`;
    await Deno.writeFile(zst, new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0]));
    assert.equal(await mappableTraceFile(zst), undefined, "zstd bytes stream through zstd");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
