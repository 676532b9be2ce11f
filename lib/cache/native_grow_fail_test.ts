import assert from "node:assert/strict";
import { createPolicy } from "./registry.ts";
import { NativeCache } from "./native_cache.ts";
import { CacheMemoryError } from "./errors.ts";
import { native } from "../ffi/ffi.ts";
import { xorshiftUniform as rng } from "../stats/xorshift.ts";

/**
 * native/cache.h's node table grows when a key finds no room in either bucket; when that
 * allocation fails (forced here with cache_test_fail_grow), the access is refused with ENOMEM and
 * the cache is exactly as before it: every later decision matches a TypeScript twin that never
 * saw the refused accesses.
 */
const K = 4096;
const MASK64 = (1n << 64n) - 1n;
const LIST_POLICIES = ["lru", "fifo", "clock", "sieve", "arc", "s3fifo", "2q"];

/** native/cache.h's cache_hash. */
function cacheHash(key: bigint): bigint {
  const h = ((key ^ (key >> 31n)) * 0x9E3779B97F4A7C15n) & MASK64;
  return h ^ (h >> 29n);
}

/** Blocks whose two buckets are bucket 0 in every table of up to 16 buckets (so they must grow it). */
function collidingBlocks(count: number): number[] {
  const out: number[] = [];
  for (let k = 1n; out.length < count; k++) {
    const h = cacheHash(k);
    if ((h >> 32n) < 1n << 28n && (h & 0xffffffffn) < 1n << 28n) out.push(Number(k));
  }
  return out;
}

function withGrowFailing<T>(on: boolean, f: () => T): T {
  native().cache_test_fail_grow(on ? 1 : 0);
  try {
    return f();
  } finally {
    native().cache_test_fail_grow(0);
  }
}

const SEED = Number(Deno.env.get("HVKIT_TEST_SEED") ?? Date.now() % 1_000_000);

Deno.test(`native cache: a table that cannot grow refuses the access and loses nothing (seed ${SEED})`, () => {
  console.log(`seed ${SEED} (HVKIT_TEST_SEED=${SEED} repeats it)`);
  const hot = collidingBlocks(24);
  const universe = [...hot, ...Array.from({ length: 40 }, (_, j) => 1000 + j)];
  for (const name of LIST_POLICIES) {
    const rnd = rng(SEED);
    const cap = 12;
    const ts = createPolicy(name, cap);
    const nat = new NativeCache(name, cap, K);
    let refused = 0;
    try {
      let failing = false;
      for (let i = 0; i < 3000; i++) {
        // Stretches with growth failing (the first one always: the table has to grow early on).
        if (i % 100 === 0) failing = i === 0 || rnd() < 0.5;
        const b = rnd() < 0.8 ? hot[Math.floor(rnd() * hot.length)] : 1000 + Math.floor(rnd() * 40);
        const where = `${name} step ${i} block ${b} (seed ${SEED})`;
        if (rnd() < 0.03) {
          ts.remove(b);
          nat.remove(b);
          continue;
        }
        let hit: boolean | undefined;
        try {
          hit = withGrowFailing(failing, () => nat.access(b, false));
        } catch (e) {
          assert.ok(e instanceof CacheMemoryError, `${where}: ${e}`);
          assert.ok(failing, `${where}: refused while growth could succeed`);
          refused++;
        }
        if (hit !== undefined) assert.equal(hit, ts.access(b, false), where);
        if (hit === undefined || i % 50 === 0) {
          // Refused (or now and then): the same blocks resident as the twin, which never saw it.
          assert.equal(nat.used, ts.used, `used: ${where}`);
          for (const u of universe) assert.equal(nat.has(u), ts.has(u), `has ${u}: ${where}`);
        }
      }
      assert.ok(refused > 0, `${name}: no access was refused (seed ${SEED})`);
    } finally {
      nat.close();
    }
  }
});

Deno.test(`native cache: a replay stops at the request whose block the table could not take (seed ${SEED})`, () => {
  const hot = collidingBlocks(24);
  const rnd = rng(SEED + 1);
  const n = 400;
  const blocks = Array.from({ length: n }, () => hot[Math.floor(rnd() * hot.length)]);
  const batch = {
    count: n,
    op: new Uint8Array(n),
    off: new Float64Array(blocks.map((b) => b * K)),
    len: new Float64Array(n).fill(K),
  };
  for (const name of LIST_POLICIES) {
    const nat = new NativeCache(name, 12, K);
    try {
      let err: unknown;
      withGrowFailing(true, () => {
        try {
          nat.feed(batch);
        } catch (e) {
          err = e;
        }
      });
      assert.ok(err instanceof CacheMemoryError, `${name}: ${err}`);
      const at = err.request!;
      assert.ok(at >= 1 && at <= n, `${name}: request ${at}`);
      assert.match(err.message, new RegExp(`at request ${at}:`));
      // The twin replays the requests before the refused one: the same residents and hits.
      const ts = createPolicy(name, 12);
      let hits = 0;
      for (let i = 0; i < at - 1; i++) if (ts.access(blocks[i], false)) hits++;
      const r = nat.result();
      assert.equal(r.reads.hits, hits, `${name}: hits before request ${at}`);
      assert.equal(nat.used, ts.used, `${name}: used`);
      for (const b of hot) assert.equal(nat.has(b), ts.has(b), `${name}: has ${b}`);
      // The cache stays usable: with growth allowed again the rest replays.
      nat.feed({ ...batch, count: 1, off: new Float64Array([blocks[at - 1] * K]) });
      assert.ok(nat.has(blocks[at - 1]), `${name}: the refused block goes in once it can grow`);
    } finally {
      nat.close();
    }
  }
});
