import assert from "node:assert/strict";
import { CacheLayer } from "./cache_layer.ts";
import { CacheStatsLayer } from "./cache_stats.ts";
import { DONE } from "./sync_done.ts";
import { MemoryDevice } from "./memory_device.ts";
import { createPolicy } from "../cache/registry.ts";

const BS = 4096;

Deno.test("cache stats: hits are counted per block as the simulator counts them", async () => {
  const core = new CacheLayer(new MemoryDevice(1 << 20), {
    policy: createPolicy("lru", 16),
    blockSize: BS,
  });
  const cache = new CacheStatsLayer(core, core);
  await cache.read(0, new Uint8Array(8192)); // 2 misses
  assert.equal(cache.lastHit, false);
  await cache.read(4096, new Uint8Array(4096)); // 1 hit
  assert.equal(cache.lastHit, true);
  await cache.write(0, new Uint8Array(100)); // 1 hit
  assert.deepEqual(
    [cache.stats.readBlocks, cache.stats.readHits, cache.stats.writeBlocks, cache.stats.writeHits],
    [3, 1, 1, 1],
  );
  await cache.close();
});

Deno.test("cache stats: refused requests are not counted; empty ones are whole hits", async () => {
  const core = new CacheLayer(new MemoryDevice(1 << 20, { readOnly: true }), {
    policy: createPolicy("lru", 16),
    blockSize: BS,
  });
  const cache = new CacheStatsLayer(core, core);
  await assert.rejects(() => cache.read(1 << 20, new Uint8Array(1)), /past the end|range/);
  await assert.rejects(() => cache.write(0, new Uint8Array(1)), /read-only/);
  await assert.rejects(() => cache.trim(0, 4096), /read-only/);
  assert.equal(cache.read(0, new Uint8Array(0)) instanceof Promise, true);
  await cache.flush();
  const s = cache.stats;
  assert.deepEqual(
    [s.readRequests, s.readWholeHits, s.readBlocks, s.writeRequests, s.trims, s.flushes],
    [1, 1, 0, 0, 0, 1],
  );
  await cache.close();
  await assert.rejects(() => cache.flush(), /closed/);
  assert.equal(s.flushes, 1);
});

Deno.test("cache stats: a hit stays synchronous (DONE) through the layer", async () => {
  const core = new CacheLayer(new MemoryDevice(1 << 20), {
    policy: createPolicy("lru", 16),
    blockSize: BS,
  });
  const cache = new CacheStatsLayer(core, core);
  await cache.read(0, new Uint8Array(BS));
  assert.equal(cache.read(0, new Uint8Array(BS)), DONE);
  assert.equal(cache.lastHit, true);
  await cache.close();
});
