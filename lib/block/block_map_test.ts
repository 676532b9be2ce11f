import assert from "node:assert/strict";
import { BlockLocks } from "./block_locks.ts";
import { BlockMap, type Entry, type MapEvents } from "./block_map.ts";
import { MemoryDevice } from "./memory_device.ts";
import { createPolicy } from "../cache/registry.ts";
import type { AdmissionFilter } from "../cache/policy.ts";

const BS = 4096;

function newMap(o: { blocks?: number; admission?: AdmissionFilter; cacheOnRead?: boolean } = {}) {
  const inner = new MemoryDevice(64 * BS);
  const locks = new BlockLocks();
  const events: MapEvents = { bypassedRequests: 0, bypassedBlocks: 0, evictions: 0 };
  const settled: number[] = [];
  const evicted: number[] = [];
  const settle = (e: Entry) => {
    settled.push(e.block);
    return Promise.resolve(true);
  };
  const map = new BlockMap(
    inner,
    locks,
    {
      policy: createPolicy("lru", o.blocks ?? 4),
      blockSize: BS,
      admission: o.admission,
      cacheOnRead: o.cacheOnRead,
      onEvicted: (b) => evicted.push(b),
    },
    events,
    settle,
  );
  return { inner, locks, events, map, settled, evicted };
}

Deno.test("block map: lookup counts hits per block and keeps misses as empty entries", async () => {
  const { inner, map } = newMap();
  await inner.write(0, new Uint8Array(2 * BS).fill(3));
  assert.equal(map.lookup("R", 0, 2 * BS, 0, 1, false), 0);
  assert.equal(map.resident.get(0)?.valid, false, "kept, not yet filled");
  const buf = new Uint8Array(2 * BS);
  assert.equal(map.tryRead(0, 1, 0, buf), false, "unfilled: no fast path");
  await map.readThrough(0, 1, 0, buf);
  assert.ok(buf.every((x) => x === 3));
  assert.equal(map.lookup("R", 100, 10, 0, 0, false), 1);
  const small = new Uint8Array(10);
  assert.equal(map.tryRead(0, 0, 100, small), true);
  assert.ok(small.every((x) => x === 3));
});

Deno.test("block map: without cache-on-read a read miss is not kept", () => {
  const { map } = newMap({ cacheOnRead: false });
  map.lookup("R", 0, BS, 0, 0, false);
  assert.equal(map.resident.size, 0);
  assert.equal(map.policy.has(0), false);
  map.lookup("W", 0, BS, 0, 0, false);
  assert.equal(map.resident.size, 1);
});

Deno.test("block map: evictions are counted, told, and a dirty entry is settled after its lock", async () => {
  const { map, events, evicted, settled, locks } = newMap({ blocks: 2 });
  map.lookup("W", 0, BS, 0, 0, false);
  const e0 = map.resident.get(0)!;
  e0.dirty = true;
  const [, release] = locks.lock(0, 0); // a request still owed block 0
  map.lookup("W", BS, 2 * BS, 1, 2, false); // evicts block 0
  assert.equal(events.evictions, 1);
  assert.deepEqual(evicted, [0]);
  assert.equal(map.resident.has(0), false);
  assert.equal(map.entry(0), e0, "still reachable to the request queued before the eviction");
  await Promise.resolve();
  assert.deepEqual(settled, [], "settled only after that request releases");
  release();
  await locks.idle();
  assert.deepEqual(settled, [0]);
  assert.equal(map.entry(0), undefined);
});

Deno.test("block map: a refused request bypasses (its blocks removed, counted)", () => {
  let refuse = false;
  const { map, events } = newMap({ admission: { name: "test", admit: () => !refuse } });
  map.lookup("W", 0, 2 * BS, 0, 1, false);
  assert.equal(map.resident.size, 2);
  refuse = true;
  assert.equal(map.lookup("W", 0, 3 * BS, 0, 2, false), 0);
  assert.deepEqual([events.bypassedRequests, events.bypassedBlocks], [1, 3]);
  assert.equal(map.resident.size, 0);
  assert.equal(map.policy.has(1), false);
});
