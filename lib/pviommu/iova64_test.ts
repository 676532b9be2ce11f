/**
 * The whole 64-bit IOVA space (issue 15): the top page maps, faults and audits; ranges that
 * touch 2^64 - 1 are accepted and ranges that pass it refused; a DMA over a huge mapping is
 * checked per mapping; the audit parser fuzzed.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { PvIommu, U64_MAX } from "./iommu.ts";
import { CheckedDma } from "./checked_dma.ts";
import { Auditor } from "./audit.ts";
import { AuditFormatError, formatAuditEvent, parseAuditLine } from "./audit_event.ts";
import { handleRequest } from "./device.ts";
import { decodeReply, encodeRequest } from "./codec.ts";
import { FaultReason, MapFlag, ReqType, Status } from "./spec.ts";
import { dmaContext } from "./native_dma.ts";
import { native } from "../ffi/ffi.ts";
import { violationJson } from "../../tools/pviommu/audit.ts";

const TOP = (1n << 64n) - 4096n; // the last page
const TOP_N = 2 ** 64 - 4096; // the same, exact as a number

function topMapped(flags: number = MapFlag.READ): PvIommu {
  const iommu = new PvIommu();
  assert.equal(iommu.attach(1, 8), Status.OK);
  assert.equal(iommu.map(1, TOP, U64_MAX, 0x5000n, flags), Status.OK);
  return iommu;
}

Deno.test("iova64: the last page maps, translates and faults with its exact address", () => {
  const iommu = topMapped();
  assert.deepEqual(iommu.mappings(1), [
    { virtStart: TOP, virtEnd: U64_MAX, physStart: 0x5000n, flags: MapFlag.READ },
  ]);
  assert.equal(iommu.check(8, TOP, 4096n, "read"), null);
  assert.equal(iommu.check(8, U64_MAX, 1n, "read"), null, "the very last byte");
  const w = iommu.check(8, TOP + 16n, 8n, "write");
  assert.equal(w?.reason, FaultReason.MAPPING);
  assert.equal(w?.address, TOP + 16n);
  const below = iommu.check(8, TOP - 4096n, 8192n, "read");
  assert.equal(below?.reason, FaultReason.MAPPING);
  assert.equal(below?.address, TOP - 4096n, "the page below is not mapped");
  const wraps = iommu.check(8, U64_MAX, 2n, "read");
  assert.equal(wraps?.reason, FaultReason.UNKNOWN, "an access past 2^64 - 1 is refused");
  // Near 2^64 doubles are 2048 apart: the page-sized number path takes those that exist.
  assert.deepEqual(iommu.translate(8, TOP_N + 2048, "read"), { gpa: 0x5000 + 2048, flags: 1 });
  assert.equal(iommu.unmap(1, TOP, U64_MAX), Status.OK);
  assert.equal(iommu.check(8, TOP, 1n, "read")?.reason, FaultReason.MAPPING);
});

Deno.test("iova64: ranges touching 2^64 - 1 are accepted, ranges past it refused", () => {
  const iommu = new PvIommu();
  iommu.attach(1, 8);
  assert.equal(iommu.map(1, TOP, U64_MAX + 1n, 0n, 1), Status.RANGE, "virt_end past 2^64 - 1");
  assert.equal(iommu.map(1, TOP, U64_MAX, U64_MAX - 4095n, 1), Status.OK, "phys to the top");
  assert.equal(iommu.map(1, TOP - 4096n, TOP - 1n, U64_MAX - 4095n + 4096n, 1), Status.FAULT);
  assert.equal(iommu.unmap(1, 0n, U64_MAX), Status.OK, "UNMAP of the whole space");
  assert.equal(iommu.mappings(1)!.length, 0);
  // The same through the wire: MAP and UNMAP requests with 64-bit fields.
  const run = (req: Parameters<typeof encodeRequest>[0]) => {
    const h = handleRequest(iommu, encodeRequest(req));
    return decodeReply(ReqType[req.type], h.reply, iommu.probeSize)!.status;
  };
  const map = {
    type: "MAP",
    domain: 1,
    virtStart: TOP,
    virtEnd: U64_MAX,
    physStart: 0x5000n,
    flags: 1,
  } as const;
  assert.equal(run(map), Status.OK);
  assert.equal(run(map), Status.INVAL, "overlaps the first");
  assert.equal(
    run({ type: "UNMAP", domain: 1, virtStart: 0n, virtEnd: U64_MAX, reserved: 0 }),
    Status.OK,
  );
  assert.equal(iommu.mappings(1)!.length, 0);
});

for (const engine of ["native", "ts"] as const) {
  Deno.test(`iova64: checked DMA (${engine}) copies to and from the last page`, () => {
    const iommu = topMapped(MapFlag.READ | MapFlag.WRITE);
    const ram = new Uint8Array(64 << 10);
    const dma = new CheckedDma(iommu, ram, undefined, { engine });
    const src = Uint8Array.from({ length: 4096 }, (_, i) => (i * 7 + 1) & 255);
    assert.equal(dma.write(8, TOP_N, src), null);
    assert.deepEqual(ram.subarray(0x5000, 0x6000), src);
    const back = new Uint8Array(4096);
    assert.equal(dma.read(8, TOP_N, back), null, "a miss, then the slow path");
    const hits = iommu.iotlb.hits;
    assert.equal(dma.read(8, TOP_N, back), null, "an IOTLB hit");
    assert.ok(iommu.iotlb.hits > hits);
    assert.deepEqual(back, src);
    // 2^64 - 2048 is a double too: 2048 bytes fit, 2049 would wrap.
    assert.equal(dma.read(8, TOP_N + 2048, new Uint8Array(2048)), null);
    const f = dma.read(8, TOP_N + 2048, new Uint8Array(2049));
    assert.equal(f?.reason, FaultReason.UNKNOWN);
    assert.equal(f?.address, TOP + 2048n);
    assert.equal(dma.read(8, 2 ** 64, new Uint8Array(1))?.reason, FaultReason.UNKNOWN);
  });
}

Deno.test("iova64: the native copy peers do not wrap near 2^64", () => {
  const ram = new Uint8Array(1 << 16);
  const iommu = new PvIommu();
  const ctx = dmaContext(iommu.iotlb, ram, 12);
  const lib = native();
  const buf = new Uint8Array(8192);
  const EFAULT = -14;
  assert.equal(lib.hv_pviommu_copy_read(ctx, TOP_N, buf, 8192), EFAULT);
  assert.equal(lib.hv_pviommu_copy_write(ctx, TOP_N, buf, 8192), EFAULT);
  assert.equal(lib.hv_pviommu_copy_read(ctx, 2 ** 64, buf, 1), EFAULT);
  assert.equal(lib.hv_pviommu_copy_read(ctx, 0.5, buf, 1), EFAULT);
  assert.equal(lib.hv_pviommu_copy_read(ctx, ram.length - 8, buf, 8), 0);
  assert.equal(lib.hv_pviommu_copy_read(ctx, ram.length - 8, buf, 9), EFAULT);
  const seg = new Float64Array([TOP_N, 8192]);
  assert.equal(lib.hv_pviommu_copy_readv(ctx, seg, 1, buf, buf.length), EFAULT);
  assert.equal(lib.hv_pviommu_copy_writev(ctx, seg, 1, buf, buf.length), EFAULT);
});

function audit(lines: string[]) {
  const a = new Auditor();
  lines.forEach((l, i) => a.apply(parseAuditLine(l, i + 1), i + 1));
  return a;
}

Deno.test("iova64: the audit maps, faults and finds use-after-unmap at the top page", () => {
  const a = audit([
    '{"op":"attach","endpoint":8,"domain":1}',
    '{"op":"map","domain":1,"iova":"0xfffffffffffff000","len":4096,"gpa":"0x5000","flags":["read"]}',
    '{"op":"dma","endpoint":8,"iova":"0xfffffffffffff800","len":2048,"dir":"read"}',
    '{"op":"dma","endpoint":8,"iova":"18446744073709551600","len":16,"dir":"write"}',
    '{"op":"unmap","domain":1,"iova":0,"len":"0x10000000000000000"}',
    '{"op":"dma","endpoint":8,"iova":"0xffffffffffffffff","len":1,"dir":"read"}',
  ]);
  const v = a.violations();
  assert.deepEqual(v.map((x) => [x.line, x.kind, x.detail, x.iova]), [
    [4, "fault", "MAPPING:write", 0xfffffffffffffff0n],
    [6, "use-after-unmap", "MAPPING:read", U64_MAX],
  ]);
  assert.equal(v[1].unmappedAt, 5);
  assert.match(violationJson(v[1]), /"iova":"0xffffffffffffffff"/);
  assert.match(violationJson(v[0]), /"len":16/);
});

Deno.test("iova64: a DMA over a 1 TiB mapping is checked per mapping (counts as pages)", () => {
  const a = new Auditor({ iotlb: { entries: 256 } });
  a.apply({ op: "attach", endpoint: 8, domain: 1 }, 1);
  a.apply({ op: "map", domain: 1, iova: 1n << 40n, len: 1n << 40n, gpa: 0n }, 2);
  a.apply({ op: "dma", endpoint: 8, iova: 1n << 40n, len: 1n << 40n, dir: "read" }, 3);
  a.apply({ op: "dma", endpoint: 8, iova: (1n << 41n) - 4096n, len: 4096n, dir: "write" }, 4);
  a.apply({ op: "dma", endpoint: 8, iova: (1n << 41n) - 4096n, len: 4097n, dir: "read" }, 5);
  const r = a.report();
  assert.deepEqual(a.violations().map((v) => [v.line, v.detail, v.iova]), [
    [5, "MAPPING:read", 1n << 41n],
  ]);
  // Page by page: 2^28 misses; the last 256 pages stay cached, so line 4 is a hit.
  assert.equal(r.iotlb.misses, 2 ** 28 + 1);
  assert.equal(r.iotlb.hits, 2);
});

Deno.test("iova64: a multi-page DMA keeps the page-by-page IOTLB counts", () => {
  const iommu = new PvIommu({ iotlb: { entries: 64 } });
  iommu.attach(1, 8);
  iommu.map(1, 0x10000n, 0x1ffffn, 0x100000n, MapFlag.READ);
  iommu.map(1, 0x20000n, 0x2ffffn, 0x200000n, MapFlag.READ);
  assert.equal(iommu.translate(8, 0x13000, "read").flags, MapFlag.READ); // one page cached
  const runs: { iova: bigint; gpa: bigint; len: bigint }[] = [];
  assert.equal(iommu.check(8, 0x10800n, 0x18000n, "read", runs as never), null);
  // 0x10800..0x287ff: 25 pages, one of them (0x13000) already cached; two walks.
  assert.equal(iommu.iotlb.hits, 1);
  assert.equal(iommu.iotlb.misses, 1 + 24);
  assert.deepEqual(runs.map((r) => [r.iova, r.gpa, r.len]), [
    [0x10800n, 0x100800n, 0xf800n],
    [0x20000n, 0x200000n, 0x8800n],
  ]);
  // A second time every page is cached: 25 hits, one run a page.
  runs.length = 0;
  assert.equal(iommu.check(8, 0x10800n, 0x18000n, "read", runs as never), null);
  assert.equal(iommu.iotlb.hits, 1 + 25);
  assert.equal(runs.length, 25);
});

Deno.test("iova64: audit lines past 2^64 are one error naming the line and field", () => {
  for (
    const [t, re] of [
      [
        '{"op":"dma","endpoint":1,"iova":"0x10000000000000000","len":1}',
        /line 2: iova out of range/,
      ],
      [
        '{"op":"dma","endpoint":1,"iova":"0xffffffffffffffff","len":2}',
        /line 2: iova \+ len past 2\^64/,
      ],
      [
        '{"op":"map","domain":1,"iova":0,"len":4096,"gpa":"0xfffffffffffff001"}',
        /line 2: gpa \+ len past 2\^64/,
      ],
      [
        '{"op":"dma","endpoint":1,"iova":9007199254740992,"len":1}',
        /line 2: iova out of range.*hex string/,
      ],
      [
        '{"op":"dma","endpoint":1,"iova":0,"len":"0x10000000000000001"}',
        /line 2: len out of range/,
      ],
    ] as const
  ) {
    assert.throws(
      () => parseAuditLine(t, 2),
      (e: Error) => e instanceof AuditFormatError && re.test(e.message),
      t,
    );
  }
});

/** The seed of a fuzz test: HVKIT_FUZZ_SEED, else a fresh one; printed either way. */
function fuzzSeed(name: string): number {
  const env = Deno.env.get("HVKIT_FUZZ_SEED");
  const seed = env ? Number(env) : Math.floor(Math.random() * 2 ** 31);
  console.log(`${name}: seed ${seed} (HVKIT_FUZZ_SEED=${seed} repeats it)`);
  return seed;
}

