import assert from "node:assert/strict";
import { STATE_HOLE, STATE_ZERO } from "./extents.ts";
import { MemoryDevice } from "./memory_device.ts";
import { CacheLayer } from "./cache_layer.ts";
import { DirtyExtentsLayer, mergeRanges } from "./dirty_extents.ts";
import { createPolicy } from "../cache/registry.ts";

const HZ = STATE_HOLE | STATE_ZERO;

Deno.test("dirty extents: dirty blocks are data although the device still has a hole", async () => {
  const inner = new MemoryDevice(1 << 20);
  const core = new CacheLayer(inner, { policy: createPolicy("lru", 16), blockSize: 4096 });
  const cache = new DirtyExtentsLayer(core);
  await cache.write(8192, new Uint8Array(4096).fill(9)); // writeback: only in the cache
  assert.deepEqual(await inner.extents(0, 1 << 20), [{ length: 1 << 20, flags: HZ }]);
  assert.deepEqual(await cache.extents(0, 1 << 20), [
    { length: 8192, flags: HZ },
    { length: 4096, flags: 0 },
    { length: (1 << 20) - 12288, flags: HZ },
  ]);
  // A query that starts inside the dirty block.
  assert.deepEqual(await cache.extents(10000, 5000), [
    { length: 12288 - 10000, flags: 0 },
    { length: 5000 - (12288 - 10000), flags: HZ },
  ]);
  await cache.flush(); // written back: the device now knows (its 64 KiB page is allocated)
  assert.deepEqual(await cache.extents(0, 65536), [{ length: 65536, flags: 0 }]);
  await cache.close();
});

Deno.test("dirty extents: the cache alone says all data (correct, not precise)", async () => {
  const inner = new MemoryDevice(1 << 20);
  const core = new CacheLayer(inner, { policy: createPolicy("lru", 16), blockSize: 4096 });
  const { extentsOf } = await import("./extents.ts");
  assert.deepEqual(await extentsOf(core, 0, 1 << 20), [{ length: 1 << 20, flags: 0 }]);
  await core.close();
});

Deno.test("mergeRanges joins touching ranges and clips at the end", () => {
  assert.deepEqual(mergeRanges([[0, 10], [10, 20], [30, 40], [35, 50]], 45), [[0, 20], [30, 45]]);
  assert.deepEqual(mergeRanges([], 10), []);
});
