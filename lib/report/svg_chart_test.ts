import assert from "node:assert/strict";
import fc from "fast-check";
import { drawCharts, niceTicks, toNumber } from "./svg_chart.ts";
import type { ChartSpec } from "./report_spec.ts";

const bar: ChartSpec = { kind: "bar", x: "peer", y: "iops", logx: false, logy: false };

function marks(svg: string): string[] {
  return [...svg.matchAll(/data-value="([^"]*)"/g)].map((m) => m[1]);
}

Deno.test("svg chart: one bar per row, values and series in data attributes", () => {
  const charts = drawCharts(
    ["peer", "job", "iops", "unit"],
    [["hvkit", "a", 100, "1/s"], ["fio", "a", "90", "1/s"], ["hvkit", "b", 50, "1/s"]],
    { ...bar, series: "job" },
  );
  assert.equal(charts.length, 1);
  assert.equal(charts[0].marks, 3);
  assert.deepEqual(marks(charts[0].svg), ["100", "90", "50"]);
  assert.match(charts[0].svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" class="chart"/);
  assert.match(charts[0].svg, /data-series="b"/);
  assert.match(charts[0].svg, /1\/s/);
});

Deno.test("svg chart: facets make one chart each; rows without a number are left out", () => {
  const charts = drawCharts(
    ["bench", "peer", "iops"],
    [["nbd", "hvkit", 1], ["nbd", "qemu-nbd", null], ["daio", "fio", 2], ["sim", "x", "n/a"]],
    { ...bar, facet: "bench", title: "T" },
  );
  assert.deepEqual(charts.map((c) => c.title), ["T: nbd", "T: daio"]);
  assert.deepEqual(charts.map((c) => c.marks), [1, 1]);
});

Deno.test("svg chart: line chart sorts points by x and honours logx", () => {
  const [c] = drawCharts(
    ["size", "miss", "policy"],
    [[4096, 0.2, "lru"], [256, 0.6, "lru"], [1024, 0.4, "lru"], [0, 0.9, "lru"]],
    { kind: "line", x: "size", y: "miss", series: "policy", logx: true, logy: false },
  );
  assert.equal(c.marks, 3); // x = 0 cannot go on a log axis
  assert.deepEqual(marks(c.svg), ["0.6", "0.4", "0.2"]);
  assert.match(c.svg, /<polyline/);
});

Deno.test("svg chart: text is escaped, a missing column is an error", () => {
  const [c] = drawCharts(["peer", "iops"], [["<b>&\"x'", 1]], bar);
  assert.ok(!c.svg.includes("<b>"));
  assert.match(c.svg, /&lt;b&gt;&amp;&quot;x&#39;/);
  assert.throws(() => drawCharts(["peer"], [["a"]], bar), /iops is not in the result/);
});

Deno.test("svg chart: random rows never throw and every finite y is drawn", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.tuple(
          fc.string({ maxLength: 8 }),
          fc.oneof(fc.double(), fc.integer(), fc.constant(null), fc.string({ maxLength: 4 })),
          fc.constantFrom("a", "b", ""),
        ),
        { maxLength: 30 },
      ),
      fc.boolean(),
      (rows, logy) => {
        const charts = drawCharts(["peer", "iops", "s"], rows, { ...bar, series: "s", logy });
        const drawn = charts.reduce((n, c) => n + c.marks, 0);
        const finite = rows.filter((r) => {
          const v = toNumber(r[1]);
          return v !== null && (!logy || v > 0);
        }).length;
        assert.equal(drawn, finite);
        for (const c of charts) assert.ok(!c.svg.includes("NaN"), c.svg);
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("nice ticks cover the range with round steps", () => {
  assert.deepEqual(niceTicks(0, 97), [0, 20, 40, 60, 80, 100]);
  assert.deepEqual(niceTicks(0, 0), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  const t = niceTicks(-3, 7);
  assert.ok(t[0] <= -3 && t[t.length - 1] >= 7);
});
