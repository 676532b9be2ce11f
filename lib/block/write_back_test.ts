import assert from "node:assert/strict";
import { BlockError } from "./block_device.ts";
import { CacheLayer } from "./cache_layer.ts";
import { MemoryDevice } from "./memory_device.ts";
import { MAX_RUN } from "./write_back.ts";
import { createPolicy } from "../cache/registry.ts";

const BS = 4096;

/** A memory device that records its writes (offset, length) and can be made to fail them. */
class LoggedDevice extends MemoryDevice {
  writes: [number, number][] = [];
  fail = false;
  override write(offset: number, data: Uint8Array): Promise<void> {
    this.writes.push([offset, data.length]);
    if (this.fail) return Promise.reject(new BlockError("EIO", "injected write failure"));
    return super.write(offset, data);
  }
}

function cacheOver(inner: MemoryDevice, mode: "writeback" | "writethrough" = "writeback") {
  return new CacheLayer(inner, {
    policy: createPolicy("lru", 1024),
    blockSize: BS,
    mode,
    log: () => {},
  });
}

Deno.test("write-back: FLUSH coalesces adjacent dirty blocks into one device write", async () => {
  const inner = new LoggedDevice(4 << 20);
  const cache = cacheOver(inner);
  for (const b of [3, 1, 2, 7, 8]) await cache.write(b * BS, new Uint8Array(BS).fill(b));
  assert.deepEqual(inner.writes, [], "write-back: nothing reached the device yet");
  assert.deepEqual(cache.dirtyRanges(0, 16 * BS), [[BS, 4 * BS], [7 * BS, 9 * BS]]);
  await cache.flush();
  assert.deepEqual(inner.writes, [[BS, 3 * BS], [7 * BS, 2 * BS]]);
  assert.equal(cache.dirtyBytes, 0);
  assert.equal(cache.events.writebacks, 5);
  await cache.close();
});

Deno.test("write-back: a run is at most MAX_RUN blocks", async () => {
  const inner = new LoggedDevice((MAX_RUN + 10) * BS);
  const cache = cacheOver(inner);
  await cache.write(0, new Uint8Array((MAX_RUN + 3) * BS).fill(1));
  inner.writes = []; // the blocks had no entries yet: those went to the device directly
  await cache.write(0, new Uint8Array((MAX_RUN + 3) * BS).fill(2)); // now all resident: dirty
  await cache.flush();
  assert.deepEqual(inner.writes, [[0, MAX_RUN * BS], [MAX_RUN * BS, 3 * BS]]);
  await cache.close();
});

Deno.test("write-back: a scoped flush writes back only its range", async () => {
  const inner = new LoggedDevice(1 << 20);
  const cache = cacheOver(inner);
  await cache.read(0, new Uint8Array(BS));
  await cache.read(64 * BS, new Uint8Array(BS));
  await cache.write(0, new Uint8Array(BS).fill(1));
  await cache.write(64 * BS, new Uint8Array(BS).fill(2));
  await cache.flushRange(0, 32 * BS);
  assert.deepEqual(inner.writes, [[0, BS]]);
  assert.equal(cache.dirtyBytes, BS);
  await cache.close();
});

Deno.test("write-back: a failed write-back keeps the block dirty; the next FLUSH retries", async () => {
  const inner = new LoggedDevice(1 << 20);
  const cache = cacheOver(inner);
  await cache.read(0, new Uint8Array(BS));
  await cache.write(0, new Uint8Array(BS).fill(4));
  inner.fail = true;
  await assert.rejects(() => cache.flush(), /injected/);
  assert.equal(cache.dirtyBytes, BS);
  inner.fail = false;
  await cache.flush();
  assert.equal(cache.dirtyBytes, 0);
  const back = new Uint8Array(BS);
  await inner.read(0, back);
  assert.ok(back.every((x) => x === 4));
  await cache.close();
});

Deno.test("write-through: a write the device refuses leaves no stale cached copy", async () => {
  const inner = new LoggedDevice(1 << 20);
  await inner.write(0, new Uint8Array(BS).fill(1));
  const cache = cacheOver(inner, "writethrough");
  await cache.read(0, new Uint8Array(BS)); // resident, holding 1s
  inner.fail = true;
  await assert.rejects(() => cache.write(0, new Uint8Array(BS).fill(9)), /injected/);
  inner.fail = false;
  const buf = new Uint8Array(BS);
  await cache.read(0, buf);
  assert.ok(buf.every((x) => x === 1), "refilled from the device, not the refused bytes");
  assert.equal(cache.dirtyBytes, 0);
  await cache.close();
});
