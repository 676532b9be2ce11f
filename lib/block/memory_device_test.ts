import assert from "node:assert/strict";
import { MemoryDevice } from "./memory_device.ts";
import type { BlockError } from "./block_device.ts";

Deno.test("memory device: writes across pages read back, holes are zero", async () => {
  const dev = new MemoryDevice(1 << 20);
  const data = new Uint8Array(100_000).map((_, i) => (i * 7) & 255);
  await dev.write(60_000, data);
  const back = new Uint8Array(100_000);
  await dev.read(60_000, back);
  assert.deepEqual(back, data);
  const hole = new Uint8Array(4096).fill(9);
  await dev.read(900_000, hole);
  assert.ok(hole.every((b) => b === 0));
  await dev.zero(60_001, 10);
  await dev.read(60_000, back.subarray(0, 12));
  assert.equal(back[0], data[0]);
  assert.ok(back.subarray(1, 11).every((b) => b === 0));
  assert.equal(back[11], data[11]);
});

Deno.test("memory device: range and read-only errors carry errno names", async () => {
  const dev = new MemoryDevice(8192);
  await assert.rejects(() => dev.write(8000, new Uint8Array(512)), (e: BlockError) => {
    return e.code === "ENOSPC";
  });
  const ro = new MemoryDevice(8192, { readOnly: true });
  await assert.rejects(() => ro.write(0, new Uint8Array(1)), (e: BlockError) => e.code === "EPERM");
});
