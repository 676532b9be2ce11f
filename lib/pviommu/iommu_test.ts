import assert from "node:assert/strict";
import fc from "fast-check";
import { PvIommu } from "./iommu.ts";
import { CheckedDma } from "./checked_dma.ts";
import { ATTACH_F_BYPASS, FaultReason, MapFlag, ResvSubtype, Status, statusName } from "./spec.ts";

const PS = 4096;

/** A deliberately naive reference: per-byte-range lists, linear scans, the spec's rules. */
class Reference {
  doms = new Map<number, { bypass: boolean; eps: Set<number>; maps: number[][] }>();
  epDom = new Map<number, number>();
  resv = [0xfee00000, 0xfeefffff];

  attach(d: number, e: number, flags: number): number {
    if (flags & ~1) return Status.INVAL;
    const dom = this.doms.get(d);
    const bypass = (flags & 1) === 1;
    if (dom && dom.bypass !== bypass) return Status.INVAL;
    if (this.epDom.get(e) === d) return Status.OK;
    if (dom && dom.maps.some((m) => m[0] <= this.resv[1] && this.resv[0] <= m[1])) {
      return Status.UNSUPP;
    }
    if (this.epDom.has(e)) this.detach(this.epDom.get(e)!, e);
    const nd = dom ?? { bypass, eps: new Set(), maps: [] };
    this.doms.set(d, nd);
    nd.eps.add(e);
    this.epDom.set(e, d);
    return Status.OK;
  }
  detach(d: number, e: number): number {
    if (this.epDom.get(e) !== d) return Status.INVAL;
    this.epDom.delete(e);
    const dom = this.doms.get(d)!;
    dom.eps.delete(e);
    if (dom.eps.size === 0) this.doms.delete(d);
    return Status.OK;
  }
  map(d: number, vs: number, ve: number, ps: number, flags: number): number {
    if (flags & ~7) return Status.INVAL;
    const dom = this.doms.get(d);
    if (!dom) return Status.NOENT;
    if (dom.bypass) return Status.INVAL;
    if (ve < vs) return Status.INVAL;
    if (vs % PS || ps % PS || (ve + 1) % PS) return Status.RANGE;
    if (vs <= this.resv[1] && this.resv[0] <= ve) return Status.RANGE;
    if (dom.maps.some((m) => m[0] <= ve && vs <= m[1])) return Status.INVAL;
    dom.maps.push([vs, ve, ps, flags]);
    return Status.OK;
  }
  unmap(d: number, vs: number, ve: number): number {
    const dom = this.doms.get(d);
    if (!dom) return Status.NOENT;
    if (dom.bypass) return Status.INVAL;
    if (ve < vs) return Status.INVAL;
    const hit = dom.maps.filter((m) => m[0] <= ve && vs <= m[1]);
    if (hit.some((m) => m[0] < vs || m[1] > ve)) return Status.RANGE;
    dom.maps = dom.maps.filter((m) => !hit.includes(m));
    return Status.OK;
  }
  /** The GPA of every byte of the access, or null when the access must fault. */
  dma(e: number, iova: number, len: number, write: boolean): number[] | null {
    const d = this.epDom.get(e);
    if (d === undefined) return null;
    const dom = this.doms.get(d)!;
    const out: number[] = [];
    for (let a = iova; a < iova + len; a++) {
      if (dom.bypass) {
        out.push(a);
        continue;
      }
      const m = dom.maps.find((m) => m[0] <= a && a <= m[1]);
      if (!m || !(m[3] & (write ? 2 : 1))) return null;
      out.push(m[2] + a - m[0]);
    }
    return out;
  }
}

type Op =
  | { op: "attach"; d: number; e: number; flags: number }
  | { op: "detach"; d: number; e: number }
  | { op: "map"; d: number; vs: number; ve: number; ps: number; flags: number }
  | { op: "unmap"; d: number; vs: number; ve: number }
  | { op: "dma"; e: number; iova: number; len: number; write: boolean };

const addr = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 0, max: 15 }).map((p) => p * PS) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 16 * PS }) },
);
const endAddr = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 1, max: 16 }).map((p) => p * PS - 1) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 16 * PS }) },
);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constant("attach" as const),
    d: fc.integer({ min: 1, max: 3 }),
    e: fc.integer({ min: 1, max: 3 }),
    flags: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, fc.constantFrom(1, 2)),
  }),
  fc.record({
    op: fc.constant("detach" as const),
    d: fc.integer({ min: 1, max: 3 }),
    e: fc.integer({ min: 1, max: 3 }),
  }),
  fc.record({
    op: fc.constant("map" as const),
    d: fc.integer({ min: 1, max: 3 }),
    vs: addr,
    ve: endAddr,
    ps: addr,
    flags: fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 0, max: 3 }) }, fc.constant(8)),
  }),
  fc.record({
    op: fc.constant("unmap" as const),
    d: fc.integer({ min: 1, max: 3 }),
    vs: addr,
    ve: endAddr,
  }),
  fc.record({
    op: fc.constant("dma" as const),
    e: fc.integer({ min: 1, max: 4 }),
    iova: addr,
    len: fc.integer({ min: 1, max: 3 * PS }),
    write: fc.boolean(),
  }),
);

