import assert from "node:assert/strict";
import { parseReportSpec } from "./report_spec.ts";

Deno.test("report spec: summary, description and chart lines", () => {
  const spec = parseReportSpec(
    "x",
    [
      "-- The summary.",
      "-- More words.",
      '-- chart: bar x=peer y=iops series=job facet=bench title="IOPS per peer" unit=1/s',
      "-- chart: line x=size y=miss logx",
      "SELECT 1;",
      "-- not header",
    ].join("\n"),
  );
  assert.equal(spec.summary, "The summary.");
  assert.deepEqual(spec.description, ["More words."]);
  assert.equal(spec.charts.length, 2);
  assert.deepEqual(spec.charts[0], {
    kind: "bar",
    x: "peer",
    y: "iops",
    series: "job",
    facet: "bench",
    title: "IOPS per peer",
    unit: "1/s",
    logx: false,
    logy: false,
  });
  assert.equal(spec.charts[1].kind, "line");
  assert.equal(spec.charts[1].logx, true);
});

Deno.test("report spec: a bad chart line is an error naming the report", () => {
  assert.throws(() => parseReportSpec("r1", "-- s\n-- chart: pie x=a y=b\nSELECT 1"), /r1.*pie/);
  assert.throws(() => parseReportSpec("r2", "-- s\n-- chart: bar x=a\nSELECT 1"), /r2.*y=/);
});

Deno.test("report spec: no header at all", () => {
  const spec = parseReportSpec("bare", "SELECT 1");
  assert.equal(spec.summary, "");
  assert.equal(spec.charts.length, 0);
});

Deno.test("report spec: a summary sentence wrapped over two lines is one summary", () => {
  const spec = parseReportSpec(
    "w",
    "-- IOPS of the engine against the cache,\n-- per peer.\n-- More words.\nSELECT 1",
  );
  assert.equal(spec.summary, "IOPS of the engine against the cache, per peer.");
  assert.deepEqual(spec.description, ["More words."]);
});
