import assert from "node:assert/strict";
import type { AdmissionFilter } from "./policy.ts";
import { createPolicy, POLICY_NAMES } from "./registry.ts";
import { hasNativeTwin, NativeCache } from "./native_cache.ts";
import { admissionMask, simulateColumns, toColumns, type TraceColumns } from "./simulate.ts";
import { BinaryTraceWriter } from "../trace/binary.ts";
import { readTraceChunks } from "../trace/read_trace.ts";
import { runGrid } from "./sim_grid.ts";
import { createAdmission } from "./admission.ts";
import type { IoOp, IoRecord } from "../trace/io_record.ts";
import { xorshiftUniform as rng } from "../stats/xorshift.ts";

const TWINS = ["lru", "fifo", "clock", "sieve", "s3fifo", "arc", "2q", "lfu", "qbic"];
const K = 4096;

Deno.test("native twins: every online policy but belady has one", () => {
  for (const p of TWINS) assert.ok(hasNativeTwin(p), p);
  assert.equal(hasNativeTwin("belady"), false);
  assert.equal(hasNativeTwin("nope"), false);
  for (const p of POLICY_NAMES) assert.equal(hasNativeTwin(p), p !== "belady", p);
});

Deno.test("native twins: same hit/miss on every access, same resident set, random traces", () => {
  const caps = [0, 1, 2, 3, 5, 16, 64];
  let seed = 1;
  for (const name of TWINS) {
    for (const cap of caps) {
      for (const spread of [2, 3, 12]) {
        const s = seed++;
        const rnd = rng(s);
        const universe = spread * cap + 3 + (spread === 12 ? 100 : 0);
        const ts = createPolicy(name, cap);
        const nat = new NativeCache(name, cap, K);
        try {
          const steps = cap >= 64 ? 6000 : 2500;
          for (let i = 0; i < steps; i++) {
            // A skewed key: half the accesses go to a small hot set.
            const hot = rnd() < 0.5;
            const b = Math.floor(rnd() * (hot ? Math.max(2, cap) : universe));
            const u = rnd();
            const where = `${name} cap ${cap} universe ${universe} seed ${s} step ${i}`;
            if (u < 0.04) {
              ts.remove(b);
              nat.remove(b);
            } else {
              const w = u < 0.35;
              assert.equal(nat.access(b, w), ts.access(b, w), `access ${b}: ${where}`);
            }
            if (i % 97 === 0 || i === steps - 1) {
              assert.equal(nat.used, ts.used, `used: ${where}`);
              for (let k = 0; k < universe; k++) {
                assert.equal(nat.has(k), ts.has(k), `has ${k}: ${where}`);
              }
            }
          }
        } finally {
          nat.close();
        }
      }
    }
  }
});

function randomRecords(seed: number, n: number, span: number): IoRecord[] {
  const rnd = rng(seed);
  const ops: IoOp[] = ["R", "R", "R", "W", "W", "Z", "T", "F"];
  const recs: IoRecord[] = [];
  for (let i = 0; i < n; i++) {
    const op = ops[Math.floor(rnd() * ops.length)];
    const aligned = rnd() < 0.7;
    const off = aligned ? Math.floor(rnd() * span) * K : Math.floor(rnd() * span * K);
    const len = rnd() < 0.03 ? 0 : aligned ? K * (1 + Math.floor(rnd() * 3)) : 1 +
      Math.floor(rnd() * 3 * K);
    recs.push({ ts: i, op, off, len });
  }
  return recs;
}

Deno.test("native twins: column batches give the TS simulator's result, with admission", () => {
  // Refuses writes to the first 32 blocks (a journal-like range), reads pass.
  const deny: AdmissionFilter = {
    name: "deny-low-writes",
    admit: (q) => !(q.op !== "R" && q.off < 32 * K),
  };
  for (const name of TWINS) {
    for (const [cap, span, seed] of [[0, 20, 11], [4, 24, 12], [33, 120, 13], [200, 600, 14]]) {
      const cols: TraceColumns = toColumns(randomRecords(seed, 5000, span));
      for (const admission of [undefined, deny]) {
        const want = simulateColumns(cols, createPolicy(name, cap), K, admission);
        const nat = new NativeCache(name, cap, K);
        try {
          // In uneven batches, as the chunked reader would give them.
          const mask = admission ? admissionMask(cols, admission) : undefined;
          for (let at = 0; at < cols.count; at += 777) {
            const end = Math.min(cols.count, at + 777);
            nat.feed({
              count: end - at,
              op: cols.op.subarray(at, end),
              off: cols.off.subarray(at, end),
              len: cols.len.subarray(at, end),
            }, mask?.subarray(at, end));
          }
          assert.deepEqual(nat.result(), want, `${name} cap ${cap} admission ${admission?.name}`);
        } finally {
          nat.close();
        }
      }
    }
  }
});

