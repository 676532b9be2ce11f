import assert from "node:assert/strict";
import { CACHE_MODES, CacheLayer } from "./cache_layer.ts";
import { CacheStatsLayer } from "./cache_stats.ts";
import { DirtyExtentsLayer } from "./dirty_extents.ts";
import { MemoryDevice } from "./memory_device.ts";
import { createPolicy } from "../cache/registry.ts";

/** A small deterministic PRNG so a failure reproduces. */
function rng(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s % n;
  };
}

const SIZE = 64 * 4096 + 1000; // a partial last block on purpose
const BS = 4096;

async function scenario(policy: string, mode: typeof CACHE_MODES[number], seed: number) {
  const inner = new MemoryDevice(SIZE);
  const core = new CacheLayer(inner, {
    policy: createPolicy(policy, 8),
    blockSize: BS,
    mode,
  });
  // Through the whole stack serve builds: the layers above must not change a byte.
  const cache = new CacheStatsLayer(new DirtyExtentsLayer(core), core);
  const model = new Uint8Array(SIZE);
  const known = new Uint8Array(SIZE).fill(1); // 0 after a trim: contents unspecified
  const r = rng(seed);
  const pending: Promise<void>[] = [];
  const checks: Promise<void>[] = [];
  for (let round = 0; round < 40; round++) {
    // A burst of concurrent requests; each read must see the model as of its issue.
    for (let i = 0; i < 12; i++) {
      const aligned = r(3) > 0;
      const off = aligned ? r(SIZE / BS - 4) * BS : r(SIZE - 20000);
      const len = aligned ? (1 + r(4)) * BS : 1 + r(20000);
      const op = r(10);
      if (op < 4) {
        const buf = new Uint8Array(len);
        const expect = model.slice(off, off + len);
        const mask = known.slice(off, off + len);
        checks.push(
          cache.read(off, buf).then(() => {
            for (let k = 0; k < len; k++) {
              if (mask[k] && buf[k] !== expect[k]) {
                throw new Error(
                  `${policy}/${mode}/${seed}: byte ${off + k} is ${buf[k]}, want ${expect[k]}`,
                );
              }
            }
          }),
        );
      } else if (op < 8) {
        const data = new Uint8Array(len).fill(1 + r(250));
        model.set(data, off);
        known.fill(1, off, off + len);
        pending.push(cache.write(off, data, { fua: r(4) === 0 }));
      } else if (op < 9) {
        model.fill(0, off, off + len);
        known.fill(1, off, off + len);
        pending.push(cache.zero(off, len));
      } else {
        known.fill(0, off, off + len);
        pending.push(cache.trim(off, len));
      }
    }
    if (round % 10 === 9) {
      await Promise.all([...pending, ...checks]);
      await cache.flush();
      if (mode !== "unsafe") {
        const img = new Uint8Array(SIZE);
        await inner.read(0, img);
        for (let k = 0; k < SIZE; k++) {
          if (known[k] && img[k] !== model[k]) {
            throw new Error(`${policy}/${mode}/${seed}: after FLUSH image byte ${k} is stale`);
          }
        }
      }
    }
  }
  await Promise.all([...pending, ...checks]);
  const s = cache.stats;
  assert.ok(s.readBlocks + s.writeBlocks > 0);
  assert.ok(core.residentBlocks <= 8);
  // Close writes everything back, in every mode.
  const img = new Uint8Array(SIZE);
  const close = inner.close.bind(inner);
  inner.close = async () => {
    await inner.read(0, img);
    await close();
  };
  await cache.close();
  for (let k = 0; k < SIZE; k++) {
    if (known[k] && img[k] !== model[k]) {
      throw new Error(`${policy}/${mode}/${seed}: after close image byte ${k} is stale`);
    }
  }
}

for (const policy of ["lru", "arc", "s3fifo", "qbic"]) {
  for (const mode of CACHE_MODES) {
    Deno.test(`cache layer: ${policy} ${mode} matches a byte model under concurrency`, async () => {
      for (const seed of [1, 2, 3]) await scenario(policy, mode, seed);
    });
  }
}

Deno.test("cache layer: close writes dirty blocks back (writeback and unsafe)", async () => {
  for (const mode of ["writeback", "unsafe"] as const) {
    const inner = new MemoryDevice(1 << 20);
    const cache = new CacheLayer(inner, { policy: createPolicy("lru", 64), blockSize: BS, mode });
    await cache.write(8192, new Uint8Array(4096).fill(5));
    const before = new Uint8Array(4096);
    await inner.read(8192, before);
    assert.equal(before[0], 0, "write-back keeps the write in memory");
    assert.equal(cache.dirtyBytes, 4096);
    if (mode === "unsafe") {
      await cache.flush();
      await inner.read(8192, before);
      assert.equal(before[0], 0, "unsafe ignores FLUSH");
    }
    // MemoryDevice drops its bytes on close: look at them just before.
    const seen = new Uint8Array(4096);
    const origClose = inner.close.bind(inner);
    inner.close = async () => {
      await inner.read(8192, seen);
      await origClose();
    };
    await cache.close();
    assert.equal(seen[0], 5);
  }
});

Deno.test("cache layer: a hit completes at once (DONE), a miss or a locked block does not", async () => {
  const { DONE } = await import("./sync_done.ts");
  const inner = new MemoryDevice(1 << 20);
  await inner.write(0, new Uint8Array(8192).fill(5));
  const cache = new CacheLayer(inner, { policy: createPolicy("lru", 16), blockSize: 4096 });
  const buf = new Uint8Array(4096);
  const miss = cache.read(0, buf);
  assert.notEqual(miss, DONE);
  await miss;
  buf.fill(0);
  assert.equal(cache.read(0, buf), DONE);
  assert.ok(buf.every((b) => b === 5)); // filled before the call returned
  assert.equal(cache.read(100, new Uint8Array(10)), DONE); // inside one block
  // A FUA write queues a lock on block 0: a read behind it must wait its turn.
  const w = cache.write(0, new Uint8Array(4096).fill(6), { fua: true });
  const r = cache.read(0, buf);
  assert.notEqual(r, DONE);
  await Promise.all([w, r]);
  assert.ok(buf.every((b) => b === 6));
  await cache.close();
});