function ram(): Uint8Array {
  const r = new Uint8Array(20 * PS);
  for (let i = 0; i < r.length; i++) r[i] = (i * 7 + (i >> 12)) & 0xff;
  return r;
}

Deno.test("pviommu model: random attach/map/unmap/DMA agree with the reference (strict)", () => {
  const seen = new Set<string>();
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 1, maxLength: 60 }), (ops) => {
      const iommu = new PvIommu({ iotlb: { entries: 64, mode: "strict" } });
      const ref = new Reference();
      const mem = ram();
      const dma = new CheckedDma(iommu, mem);
      for (const o of ops) {
        let got: number, want: number;
        switch (o.op) {
          case "attach":
            got = iommu.attach(o.d, o.e, o.flags);
            want = ref.attach(o.d, o.e, o.flags);
            break;
          case "detach":
            got = iommu.detach(o.d, o.e);
            want = ref.detach(o.d, o.e);
            break;
          case "map":
            got = iommu.map(o.d, o.vs, o.ve, o.ps, o.flags);
            want = ref.map(o.d, o.vs, o.ve, o.ps, o.flags);
            break;
          case "unmap":
            got = iommu.unmap(o.d, o.vs, o.ve);
            want = ref.unmap(o.d, o.vs, o.ve);
            break;
          case "dma": {
            const expect = ref.dma(o.e, o.iova, o.len, o.write);
            const buf = new Uint8Array(o.len).fill(0xa5);
            const before = mem.slice();
            const f = o.write ? dma.write(o.e, o.iova, buf) : dma.read(o.e, o.iova, buf);
            if (expect === null) {
              assert.notEqual(f, null, `DMA ${JSON.stringify(o)} succeeded outside a mapping`);
              assert.deepEqual(mem, before, "a refused DMA changed guest memory");
            } else {
              assert.equal(f, null, `DMA ${JSON.stringify(o)} refused inside a mapping`);
              for (let k = 0; k < o.len; k++) {
                const v: number = o.write ? mem[expect[k]] : buf[k];
                assert.equal(v, o.write ? 0xa5 : before[expect[k]]);
              }
            }
            continue;
          }
        }
        seen.add(`${o.op}:${statusName(got)}`);
        assert.equal(
          statusName(got),
          statusName(want),
          `${JSON.stringify(o)}: model ${statusName(got)}, reference ${statusName(want)}`,
        );
      }
    }),
    { numRuns: 150, seed: 20240611 },
  );
  for (const s of ["map:OK", "map:RANGE", "map:INVAL", "map:NOENT", "unmap:OK", "unmap:RANGE"]) {
    assert.ok(seen.has(s), `the random runs never produced ${s}`);
  }
});

Deno.test("pviommu model: deferred invalidation only lets stale entries through, and counts them", () => {
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 1, maxLength: 60 }), (ops) => {
      let t = 0;
      const iommu = new PvIommu({
        iotlb: { entries: 64, mode: "deferred", flushBatch: 4, now: () => (t += 1000) },
      });
      const ref = new Reference();
      const dma = new CheckedDma(iommu, ram());
      for (const o of ops) {
        if (o.op === "attach") ref.attach(o.d, o.e, o.flags), iommu.attach(o.d, o.e, o.flags);
        else if (o.op === "detach") ref.detach(o.d, o.e), iommu.detach(o.d, o.e);
        else if (o.op === "map") {
          ref.map(o.d, o.vs, o.ve, o.ps, o.flags), iommu.map(o.d, o.vs, o.ve, o.ps, o.flags);
        } else if (o.op === "unmap") ref.unmap(o.d, o.vs, o.ve), iommu.unmap(o.d, o.vs, o.ve);
        else {
          const stale = iommu.iotlb.staleHits;
          const buf = new Uint8Array(o.len);
          const f = o.write ? dma.write(o.e, o.iova, buf) : dma.read(o.e, o.iova, buf);
          if (f === null && ref.dma(o.e, o.iova, o.len, o.write) === null) {
            assert.ok(iommu.iotlb.staleHits > stale, "a DMA outside the mappings was not stale");
          }
        }
      }
      iommu.iotlb.flush();
      const s = iommu.iotlb.stats();
      assert.equal(iommu.iotlb.pending, 0);
      assert.ok(s.windows <= s.invalidations);
    }),
    { numRuns: 100 },
  );
});

