/**
 * Many exports behind one cache (issue 20's fairness and isolation rules), on the real layers:
 * windows (SliceDevice) over one cache stack over the images end to end (ConcatDevice).
 * - one export's FLUSH never waits on another export's dirty blocks;
 * - one export's write-back errors do not fail another's requests;
 * - a read-only export cannot be written through the shared cache;
 * - blocks of different exports never alias, even where an image ends mid-block.
 */
import assert from "node:assert/strict";
import { type BlockDevice, BlockError } from "./block_device.ts";
import { MemoryDevice } from "./memory_device.ts";
import { CONCAT_ALIGN, ConcatDevice } from "./concat_device.ts";
import { SliceDevice } from "./slice_device.ts";
import { CacheLayer } from "./cache_layer.ts";
import { CacheStatsLayer } from "./cache_stats.ts";
import { DirtyExtentsLayer } from "./dirty_extents.ts";
import { createPolicy } from "../cache/registry.ts";

/** A memory device whose writes can be held at a gate, or made to fail. */
class GatedDevice extends MemoryDevice {
  gate: Promise<void> | null = null;
  failWrites = false;
  writesStarted = 0;
  override async write(offset: number, data: Uint8Array): Promise<void> {
    this.writesStarted++;
    if (this.gate) await this.gate;
    if (this.failWrites) throw new BlockError("EIO", "injected write failure");
    return super.write(offset, data);
  }
}

function sharedStack(devices: BlockDevice[], cacheBlocks = 64, readOnly: boolean[] = []) {
  const concat = new ConcatDevice(devices);
  const core = new CacheLayer(concat, {
    policy: createPolicy("lru", cacheBlocks),
    blockSize: 4096,
    mode: "writeback",
    log: () => {},
  });
  // The stack serve builds (tools/qbic-cache/cache_stack.ts): cache, block status, statistics.
  const cache = new CacheStatsLayer(new DirtyExtentsLayer(core), core);
  const windows = concat.parts.map((p, i) =>
    new SliceDevice(cache, {
      name: `vm${i + 1}`,
      base: p.base,
      size: p.device.size,
      readOnly: readOnly[i] ?? false,
    })
  );
  return { concat, cache, windows };
}

Deno.test("shared cache: one export's FLUSH does not wait on another's stuck write-back", async () => {
  const a = new GatedDevice(1 << 20), b = new GatedDevice(1 << 20);
  const { windows: [vmA, vmB] } = sharedStack([a, b]);
  await vmB.write(0, new Uint8Array(8192).fill(2)); // dirty in the cache (writeback)
  let open!: () => void;
  b.gate = new Promise((r) => open = r);
  const flushB = vmB.flush(); // B's write-back is now stuck at B's device
  await vmA.write(4096, new Uint8Array(4096).fill(1));
  await vmA.flush(); // completes although B's write-back has not
  const back = new Uint8Array(4096);
  await a.read(4096, back); // A's data reached A's device
  assert.ok(back.every((x) => x === 1));
  let bDone = false;
  flushB.then(() => bDone = true);
  await Promise.resolve();
  assert.equal(bDone, false, "B's flush cannot have finished: its device is held");
  open();
  await flushB;
  await b.read(0, back);
  assert.ok(back.every((x) => x === 2));
});

Deno.test("shared cache: another export's write-back errors fail only that export", async () => {
  const a = new GatedDevice(1 << 20), b = new GatedDevice(1 << 20);
  const { windows: [vmA, vmB] } = sharedStack([a, b], 4);
  await vmB.write(0, new Uint8Array(4 * 4096).fill(7)); // fills the 4-block cache, all dirty
  b.failWrites = true;
  // A's traffic evicts B's dirty blocks; their write-backs fail, A's requests do not.
  for (let i = 0; i < 8; i++) await vmA.write(i * 4096, new Uint8Array(4096).fill(i));
  const buf = new Uint8Array(4096);
  for (let i = 0; i < 8; i++) {
    await vmA.read(i * 4096, buf);
    assert.ok(buf.every((x) => x === i));
  }
  await vmA.flush();
  await assert.rejects(() => vmB.flush(), /injected write failure/);
  b.failWrites = false;
  await vmB.flush(); // kept dirty, retried: nothing lost
  await b.read(0, buf);
  assert.ok(buf.every((x) => x === 7));
});

Deno.test("shared cache: a read-only export cannot be written through the shared cache", async () => {
  const a = new MemoryDevice(1 << 20), b = new MemoryDevice(1 << 20);
  const { cache, windows: [vmA, vmB] } = sharedStack([a, b], 64, [false, true]);
  await vmA.write(0, new Uint8Array(4096).fill(1));
  for (
    const attempt of [
      () => vmB.write(0, new Uint8Array(4096)),
      () => vmB.zero(0, 4096),
      () => vmB.trim(0, 4096),
    ]
  ) {
    await assert.rejects(attempt, (e) => e instanceof BlockError && e.code === "EPERM");
  }
  assert.equal(cache.stats.writeRequests, 1, "the refused writes never reached the cache");
  const buf = new Uint8Array(4096);
  await vmB.read(0, buf);
  assert.ok(buf.every((x) => x === 0));
});

Deno.test("shared cache: images ending mid-block never share a cache block", async () => {
  const a = new MemoryDevice(5000), b = new MemoryDevice(3 * 4096 + 100);
  const { concat, windows: [vmA, vmB] } = sharedStack([a, b]);
  assert.equal(concat.parts[1].base, CONCAT_ALIGN);
  await vmA.write(0, new Uint8Array(5000).fill(0xaa));
  await vmB.write(0, new Uint8Array(3 * 4096 + 100).fill(0xbb));
  await assert.rejects(() => vmA.read(4990, new Uint8Array(11)), /past the end/);
  const tailA = new Uint8Array(904);
  await vmA.read(4096, tailA);
  assert.ok(tailA.every((x) => x === 0xaa));
  await vmA.flush();
  await vmB.flush();
  const rawA = new Uint8Array(5000), rawB = new Uint8Array(3 * 4096 + 100);
  await a.read(0, rawA);
  await b.read(0, rawB);
  assert.ok(rawA.every((x) => x === 0xaa));
  assert.ok(rawB.every((x) => x === 0xbb));
  // The gap after A reads as zeroes and ignores what a whole-block write-back puts there.
  const gap = new Uint8Array(4096);
  await concat.read(8192, gap);
  assert.ok(gap.every((x) => x === 0));
});