async function writeBinary(path: string, recs: IoRecord[]): Promise<void> {
  const f = await Deno.open(path, { write: true, create: true, truncate: true });
  const w = new BinaryTraceWriter(f.writable);
  for (const r of recs) await w.write(r);
  await w.close();
}

Deno.test("native twins: a whole binary file (with device names) replays as the TS engine", async () => {
  const dir = await Deno.makeTempDir({ prefix: "native_twin_" });
  try {
    const recs = randomRecords(21, 20000, 3000).map((r, i) => ({
      ...r,
      dev: i % 5000 === 0 ? `dev-with-a-rather-long-name-${i}` : undefined,
    }));
    const path = `${dir}/t.bin`;
    await writeBinary(path, recs);
    for (const name of TWINS) {
      const ts = await runGrid(readTraceChunks(path), [name], [500 * K], K, undefined, {
        engine: "ts",
      });
      const nat = new NativeCache(name, 500, K);
      try {
        await nat.runFile(path);
        assert.equal(nat.records, recs.length);
        assert.deepEqual(nat.result(), ts.cells[0].result, name);
      } finally {
        nat.close();
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("native twins: PDC's exact admission in the native file replay equals the TS filter", async () => {
  const dir = await Deno.makeTempDir({ prefix: "native_twin_pdc_" });
  try {
    const rnd = rng(77);
    const recs = randomRecords(31, 15000, 2000).map((r) =>
      rnd() < 0.05 ? { ...r, class: "journal" as const } : r
    );
    const path = `${dir}/t.bin`;
    await writeBinary(path, recs);
    // Overlapping and touching ranges, unsorted: RangeSet normalizes them.
    const ranges = [
      { off: 300 * K + 100, len: 40 * K },
      { off: 0, len: 2 * K },
      { off: 320 * K, len: 100 * K },
      { off: 1500 * K, len: 1 },
    ];
    for (const name of ["lru", "s3fifo", "qbic"]) {
      const grids = [];
      for (const engine of ["native", "ts"] as const) {
        const admission = await createAdmission("pdc", { ranges });
        grids.push(
          await runGrid(readTraceChunks(path), [name, "belady"], [200 * K], K, admission, {
            engine,
            binaryFile: path,
          }),
        );
      }
      const [nat, ts] = grids;
      assert.equal(nat.cells[0].engine, "native");
      assert.ok(nat.cells[0].result.bypassedRequests > 0, "the ranges refuse something");
      assert.deepEqual(nat.cells.map((c) => c.result), ts.cells.map((c) => c.result), name);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("native twins: malformed binary files fail with the TS reader's message", async () => {
  const dir = await Deno.makeTempDir({ prefix: "native_twin_bad_" });
  try {
    const good = `${dir}/good.bin`;
    await writeBinary(good, randomRecords(5, 10, 10));
    const bytes = await Deno.readFile(good);
    const cases: [string, Uint8Array][] = [
      ["short header", bytes.slice(0, 9)],
      ["truncated record", bytes.slice(0, bytes.length - 5)],
      ["not binary", new TextEncoder().encode("x".repeat(40))],
    ];
    const badOp = bytes.slice();
    badOp[16 + 3 * 24 + 20] = 9;
    cases.push(["bad op", badOp]);
    for (const [what, data] of cases) {
      const path = `${dir}/bad.bin`;
      await Deno.writeFile(path, data);
      let tsErr = "";
      try {
        for await (const _ of readTraceChunks(path, { format: "bin" })) { /* drain */ }
      } catch (e) {
        tsErr = (e as Error).message;
      }
      const nat = new NativeCache("lru", 4, K);
      try {
        await assert.rejects(() => nat.runFile(path), (e: Error) => {
          assert.equal(e.message, tsErr, what);
          return true;
        });
      } finally {
        nat.close();
      }
    }
    const nat = new NativeCache("lru", 4, K);
    try {
      await assert.rejects(() => nat.runFile(`${dir}/missing.bin`), Deno.errors.NotFound);
    } finally {
      nat.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
