import assert from "node:assert/strict";
import type { CachePolicy } from "./policy.ts";
import { createPolicy, ONLINE_POLICY_NAMES, POLICY_NAMES } from "./registry.ts";
import { ArcPolicy } from "./arc.ts";
import { TwoQPolicy } from "./two_q.ts";
import { S3FifoPolicy } from "./s3fifo.ts";
import { simulate } from "./simulate.ts";
import { lruHits, stackDistances } from "./stack_distance.ts";
import type { IoRecord } from "../trace/io_record.ts";

/** Feeds reads; returns the H/M string and the evicted blocks. */
function run(p: CachePolicy, seq: number[]): { hm: string; ev: number[] } {
  const ev: number[] = [];
  p.onEvict = (b) => ev.push(b);
  const hm = seq.map((b) => p.access(b, false) ? "H" : "M").join("");
  return { hm, ev };
}

Deno.test("fifo: a hit does not refresh", () => {
  assert.deepEqual(run(createPolicy("fifo", 2), [1, 2, 1, 3, 1]), { hm: "MMHMM", ev: [1, 2] });
});

Deno.test("clock: inserted with the bit clear, a hit sets it (second chance)", () => {
  assert.deepEqual(run(createPolicy("clock", 2), [1, 2, 1, 3, 1, 2]), {
    hm: "MMHMHM",
    ev: [2, 3],
  });
});

Deno.test("sieve: the hand keeps its place between evictions", () => {
  assert.deepEqual(run(createPolicy("sieve", 3), [1, 2, 3, 1, 2, 4, 5, 4, 6]), {
    hm: "MMMHHMMHM",
    ev: [3, 1, 2],
  });
});

Deno.test("lfu: lowest count goes first, ties by least recent", () => {
  assert.deepEqual(run(createPolicy("lfu", 2), [1, 1, 2, 3, 2]), { hm: "MHMMM", ev: [2, 3] });
  assert.deepEqual(run(createPolicy("lfu", 2), [1, 2, 3, 2]), { hm: "MMMH", ev: [1] });
});

Deno.test("2q: A1in overflow goes to A1out; a ghost hit enters Am", () => {
  const p = new TwoQPolicy(4);
  assert.equal(p.kin, 1);
  assert.equal(p.kout, 2);
  assert.deepEqual(run(p, [1, 2, 3, 4, 5, 1, 1, 3]), { hm: "MMMMMMHH", ev: [1, 2] });
  // 6 and 7 push 3 and 4 to A1out, which drops 2 (its oldest): 2 is new again, 3 is a ghost.
  run(p, [6, 7]);
  assert.ok(!p.has(2) && !p.has(3));
  p.access(3, false); // ghost hit: into Am
  assert.equal(p.access(3, false), true);
});

Deno.test("arc: adapts p on ghost hits (hand-checked)", () => {
  const p = new ArcPolicy(2);
  assert.deepEqual(run(p, [1, 2, 1, 3]), { hm: "MMHM", ev: [2] });
  assert.equal(p.p, 0);
  p.access(2, false); // B1 hit: p = 1, T2's LRU (1) goes to B2
  assert.equal(p.p, 1);
  assert.ok(!p.has(1) && p.has(2) && p.has(3));
  p.access(1, false); // B2 hit: p = 0, T1's LRU (3) goes to B1
  assert.equal(p.p, 0);
  assert.ok(p.has(1) && p.has(2) && !p.has(3));
});

Deno.test("s3fifo: small 10%, ghost promotion, main as 2-bit clock (hand-checked)", () => {
  const p = new S3FifoPolicy(10);
  assert.equal(p.smallCap, 1);
  const seq = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 12, 3, 13, 12, 14];
  assert.deepEqual(run(p, seq), {
    hm: "MMMMMMMMMMMMMHMMM",
    ev: [1, 11, 2, 12, 13, 4],
  });
});

