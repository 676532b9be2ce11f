import assert from "node:assert/strict";
import { LruPolicy } from "./lru.ts";

/** Runs a sequence of block reads and returns "H"/"M" per access. */
function trace(p: { access(b: number, w: boolean): boolean }, seq: number[]): string {
  return seq.map((b) => p.access(b, false) ? "H" : "M").join("");
}

Deno.test("lru: hand-checked hit/miss sequence", () => {
  const p = new LruPolicy(3);
  const evicted: number[] = [];
  p.onEvict = (b) => evicted.push(b);
  // 1 2 3 1 4 (evicts 2) 2 (evicts 3) 1 3 (evicts 4)
  assert.equal(trace(p, [1, 2, 3, 1, 4, 2, 1, 3]), "MMMHMMHM");
  assert.deepEqual(evicted, [2, 3, 4]);
  assert.equal(p.used, 3);
  assert.ok(p.has(1) && p.has(2) && p.has(3) && !p.has(4));
});

Deno.test("lru: remove frees room without onEvict; capacity 0 never caches", () => {
  const p = new LruPolicy(2);
  let ev = 0;
  p.onEvict = () => ev++;
  p.access(5, true);
  p.access(6, false);
  p.remove(5);
  p.remove(99);
  assert.equal(p.used, 1);
  assert.equal(p.access(7, false), false);
  assert.equal(ev, 0);
  assert.equal(p.access(6, false), true);
  const z = new LruPolicy(0);
  assert.equal(trace(z, [1, 1, 1]), "MMM");
  assert.equal(z.used, 0);
});

Deno.test("lru: large keys (beyond 2^32) and many evictions keep the index consistent", () => {
  const p = new LruPolicy(64);
  const big = 2 ** 40;
  for (let i = 0; i < 10000; i++) p.access(big + (i * 7919) % 200, false);
  assert.equal(p.used, 64);
  let resident = 0;
  for (let k = 0; k < 200; k++) if (p.has(big + k)) resident++;
  assert.equal(resident, 64);
});