Deno.test("pviommu model: every status code where the spec says", () => {
  const iommu = new PvIommu({
    endpoints: [
      { id: 8, resv: [{ subtype: ResvSubtype.MSI, start: 0x8000000n, end: 0x80fffffn }] },
      {
        id: 9,
      },
    ],
    guestPhysSize: 1 << 30,
    maxMappings: 3,
    domainRange: { start: 1, end: 100 },
    backend: {
      map: (_d, m) => {
        if (m.physStart === 0x66000n) throw new Error("host refused");
      },
      unmap: () => {},
    },
  });
  assert.equal(iommu.attach(1, 8, 0, 1), Status.INVAL, "reserved set");
  assert.equal(iommu.attach(1, 8, 0x10), Status.INVAL, "unknown flag");
  assert.equal(iommu.attach(1, 77), Status.NOENT, "unknown endpoint");
  assert.equal(iommu.attach(1000, 8), Status.RANGE, "domain outside domain_range");
  assert.equal(iommu.attach(1, 8), Status.OK);
  assert.equal(iommu.attach(1, 9, ATTACH_F_BYPASS), Status.INVAL, "bypass flag inconsistent");
  assert.equal(iommu.map(2, 0, 0xfff, 0, MapFlag.READ), Status.NOENT, "no such domain");
  assert.equal(iommu.map(1, 0x1000, 0x0fff, 0, MapFlag.READ), Status.INVAL, "end < start");
  assert.equal(iommu.map(1, 0x1800, 0x1fff, 0, MapFlag.READ), Status.RANGE, "unaligned");
  assert.equal(iommu.map(1, 0x8000000, 0x8000fff, 0, MapFlag.READ), Status.RANGE, "RESV_MEM");
  assert.equal(iommu.map(1, 0x1000, 0x1fff, 1 << 30, MapFlag.READ), Status.FAULT, "phys");
  assert.equal(iommu.map(1, 0x1000, 0x1fff, 0, 0x80), Status.INVAL, "unknown map flag");
  assert.equal(iommu.map(1, 0x1000, 0x1fff, 0x66000, MapFlag.READ), Status.DEVERR, "host");
  assert.equal(iommu.map(1, 0x1000, 0x2fff, 0, MapFlag.READ), Status.OK);
  assert.equal(iommu.map(1, 0x2000, 0x3fff, 0, MapFlag.READ), Status.INVAL, "overlap");
  assert.equal(iommu.unmap(1, 0x1000, 0x1fff), Status.RANGE, "split");
  assert.equal(iommu.unmap(1, 0, 0xfff, 1), Status.INVAL, "unmap reserved");
  assert.equal(iommu.unmap(5, 0, 0xfff), Status.NOENT, "unmap no domain");
  assert.equal(iommu.map(1, 0x10000, 0x10fff, 0, 1), Status.OK);
  assert.equal(iommu.map(1, 0x11000, 0x11fff, 0, 1), Status.OK);
  assert.equal(iommu.map(1, 0x12000, 0x12fff, 0, 1), Status.NOMEM, "mapping limit");
  assert.equal(iommu.detach(2, 8), Status.INVAL, "not attached there");
  assert.equal(iommu.detach(1, 77), Status.NOENT);
  assert.equal(iommu.probe(77).status, Status.NOENT);
  assert.equal(iommu.probe(8, 8).status, Status.INVAL, "probe buffer too small");
  assert.deepEqual(iommu.probe(8).resv, [{ subtype: 1, start: 0x8000000n, end: 0x80fffffn }]);
  // UNSUPP: endpoint 8's reserved window collides with a mapping of domain 3.
  assert.equal(iommu.attach(3, 9), Status.OK);
  assert.equal(iommu.unmap(1, 0x10000, 0x11fff), Status.OK);
  assert.equal(iommu.map(3, 0x8000000, 0x8000fff, 0, 1), Status.OK);
  assert.equal(iommu.attach(3, 8), Status.UNSUPP);
  const noMap = new PvIommu({ mapUnmap: false, bypassConfig: false });
  assert.equal(noMap.attach(1, 1, ATTACH_F_BYPASS), Status.UNSUPP);
  assert.equal(noMap.attach(1, 1), Status.OK);
  assert.equal(noMap.map(1, 0, 0xfff, 0, 1), Status.UNSUPP);
  // Spec UNMAP examples (1)-(7), at page granularity (one unit = one page).
  const P = (n: number) => n * PS;
  const E = (n: number) => (n + 1) * PS - 1;
  const ex = (setup: [number, number][], u: [number, number], want: number, left: number) => {
    const m = new PvIommu();
    m.attach(1, 1);
    for (const [a, b] of setup) assert.equal(m.map(1, P(a), E(b), 0, 1), Status.OK);
    assert.equal(m.unmap(1, P(u[0]), E(u[1])), want);
    assert.equal(m.mappings(1)!.length, left);
  };
  ex([], [0, 4], Status.OK, 0);
  ex([[0, 9]], [0, 9], Status.OK, 0);
  ex([[0, 4], [5, 9]], [0, 9], Status.OK, 0);
  ex([[0, 9]], [0, 4], Status.RANGE, 1);
  ex([[0, 4], [5, 9]], [0, 4], Status.OK, 1);
  ex([[0, 4]], [0, 9], Status.OK, 0);
  ex([[0, 4], [10, 14]], [0, 14], Status.OK, 0);
});

