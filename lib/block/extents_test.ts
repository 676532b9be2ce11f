import assert from "node:assert/strict";
import { type BlockExtent, overlayData, STATE_HOLE, STATE_ZERO } from "./extents.ts";
import { MemoryDevice } from "./memory_device.ts";

const HZ = STATE_HOLE | STATE_ZERO;

/** Expands extents to one flag value per byte, for an oracle comparison. */
function perByte(ex: BlockExtent[]): number[] {
  return ex.flatMap((e) => Array(e.length).fill(e.flags));
}

Deno.test("overlayData marks ranges as data, splitting and merging runs", () => {
  assert.deepEqual(overlayData([{ length: 8192, flags: HZ }], 0, [[4096, 8192]]), [
    { length: 4096, flags: HZ },
    { length: 4096, flags: 0 },
  ]);
  // Offsets are absolute; ranges may cross extent boundaries.
  assert.deepEqual(
    overlayData(
      [{ length: 100, flags: HZ }, { length: 100, flags: 0 }, { length: 100, flags: HZ }],
      1000,
      [
        [1050, 1120],
        [1250, 1260],
      ],
    ),
    [
      { length: 50, flags: HZ },
      { length: 150, flags: 0 },
      { length: 50, flags: HZ },
      { length: 10, flags: 0 },
      { length: 40, flags: HZ },
    ],
  );
  // Random cases against a per-byte oracle.
  let seed = 7;
  const r = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
  for (let t = 0; t < 300; t++) {
    const ex: BlockExtent[] = [];
    for (let i = 0, n = 1 + r(5); i < n; i++) ex.push({ length: 1 + r(20), flags: r(2) ? HZ : 0 });
    const total = ex.reduce((n, e) => n + e.length, 0);
    const ranges: [number, number][] = [];
    let at = r(5);
    while (at < total) {
      const len = 1 + r(6);
      ranges.push([at, Math.min(total, at + len)]);
      at += len + 1 + r(8);
    }
    const want = perByte(ex);
    for (const [s, e] of ranges) for (let k = s; k < e; k++) want[k] = 0;
    const got = overlayData(ex, 0, ranges);
    assert.deepEqual(perByte(got), want);
    if (ranges.length === 0) continue; // returned as given
    for (let i = 1; i < got.length; i++) assert.notEqual(got[i].flags, got[i - 1].flags);
  }
});

Deno.test("memory device: unwritten pages are holes that read as zeroes", async () => {
  const dev = new MemoryDevice(1 << 20);
  assert.deepEqual(await dev.extents(0, 1 << 20), [{ length: 1 << 20, flags: HZ }]);
  await dev.write(70000, new Uint8Array(10).fill(1));
  assert.deepEqual(await dev.extents(1000, 200000), [
    { length: 65536 - 1000, flags: HZ },
    { length: 65536, flags: 0 },
    { length: 200000 - 65536 - (65536 - 1000), flags: HZ },
  ]);
  await dev.trim(65536, 65536);
  assert.deepEqual(await dev.extents(0, 1 << 20), [{ length: 1 << 20, flags: HZ }]);
});
