import assert from "node:assert/strict";
import fc from "fast-check";
import { drawCharts, drawLines, niceTicks, shortNames, toNumber } from "./svg_chart.ts";
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
    { numRuns: Number(Deno.env.get("RUNS") ?? 200) },
  );
});

Deno.test("nice ticks cover the range with round steps", () => {
  assert.deepEqual(niceTicks(0, 97), [0, 20, 40, 60, 80, 100]);
  assert.deepEqual(niceTicks(0, 0), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  const t = niceTicks(-3, 7);
  assert.ok(t[0] <= -3 && t[t.length - 1] >= 7);
});

Deno.test("short legend names: keys the others already tell apart are dropped", () => {
  assert.deepEqual(
    shortNames(["job=4k-qd1 bs=4096 iodepth=1", "job=4k-qd32 bs=4096 iodepth=32"]),
    ["4k-qd1", "4k-qd32"],
  );
  assert.deepEqual(
    shortNames(["form=binary", "trace=a stat=median of cells", "trace=b stat=median of cells"]),
    ["form=binary", "a", "b"],
  );
  assert.deepEqual(shortNames(["dir=r engine=ts", "dir=r engine=c", "dir=w engine=ts"]), [
    "r ts",
    "r c",
    "w ts",
  ]);
  assert.deepEqual(shortNames(["job=a blocks=342", "job=a blocks=684", "job=b blocks=342"]), [
    "a blocks=342",
    "a blocks=684",
    "b blocks=342",
  ]);
  assert.deepEqual(shortNames(["plain name", "other"]), ["plain name", "other"]);
  // a figure's name, then its labels
  assert.deepEqual(
    shortNames(["iops_ratio job=a side=x ratio=b/c", "iops_ratio job=a side=y ratio=b/c"]),
    ["x", "y"],
  );
  assert.deepEqual(
    shortNames(["iops_ratio job=a ratio=b/c", "p99_ratio job=b ratio=b/c"]),
    ["iops_ratio", "p99_ratio"],
  );
  fc.assert(
    fc.property(
      fc.uniqueArray(
        fc.array(fc.tuple(fc.constantFrom("a", "b", "c"), fc.constantFrom("1", "2", "x y")), {
          minLength: 1,
          maxLength: 3,
        }).map((kvs) => [...new Map(kvs)].map(([k, v]) => `${k}=${v}`).join(" ")),
        { maxLength: 8 },
      ),
      (names) => {
        const short = shortNames(names);
        assert.equal(short.length, names.length);
        assert.equal(new Set(short).size, names.length); // still tells every series apart
      },
    ),
    { numRuns: Number(Deno.env.get("RUNS") ?? 300) },
  );
});

Deno.test("svg chart: bars only where a category has the series; slanted names stay inside", () => {
  const [c] = drawCharts(
    ["what", "case", "v"],
    [["a-very-long-category-name-number-one", "s1", 1], ["another-long-category", "s2", 2]],
    { kind: "bar", x: "what", y: "v", series: "case", logx: false, logy: false },
  );
  const xs = [...c.svg.matchAll(/<rect class="mark" x="([\d.]+)"[^>]*width="([\d.]+)"/g)]
    .map((m) => [Number(m[1]), Number(m[2])]);
  assert.equal(xs.length, 2);
  const left = Number(/<line x1="([\d.]+)" x2="\1" y1=/.exec(c.svg)![1]); // the y axis
  const width = Number(/viewBox="0 0 ([\d.]+) /.exec(c.svg)![1]);
  const groupW = xs[1][0] - xs[0][0];
  // one bar per category, centred in it (no empty slot for the other series)
  assert.ok(Math.abs(xs[0][0] - left - (groupW - xs[0][1]) / 2) < 1, c.svg);
  // the first slanted name (text-anchor end, about 5.2 px per character) starts inside
  const first = /<text x="([\d.]+)"[^>]*text-anchor="end" transform="rotate/.exec(c.svg)!;
  assert.ok(Number(first[1]) - "a-very-long-category-name-number-one".length * 5.2 >= 0);
  assert.ok(width > left);
});

Deno.test("svg chart: a chart with more series than can be read is left to the table", () => {
  const rows = Array.from({ length: 41 }, (_, i) => ["hvkit", `case-${i}`, i + 1]);
  const [c] = drawCharts(["peer", "case", "iops"], rows, { ...bar, series: "case" });
  assert.equal(c.marks, 0);
  assert.equal(c.svg, "");
  assert.match(c.skipped ?? "", /41 series, too many to draw/);
  const [d] = drawCharts(["peer", "case", "iops"], rows.slice(0, 40), { ...bar, series: "case" });
  assert.equal(d.marks, 40);
});

Deno.test("svg chart: drawLines draws a tool's own curves with the reports' writer", () => {
  const chart = drawLines({
    title: "LRU miss-ratio curve (exact)",
    x: "cache size (bytes)",
    y: "miss ratio",
    series: [
      { name: "LRU exact", points: [{ x: 65536, y: 0.4 }, { x: 4096, y: 0.9 }] },
      { name: "other", points: [{ x: 0, y: 1 }, { x: 1 << 20, y: 0.1 }] },
    ],
    logx: true,
  });
  // the x = 0 point cannot sit on a log axis: left out; the rest are marks in x order
  assert.equal(chart.marks, 3);
  assert.deepEqual(marks(chart.svg), ["0.9", "0.4", "0.1"]);
  assert.match(chart.svg, /data-series="LRU exact" data-x="4096"/);
  assert.match(chart.svg, /<title>LRU miss-ratio curve \(exact\)<\/title>/);
  assert.equal(chart.svg.match(/<polyline /g)?.length, 2);
  assert.doesNotMatch(chart.svg, /NaN|Infinity/);
});

Deno.test("svg chart: drawLines with no drawable point gives empty axes, not NaN", () => {
  const chart = drawLines({ title: "t", x: "x", y: "y", series: [], logx: true });
  assert.equal(chart.marks, 0);
  assert.match(chart.svg, /^<svg /);
  assert.doesNotMatch(chart.svg, /NaN|Infinity/);
});
