import assert from "node:assert/strict";
import type { IoRecord } from "../trace/io_record.ts";
import type { AdmissionFilter } from "./policy.ts";
import { createPolicy, POLICY_NAMES } from "./registry.ts";
import { simulate, simulateColumns, toColumns } from "./simulate.ts";

const K = 4096;
const r = (off: number, len: number, op: IoRecord["op"] = "R"): IoRecord => ({
  ts: 0,
  op,
  off,
  len,
});

Deno.test("simulate: a request over n blocks is n accesses; byte and whole-request shares", () => {
  const recs = [r(0, 2 * K), r(K, 2 * K), r(0, K, "W"), r(100, 10, "F")];
  const res = simulate(recs, createPolicy("lru", 8), K);
  // accesses: 0 1 | 1 2 | 0  -> hits: 1 (block 1), 0 (write)
  assert.equal(res.accesses, 5);
  assert.equal(res.hits, 2);
  assert.equal(res.reads.blocks, 4);
  assert.equal(res.reads.hits, 1);
  assert.equal(res.writes.hits, 1);
  assert.equal(res.flushes, 1);
  assert.equal(res.hitRatio, 2 / 5);
  assert.equal(res.byteHitRatio, (K + K) / (5 * K));
  assert.equal(res.wholeRequestHitShare, 1 / 3);
});

Deno.test("simulate: unaligned requests count the bytes that fall in hit blocks", () => {
  const res = simulate([r(0, 2 * K), r(K - 100, 200)], createPolicy("lru", 8), K);
  assert.equal(res.reads.hits, 2);
  assert.equal(res.reads.hitBytes, 200);
  assert.equal(res.reads.wholeHits, 1);
});

Deno.test("simulate: trims remove blocks, Z counts as a write, zero-length touches nothing", () => {
  const res = simulate(
    [r(0, K, "Z"), r(0, K, "T"), r(0, K), r(0, 0), r(0, K)],
    createPolicy("lru", 8),
    K,
  );
  assert.equal(res.writes.blocks, 1);
  assert.equal(res.trims, 1);
  assert.equal(res.reads.requests, 3);
  assert.equal(res.reads.hits, 1);
  assert.equal(res.hits, 1);
});

Deno.test("simulate: a refused request drops cached copies and misses", () => {
  const deny: AdmissionFilter = { name: "deny-writes", admit: (q) => q.op !== "W" };
  const p = createPolicy("lru", 8);
  const res = simulate([r(0, K), r(0, K, "W"), r(0, K)], p, K, deny);
  assert.equal(res.bypassedRequests, 1);
  assert.equal(res.hits, 0);
  assert.ok(p.has(0), "the last read re-inserted block 0");
});

Deno.test("simulate: column path gives the same result as the record path", () => {
  const recs: IoRecord[] = [];
  let x = 1;
  for (let i = 0; i < 2000; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    const op = (["R", "W", "R", "Z", "T", "F"] as const)[x % 6];
    recs.push({ ts: i, op, off: (x % 97) * 1000, len: (x % 5) * 3000 });
  }
  for (const name of POLICY_NAMES) {
    const a = simulate(recs, createPolicy(name, 16), K);
    const b = simulateColumns(toColumns(recs), createPolicy(name, 16), K);
    assert.deepEqual(a, b, name);
  }
});

Deno.test("simulate: an empty trace is not an error", () => {
  const res = simulate([], createPolicy("qbic", 4), K);
  assert.equal(res.accesses, 0);
  assert.equal(res.hitRatio, 0);
});

Deno.test("registry: unknown names list the known policies", () => {
  assert.throws(() => createPolicy("nope", 4), /unknown policy 'nope' \(known: .*lru.*qbic/);
  assert.ok(POLICY_NAMES.includes("lru") && POLICY_NAMES.includes("qbic"));
});
