import assert from "node:assert/strict";
import { createPolicy } from "./registry.ts";
import { OwnerQuotaPolicy } from "./owner_quota.ts";

const owner = (b: number) => b < 1000 ? 0 : 1;

Deno.test("owner quota: an owner over its maximum loses its own least recently used block", () => {
  const evicted: number[] = [];
  const p = new OwnerQuotaPolicy(createPolicy("lru", 8), owner, [3, Infinity]);
  p.onEvict = (b) => evicted.push(b);
  for (const b of [1, 2, 3]) p.access(b, false);
  p.access(1, false); // 1 is now the most recent of VM 0
  p.access(4, false); // VM 0 at 4 > 3: its LRU, block 2, goes
  assert.deepEqual(evicted, [2]);
  assert.equal(p.heldBy(0), 3);
  assert.ok(p.has(1) && p.has(3) && p.has(4) && !p.has(2));
});

Deno.test("owner quota: an uncapped owner fills the pool; the wrapped policy still decides", () => {
  const evicted: number[] = [];
  const p = new OwnerQuotaPolicy(createPolicy("lru", 4), owner, [2, Infinity]);
  p.onEvict = (b) => evicted.push(b);
  for (const b of [1000, 1001, 1002, 1003, 1004]) p.access(b, false);
  assert.deepEqual(evicted, [1000]); // the pool's LRU eviction, passed through
  assert.equal(p.heldBy(1), 4);
  p.access(5, true);
  assert.equal(p.heldBy(0), 1);
  assert.equal(p.used, 4);
});

Deno.test("owner quota: over random traffic no owner ever exceeds its maximum", () => {
  let seed = 12345;
  const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  for (const name of ["lru", "arc", "s3fifo", "qbic", "clock", "2q"]) {
    const p = new OwnerQuotaPolicy(createPolicy(name, 64), owner, [10, 40]);
    const resident = new Set<number>();
    p.onEvict = (b) => resident.delete(b);
    for (let i = 0; i < 20_000; i++) {
      const b = rnd() < 0.5 ? Math.floor(rnd() * 200) : 1000 + Math.floor(rnd() * 200);
      p.access(b, rnd() < 0.3);
      if (p.has(b)) resident.add(b);
      assert.ok(p.heldBy(0) <= 10 && p.heldBy(1) <= 40, `${name} at ${i}`);
    }
    // The wrapper's books agree with the policy's own.
    for (const b of resident) assert.ok(p.has(b), `${name}: ${b} should be resident`);
    assert.equal(p.heldBy(0) + p.heldBy(1), p.used, name);
  }
});
