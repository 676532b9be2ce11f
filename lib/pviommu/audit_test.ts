import assert from "node:assert/strict";
import { Auditor } from "./audit.ts";
import { AuditFormatError, formatAuditEvent, parseAuditLine } from "./audit_event.ts";
import { VtdTraceImporter } from "./qemu_trace.ts";

const FIX = new URL("../../fixtures/pviommu/", import.meta.url).pathname;

function audit(lines: string[], cfg = {}) {
  const a = new Auditor(cfg);
  lines.filter((l) => l.trim()).forEach((l, i) => a.apply(parseAuditLine(l, i + 1), i + 1));
  return a;
}

Deno.test("audit: finds one violation of each kind in the hand-written stream", () => {
  const a = audit(Deno.readTextFileSync(FIX + "violations.jsonl").split("\n"));
  const r = a.report();
  assert.deepEqual(r.byKind, { request: 2, fault: 3, "use-after-unmap": 1 });
  assert.deepEqual(r.requestErrors, { "map:INVAL": 1, "unmap:RANGE": 1 });
  const v = a.violations();
  assert.deepEqual(v.map((x) => [x.line, x.kind, x.detail]), [
    [4, "fault", "MAPPING:write"],
    [5, "request", "INVAL"],
    [6, "request", "RANGE"],
    [8, "use-after-unmap", "MAPPING:read"],
    [9, "fault", "DOMAIN:read"],
    [10, "fault", "MAPPING:read"],
  ]);
  assert.equal(v[3].unmappedAt, 7);
});

Deno.test("audit: deferred invalidation lets a use-after-unmap through, and says so", () => {
  const lines = [
    '{"op":"attach","endpoint":1,"domain":1,"ts":0}',
    '{"op":"map","domain":1,"iova":4096,"len":4096,"gpa":8192,"ts":100}',
    '{"op":"dma","endpoint":1,"iova":4096,"len":16,"dir":"read","ts":200}',
    '{"op":"unmap","domain":1,"iova":4096,"len":4096,"ts":300}',
    '{"op":"dma","endpoint":1,"iova":4100,"len":16,"dir":"read","ts":5000}',
    '{"op":"dma","endpoint":1,"iova":4100,"len":16,"dir":"read","ts":20000000}',
  ];
  const strict = audit(lines).report();
  assert.equal(strict.useAfterUnmap, 2);
  const lazy = audit(lines, { iotlb: { mode: "deferred" } });
  const r = lazy.report();
  assert.equal(r.useAfterUnmap, 2);
  assert.deepEqual(lazy.violations().map((v) => v.served), [true, false]);
  assert.equal(r.iotlb.staleHits, 1);
  assert.equal(r.iotlb.maxWindowNs, 20000000 - 300, "unmap at 300 ns, flushed at the next event");
});

Deno.test("audit: bad lines are one error naming the line and field", () => {
  for (
    const [t, re] of [
      ["{", /line 3: not JSON/],
      ['{"op":"zap"}', /line 3: op must be/],
      ['{"op":"map","domain":1,"iova":0,"len":4096}', /line 3: map needs gpa/],
      ['{"op":"dma","endpoint":1,"iova":"0xzz","len":1}', /line 3: iova must be/],
      ['{"op":"dma","endpoint":1,"iova":0,"len":1,"dir":"up"}', /line 3: dir must be/],
      ['{"op":"dma","endpoint":1,"iova":-1,"len":1}', /line 3: iova out of range/],
    ] as const
  ) {
    assert.throws(
      () => parseAuditLine(t, 3),
      (e: Error) => e instanceof AuditFormatError && re.test(e.message),
    );
  }
});

Deno.test("QEMU importer: the recorded intel-iommu boot stream imports and audits clean", () => {
  const imp = new VtdTraceImporter();
  const events = Deno.readTextFileSync(FIX + "vtd_boot.trace").split("\n").flatMap((l) =>
    imp.line(l)
  );
  const ops = new Set(events.map((e) => e.op));
  for (const op of ["attach", "map", "unmap", "dma"]) assert.ok(ops.has(op as never), `no ${op}`);
  const a = new Auditor({ guestPhysSize: 256 << 20 });
  events.forEach((e, i) => a.apply(e, i + 1));
  assert.equal(a.report().violations, 0, JSON.stringify(a.violations().slice(0, 3)));
  const committed = Deno.readTextFileSync(FIX + "vtd_boot.events.jsonl").trim().split("\n");
  assert.equal(committed.length, events.length);
  // Drop the invalidation and the DMA after it becomes a use-after-unmap.
  const b = new Auditor();
  const imp2 = new VtdTraceImporter();
  let n = 0;
  for (
    const l of [
      "vtd_iotlb_page_update IOTLB page update sid 0x18 iova 0xffffa000 slpte 0x29ee001 domain 0x5",
      "vtd_inv_desc_iotlb_pages iotlb invalidate domain 0x5 addr 0xffffa000 mask 0x0",
      "vtd_iotlb_page_hit IOTLB page hit sid 0x18 iova 0xffffa010 slpte 0x29ee001 domain 0x5",
    ]
  ) for (const e of imp2.line(l)) b.apply(e, ++n);
  assert.equal(b.report().useAfterUnmap, 1);
});

Deno.test("QEMU importer: a timestamped trace (pviommu record) gives times that re-parse", () => {
  const imp = new VtdTraceImporter();
  const text = Deno.readTextFileSync(FIX + "vtd_fsync.trace");
  const events = text.split("\n").flatMap((l) => imp.line(l));
  assert.ok(events.length > 0);
  const ts = events.map((e) => e.ts!);
  assert.ok(
    ts.every((t) => Number.isSafeInteger(t) && t >= 0),
    "ns since the trace's first second",
  );
  assert.ok(ts.every((t, i) => i === 0 || t >= ts[i - 1]), "times never go back");
  const lines = events.map(formatAuditEvent);
  const again = lines.map((l, i) => parseAuditLine(l, i + 1));
  assert.deepEqual(again.map(formatAuditEvent), lines);
  assert.deepEqual(
    lines,
    Deno.readTextFileSync(FIX + "vtd_fsync.events.jsonl").trim().split("\n"),
    "the committed events are this importer's output",
  );
  const a = new Auditor({ guestPhysSize: 256 << 20, iotlb: { mode: "deferred" } });
  again.forEach((e, i) => a.apply(e, i + 1));
  const r = a.report();
  assert.equal(r.violations, 0);
  assert.ok(r.ops.map > 0 && r.ops.unmap > 0 && r.ops.dma > 0);
});