Deno.test("pviommu model: faults carry reason, flags and address; bypass is identity", () => {
  const iommu = new PvIommu({ iotlb: { entries: 16 } });
  const mem = ram();
  const dma = new CheckedDma(iommu, mem);
  const f1 = dma.read(5, 0x1000, new Uint8Array(16));
  assert.equal(f1?.reason, FaultReason.DOMAIN);
  iommu.attach(1, 5);
  iommu.map(1, 0x1000, 0x1fff, 0x4000, MapFlag.READ);
  const f2 = dma.write(5, 0x1100, new Uint8Array(16));
  assert.deepEqual(
    { r: f2?.reason, f: f2?.flags, a: f2?.address },
    { r: 2, f: 0x102, a: 0x1100n },
  );
  const f3 = dma.read(5, 0x1f00, new Uint8Array(0x200));
  assert.equal(f3?.reason, FaultReason.MAPPING);
  assert.equal(f3?.address, 0x2000n, "the fault names the first blocked page");
  assert.equal(iommu.map(1, 0x2000, 0x2fff, 0x100000, MapFlag.READ), Status.OK);
  assert.equal(dma.read(5, 0x2000, new Uint8Array(16))?.reason, FaultReason.UNKNOWN, "past RAM");
  assert.equal(dma.log.total, 4);
  assert.deepEqual(dma.log.counts, { UNKNOWN: 1, DOMAIN: 1, MAPPING: 2 });
  iommu.bypass = true;
  assert.equal(dma.read(6, 0x3000, new Uint8Array(16)), null);
  assert.equal(iommu.attach(2, 7, ATTACH_F_BYPASS), Status.OK);
  assert.equal(iommu.map(2, 0, 0xfff, 0, 1), Status.INVAL, "MAP on a bypass domain");
  const buf = new Uint8Array(8);
  assert.equal(dma.read(7, 0x3000, buf), null);
  assert.deepEqual(buf, mem.subarray(0x3000, 0x3008));
});

Deno.test("pviommu IOTLB: deferred mode measures the window and counts stale hits", () => {
  let t = 0;
  const iommu = new PvIommu({
    iotlb: { mode: "deferred", flushBatch: 1000, flushTimeoutNs: 5000, now: () => t },
  });
  const dma = new CheckedDma(iommu, ram());
  iommu.attach(1, 1);
  iommu.map(1, 0x1000, 0x1fff, 0x2000, MapFlag.READ);
  assert.equal(dma.read(1, 0x1000, new Uint8Array(64)), null);
  t = 1000;
  assert.equal(iommu.unmap(1, 0x1000, 0x1fff), Status.OK);
  t = 3000;
  assert.equal(dma.read(1, 0x1000, new Uint8Array(64)), null, "stale entry still translates");
  assert.equal(iommu.iotlb.staleHits, 1);
  iommu.iotlb.tick();
  assert.equal(iommu.iotlb.pending, 1);
  t = 7000;
  iommu.iotlb.tick();
  assert.equal(iommu.iotlb.pending, 0);
  assert.equal(iommu.iotlb.stats().maxWindowNs, 6000);
  assert.equal(dma.read(1, 0x1000, new Uint8Array(64))?.reason, FaultReason.MAPPING);
  const strict = new PvIommu();
  const sd = new CheckedDma(strict, ram());
  strict.attach(1, 1);
  strict.map(1, 0x1000, 0x1fff, 0x2000, MapFlag.READ);
  assert.equal(sd.read(1, 0x1000, new Uint8Array(64)), null);
  strict.unmap(1, 0x1000, 0x1fff);
  assert.equal(sd.read(1, 0x1000, new Uint8Array(64))?.reason, FaultReason.MAPPING);
});