Deno.test("belady: evicts the block used farthest in the future", () => {
  const recs = [1, 2, 3, 1, 2, 3].map((b) => ({
    ts: 0,
    op: "R" as const,
    off: b * 4096,
    len: 4096,
  }));
  const p = createPolicy("belady", 2);
  const ev: number[] = [];
  p.onEvict = (b) => ev.push(b);
  const r = simulate(recs, p, 4096);
  assert.equal(r.hits, 2);
  assert.deepEqual(ev, [2, 1]);
});

function randomTrace(seed: number, n: number, keys: number, withTrims: boolean): IoRecord[] {
  let x = seed;
  const rnd = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 4294967296;
  const out: IoRecord[] = [];
  for (let i = 0; i < n; i++) {
    // Skewed keys: squares pull toward 0, plus a scan now and then.
    const k = Math.floor(rnd() * rnd() * keys);
    const op = withTrims && rnd() < 0.05 ? "T" : rnd() < 0.3 ? "W" : "R";
    out.push({ ts: i, op, off: k * 4096, len: 4096 * (1 + Math.floor(rnd() * 3)) });
  }
  return out;
}

Deno.test("lru: the hit count at every size equals the stack-distance computation", () => {
  for (const seed of [1, 2, 3]) {
    const recs = randomTrace(seed, 3000, 400, false);
    const seq: number[] = [];
    for (const r of recs) for (let b = r.off / 4096; b < (r.off + r.len) / 4096; b++) seq.push(b);
    const h = stackDistances(new Float64Array(seq));
    const sizes = [1, 2, 3, 5, 8, 16, 50, 100, 200, 300, 402, 1000];
    const expect = lruHits(h, sizes);
    sizes.forEach((c, i) => {
      assert.equal(simulate(recs, createPolicy("lru", c), 4096).hits, expect[i], `size ${c}`);
    });
  }
});

// Demand-paging MIN is optimal among policies that insert every miss. QBic may refuse a block
// (admission), which MIN's model does not allow, so it can beat MIN and is left out here.
Deno.test("belady: OPT is never beaten by any demand-paging policy", () => {
  for (const seed of [7, 8]) {
    const recs = randomTrace(seed, 2000, 300, false);
    for (const c of [1, 4, 16, 64, 200]) {
      const opt = simulate(recs, createPolicy("belady", c), 4096).hits;
      for (const name of ONLINE_POLICY_NAMES.filter((n) => n !== "qbic")) {
        const h = simulate(recs, createPolicy(name, c), 4096).hits;
        assert.ok(h <= opt, `${name} at ${c}: ${h} > OPT ${opt}`);
      }
    }
  }
});

Deno.test("every policy: used <= capacity, has() agrees with used, evicted blocks are gone", () => {
  for (const name of ONLINE_POLICY_NAMES) {
    for (const c of [0, 1, 3, 10, 37]) {
      const p = createPolicy(name, c);
      let x = c + 1;
      const resident = new Set<number>();
      p.onEvict = (b) => {
        assert.ok(resident.has(b), `${name}: evicted ${b} that was not resident`);
        resident.delete(b);
      };
      for (let i = 0; i < 3000; i++) {
        x = (Math.imul(x, 1103515245) + 12345) >>> 0;
        const b = (x >>> 8) % 60;
        if ((x & 15) === 0) {
          p.remove(b);
          resident.delete(b);
        } else {
          const hit = p.access(b, (x & 1) === 1);
          assert.equal(hit, resident.has(b), `${name}/${c}: hit(${b}) disagrees at ${i}`);
          if (p.has(b)) resident.add(b);
        }
        assert.ok(p.used <= c, `${name}: used ${p.used} > ${c}`);
        assert.equal(p.used, resident.size, `${name}/${c}: used at ${i}`);
      }
      for (let b = 0; b < 60; b++) assert.equal(p.has(b), resident.has(b), `${name} has(${b})`);
    }
  }
  assert.ok(POLICY_NAMES.includes("belady"));
});
