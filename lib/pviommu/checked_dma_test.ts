import assert from "node:assert/strict";
import fc from "fast-check";
import { PvIommu } from "./iommu.ts";
import { CheckedDma } from "./checked_dma.ts";
import { MapFlag, Status } from "./spec.ts";
import { dmaContext, nativeDmaRead, nativeDmaWrite } from "./native_dma.ts";

const PS = 4096;

type Op =
  | { op: "map"; page: number; pages: number; gpa: number; flags: number }
  | { op: "unmap"; page: number; pages: number }
  | { op: "dma"; ep: number; iova: number; len: number; write: boolean; fill: number }
  | { op: "dmav"; ep: number; seg: number[]; write: boolean; fill: number }
  | { op: "tick" };

const iovaArb = fc.oneof(
  fc.integer({ min: 0, max: 18 * PS }),
  fc.integer({ min: 0, max: 17 }).map((p) => p * PS),
  fc.constantFrom(-1, 0.5, 2 ** 53, 2 ** 60),
);

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constant("map" as const),
    page: fc.integer({ min: 0, max: 15 }),
    pages: fc.integer({ min: 1, max: 3 }),
    gpa: fc.integer({ min: 0, max: 20 }),
    flags: fc.integer({ min: 0, max: 7 }),
  }),
  fc.record({
    op: fc.constant("unmap" as const),
    page: fc.integer({ min: 0, max: 15 }),
    pages: fc.integer({ min: 1, max: 4 }),
  }),
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant("dma" as const),
      ep: fc.integer({ min: 1, max: 3 }),
      iova: iovaArb,
      len: fc.integer({ min: 0, max: 2 * PS }),
      write: fc.boolean(),
      fill: fc.integer({ min: 0, max: 255 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("dmav" as const),
      ep: fc.integer({ min: 1, max: 3 }),
      // A descriptor chain: (IOVA, length) pairs, often whole pages, sometimes across pages.
      seg: fc.array(
        fc.tuple(iovaArb, fc.oneof(fc.constant(PS), fc.integer({ min: 0, max: PS + 8 }))),
        { minLength: 0, maxLength: 6 },
      ).map((ps) => ps.flat()),
      write: fc.boolean(),
      fill: fc.integer({ min: 0, max: 255 }),
    }),
  },
  fc.record({ op: fc.constant("tick" as const) }),
);

/** One device, its RAM and its checked DMA on the given engine. */
function rig(engine: "native" | "ts", mode: "strict" | "deferred") {
  let t = 0;
  const iommu = new PvIommu({
    iotlb: { entries: 32, mode, flushBatch: 3, flushTimeoutNs: 5000, now: () => (t += 1000) },
  });
  iommu.attach(1, 1);
  iommu.attach(1, 2); // endpoint 3 stays unattached: DOMAIN faults
  const ram = new Uint8Array(18 * PS);
  for (let i = 0; i < ram.length; i++) ram[i] = (i * 13 + (i >> 12)) & 0xff;
  let now = 0;
  const dma = new CheckedDma(iommu, ram, undefined, { engine });
  dma.now = () => now++;
  return { iommu, ram, dma };
}

for (const mode of ["strict", "deferred"] as const) {
  Deno.test(`pviommu checked DMA: native and TypeScript engines agree (${mode})`, () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 80 }), (ops) => {
        const a = rig("native", mode);
        const b = rig("ts", mode);
        assert.equal(a.dma.engine, "native");
        assert.equal(b.dma.engine, "ts");
        for (const o of ops) {
          for (const r of [a, b]) {
            if (o.op === "map") {
              r.iommu.map(1, o.page * PS, (o.page + o.pages) * PS - 1, o.gpa * PS, o.flags);
            } else if (o.op === "unmap") {
              r.iommu.unmap(1, o.page * PS, (o.page + o.pages) * PS - 1);
            } else if (o.op === "tick") r.iommu.iotlb.tick();
          }
          if (o.op === "dmav") {
            // The chain in one call; the TS engine does it segment by segment through read().
            const seg = new Float64Array(o.seg);
            let total = 0;
            for (let k = 1; k < seg.length; k += 2) total += seg[k];
            const ba = new Uint8Array(total).fill(o.fill);
            const bb = new Uint8Array(total).fill(o.fill);
            const fa = o.write ? a.dma.writev(o.ep, seg, ba) : a.dma.readv(o.ep, seg, ba);
            const fb = o.write ? b.dma.writev(o.ep, seg, bb) : b.dma.readv(o.ep, seg, bb);
            assert.deepEqual(fa, fb, `chain fault differs on ${JSON.stringify(o)}`);
            assert.deepEqual(ba, bb, `chain bytes read differ on ${JSON.stringify(o)}`);
            continue;
          }
          if (o.op !== "dma") continue;
          const ba = new Uint8Array(o.len).fill(o.fill);
          const bb = new Uint8Array(o.len).fill(o.fill);
          const fa = o.write ? a.dma.write(o.ep, o.iova, ba) : a.dma.read(o.ep, o.iova, ba);
          const fb = o.write ? b.dma.write(o.ep, o.iova, bb) : b.dma.read(o.ep, o.iova, bb);
          assert.deepEqual(fa, fb, `fault differs on ${JSON.stringify(o)}`);
          assert.deepEqual(ba, bb, `bytes read differ on ${JSON.stringify(o)}`);
        }
        assert.deepEqual(a.ram, b.ram, "guest memory differs");
        assert.deepEqual(a.iommu.iotlb.stats(), b.iommu.iotlb.stats());
        assert.deepEqual(a.dma.log.counts, b.dma.log.counts);
        assert.equal(a.dma.bytesRead, b.dma.bytesRead);
        assert.equal(a.dma.bytesWritten, b.dma.bytesWritten);
      }),
      { numRuns: 200, seed: 909 },
    );
  });
}