const u64s = fc.oneof(
  fc.bigInt({ min: 0n, max: (1n << 64n) + 2n }),
  fc.constantFrom(0n, 1n, 4096n, TOP, U64_MAX, 1n << 64n, (1n << 53n) - 1n, 1n << 53n),
);
const fieldValue = fc.oneof(
  u64s.map((b) => "0x" + b.toString(16)),
  u64s.map((b) => b.toString()),
  u64s.map((b) => Number(b)),
  fc.integer({ min: -5, max: 1 << 20 }),
  fc.double(),
  fc.string({ maxLength: 6 }),
  fc.constant(null),
  fc.boolean(),
);
const auditObject = fc.record({
  op: fc.oneof(fc.constantFrom("attach", "detach", "map", "unmap", "dma"), fc.string()),
  endpoint: fieldValue,
  domain: fieldValue,
  iova: fieldValue,
  len: fieldValue,
  gpa: fieldValue,
  ts: fieldValue,
  dir: fc.oneof(fc.constantFrom("read", "write"), fieldValue),
  flags: fc.oneof(fc.subarray(["read", "write", "mmio"]), fc.array(fc.string(), { maxLength: 2 })),
}, { requiredKeys: ["op"] });

Deno.test("iova64: audit parser fuzz: an event within 2^64 that re-parses, or one AuditFormatError", () => {
  const seed = fuzzSeed("audit parser fuzz");
  const lines = fc.oneof(
    { weight: 4, arbitrary: auditObject.map((o) => JSON.stringify(o)) },
    { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
    { weight: 1, arbitrary: auditObject.map((o) => JSON.stringify(o).slice(0, -3)) },
  );
  fc.assert(
    fc.property(lines, (text) => {
      let ev;
      try {
        ev = parseAuditLine(text, 7);
      } catch (e) {
        if (!(e instanceof AuditFormatError)) throw e;
        assert.match(e.message, /^line 7: /);
        assert.ok(!e.message.includes("\n"));
        return;
      }
      for (const f of ["iova", "gpa"] as const) {
        const x = ev[f];
        if (x === undefined) continue;
        assert.ok(x >= 0n && x <= U64_MAX);
        if (ev.len !== undefined) assert.ok(x + ev.len <= 1n << 64n);
      }
      if (ev.op !== "attach" && ev.op !== "detach") assert.ok(ev.len! >= 1n);
      assert.deepEqual(parseAuditLine(formatAuditEvent(ev), 1), ev);
      // Whatever parses, the auditor takes without throwing.
      const a = new Auditor();
      a.apply({ op: "attach", endpoint: ev.endpoint ?? 0, domain: ev.domain ?? 0 }, 1);
      a.apply(ev, 2);
    }),
    { numRuns: 2000, seed },
  );
});
