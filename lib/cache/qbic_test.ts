import assert from "node:assert/strict";
import { QbicPolicy } from "./qbic.ts";

function trace(p: { access(b: number, w: boolean): boolean }, seq: number[]): string {
  return seq.map((b) => p.access(b, false) ? "H" : "M").join("");
}

Deno.test("qbic: a block is admitted on its second access, not its first", () => {
  const p = new QbicPolicy(2);
  assert.equal(trace(p, [1, 1, 1]), "MMH");
  assert.equal(p.count(1), 3);
  assert.equal(p.used, 1);
});

Deno.test("qbic: evicts the coldest block, ties by recency; evicted keeps its count", () => {
  const p = new QbicPolicy(2, { agingPeriod: 1e9 });
  const ev: number[] = [];
  p.onEvict = (b) => ev.push(b);
  // 1 counted, 1 admitted(2), 2 counted, 2 admitted(2), 1 hit(3)
  assert.equal(trace(p, [1, 1, 2, 2, 1]), "MMMMH");
  // 3 counted (1), 3 admitted at 2: coldest is 2 (count 2) vs 1 (count 3) -> evict 2
  assert.equal(trace(p, [3, 3]), "MM");
  assert.deepEqual(ev, [2]);
  // 2 comes back: count 3 >= 2, admitted; coldest: 3 (count 2) -> evicted
  assert.equal(trace(p, [2]), "M");
  assert.deepEqual(ev, [2, 3]);
  // tie: 1 has 3, 2 has 3; 1 less recent -> 4,4 evicts 1
  assert.equal(trace(p, [4, 4]), "MM");
  assert.deepEqual(ev, [2, 3, 1]);
});

Deno.test("qbic: threshold option and aging forget one-time blocks", () => {
  const p = new QbicPolicy(4, { threshold: 3, historyEntries: 8, agingPeriod: 4 });
  assert.equal(trace(p, [1, 1, 1, 1]), "MMMH");
  // Aging halved 1's count (4 -> 2) at the 4th access; one-touch blocks get forgotten.
  for (let b = 10; b < 30; b++) p.access(b, false);
  assert.equal(p.count(10), 0);
  assert.ok(p.has(1), "resident blocks are never forgotten");
  assert.equal(p.used, 1);
});

Deno.test("qbic: remove drops the copy, keeps the count", () => {
  const p = new QbicPolicy(2, { agingPeriod: 1e9 });
  trace(p, [5, 5]);
  assert.ok(p.has(5));
  p.remove(5);
  assert.ok(!p.has(5));
  assert.equal(p.used, 0);
  assert.equal(p.access(5, true), false);
  assert.ok(p.has(5), "count 3 >= threshold: re-admitted at once");
});