Deno.test("pviommu checked DMA: the native hit path counts hits and stale hits", () => {
  let t = 1;
  const iommu = new PvIommu({
    iotlb: { mode: "deferred", flushBatch: 100, flushTimeoutNs: 1e12, now: () => t++ },
  });
  const ram = new Uint8Array(8 * PS);
  ram.set([1, 2, 3, 4], 3 * PS + 16);
  const dma = new CheckedDma(iommu, ram);
  iommu.attach(1, 8);
  assert.equal(iommu.map(1, PS, 2 * PS - 1, 3 * PS, MapFlag.READ), Status.OK);
  const buf = new Uint8Array(4);
  assert.equal(dma.read(8, PS + 16, buf), null); // miss: the model fills the IOTLB
  const h = iommu.iotlb.hits;
  assert.equal(dma.read(8, PS + 16, buf), null); // hit: native
  assert.deepEqual([...buf], [1, 2, 3, 4]);
  assert.equal(iommu.iotlb.hits, h + 1);
  assert.notEqual(dma.write(8, PS + 16, buf), null, "read-only mapping refuses a write");
  iommu.unmap(1, PS, 2 * PS - 1);
  assert.equal(dma.read(8, PS + 16, buf), null, "deferred: the stale entry still serves");
  assert.equal(iommu.iotlb.staleHits, 1);
  // The C function itself: served on a hit, "slow path" (1) on anything it must not decide.
  const ctx = dmaContext(iommu.iotlb, ram, iommu.pageShift);
  const out = new Uint8Array(4);
  assert.equal(nativeDmaRead(ctx, 8, PS + 16, out), 0);
  assert.deepEqual([...out], [1, 2, 3, 4]);
  assert.equal(nativeDmaRead(ctx, 9, PS + 16, out), 1, "other endpoint");
  assert.equal(nativeDmaRead(ctx, 8, 2 * PS - 2, out), 1, "crosses a page");
  assert.equal(nativeDmaWrite(ctx, 8, PS + 16, out), 1, "no write permission");
  assert.equal(nativeDmaRead(ctx, 8, PS + 16.5, out), 1, "not an integer address");
});

Deno.test("pviommu checked DMA: a chain's segments land packed, up to the first fault", () => {
  const iommu = new PvIommu();
  const ram = new Uint8Array(16 * PS);
  for (let i = 0; i < ram.length; i++) ram[i] = i >> 12; // each page holds its number
  const dma = new CheckedDma(iommu, ram);
  iommu.attach(1, 8);
  assert.equal(iommu.map(1, PS, 4 * PS - 1, 8 * PS, MapFlag.READ), Status.OK);
  const seg = new Float64Array([PS, PS, 3 * PS + 100, 10, 2 * PS, 20]);
  for (let round = 0; round < 2; round++) { // a miss, then IOTLB hits in C
    const buf = new Uint8Array(PS + 30);
    assert.equal(dma.readv(8, seg, buf), null);
    assert.equal(buf[0], 8);
    assert.equal(buf[PS - 1], 8);
    assert.deepEqual([...buf.subarray(PS, PS + 10)], new Array(10).fill(10));
    assert.deepEqual([...buf.subarray(PS + 10)], new Array(20).fill(9));
  }
  // The third segment is unmapped: the first two are copied, the fault is returned.
  const bad = new Float64Array([PS, 16, 2 * PS, 16, 9 * PS, 16]);
  const buf = new Uint8Array(48).fill(0xee);
  const f = dma.readv(8, bad, buf);
  assert.notEqual(f, null);
  assert.deepEqual([...buf.subarray(0, 32)], [...new Array(16).fill(8), ...new Array(16).fill(9)]);
  assert.deepEqual([...buf.subarray(32)], new Array(16).fill(0xee), "nothing past the fault");
  assert.throws(() => dma.readv(8, seg, new Uint8Array(PS)), RangeError, "buffer too small");
  assert.throws(() => dma.readv(8, new Float64Array([PS]), buf), RangeError, "odd pairs");
});
