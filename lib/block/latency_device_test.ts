import assert from "node:assert/strict";
import { LatencyDevice, type ModelClock } from "./latency_device.ts";
import { parseLatencyModel } from "./latency_model.ts";
import { MemoryDevice } from "./memory_device.ts";
import { monotonicNs, sleepUntilNs } from "../ffi/clock.ts";

/** A clock the test moves by hand; sleeps record their deadline and return at once. */
function fakeClock(): ModelClock & { t: number; deadlines: number[] } {
  const c = {
    t: 1_000,
    deadlines: [] as number[],
    nowNs: () => c.t,
    sleepUntilNs: (d: number) => {
      c.deadlines.push(d);
      return Promise.resolve();
    },
  };
  return c;
}

Deno.test("latency device: one queue serves requests one after another", async () => {
  const clock = fakeClock();
  const dev = new LatencyDevice(
    new MemoryDevice(1 << 20),
    parseLatencyModel("100us", 1 << 20),
    clock,
  );
  await Promise.all([0, 1, 2, 3].map((i) => dev.read(i * 4096, new Uint8Array(4096))));
  assert.deepEqual(clock.deadlines, [101_000, 201_000, 301_000, 401_000]);
  assert.equal(dev.stats.requests, 4);
  assert.equal(dev.stats.bytes, 4 * 4096);
  assert.equal(dev.stats.busyNs, 400_000);
  assert.equal(dev.stats.queueWaitNs, 0 + 100_000 + 200_000 + 300_000);
  assert.equal(dev.stats.maxLatencyNs, 400_000);
});

Deno.test("latency device: N queues serve N at once; an idle device starts at arrival", async () => {
  const clock = fakeClock();
  const dev = new LatencyDevice(
    new MemoryDevice(1 << 20),
    parseLatencyModel("fixed(latency=1ms,queues=2)", 1 << 20),
    clock,
  );
  await Promise.all([0, 1, 2].map((i) => dev.write(i * 512, new Uint8Array(512).fill(i + 1))));
  assert.deepEqual(clock.deadlines, [1_001_000, 1_001_000, 2_001_000]);
  clock.t = 10_000_000; // long after: both queues idle again
  await dev.flush();
  assert.equal(clock.deadlines.at(-1), 11_000_000);
});

Deno.test("latency device: data passes through unchanged, errors too", async () => {
  const mem = new MemoryDevice(1 << 16);
  const dev = new LatencyDevice(mem, parseLatencyModel("10us", mem.size));
  const data = Uint8Array.from({ length: 8192 }, (_, i) => (i * 31 + 7) & 0xff);
  await dev.write(4096, data);
  const back = new Uint8Array(8192);
  await dev.read(4096, back);
  assert.deepEqual(back, data);
  await dev.zero(4096, 4096);
  await dev.read(4096, back);
  assert.deepEqual(back.subarray(0, 4096), new Uint8Array(4096));
  await assert.rejects(() => dev.read(1 << 16, new Uint8Array(1)), /past the end/);
  await dev.close();
});

Deno.test("latency device: the native clock waits at least until the deadline", async () => {
  const t0 = monotonicNs();
  await sleepUntilNs(t0 + 200_000);
  assert.ok(monotonicNs() >= t0 + 200_000); // a lower bound, which a sleep cannot break
  await sleepUntilNs(t0); // a deadline in the past returns at once
});
