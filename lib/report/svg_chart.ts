/**
 * Self-contained SVG charts drawn from a report's rows: grouped bars (IOPS per peer,
 * latency percentiles) and lines (miss-ratio curves). No script, no external font or style:
 * the SVG is text that opens offline in any browser, inline in an HTML page.
 *
 * Every mark carries `data-series`, `data-x` and `data-value` so a test (or a reader's
 * devtools) can check what was drawn.
 *
 * @module
 */
import type { ChartSpec } from "./report_spec.ts";

/** One drawn chart: its title and the SVG text. */
export interface Chart {
  title: string;
  svg: string;
  /** How many data marks (bars or points) it holds. */
  marks: number;
  /** Set when the chart was not drawn (too many series to read): why. */
  skipped?: string;
}

/** Past this many series a chart cannot be read; it is left to the table. */
export const MAX_SERIES = 40;

/**
 * Okabe-Ito (distinguishable with the common colour-vision deficiencies; its yellow darkened to
 * read on white), then four of Tol's muted colours for charts with more series.
 */
const PALETTE = [
  "#0072B2",
  "#E69F00",
  "#009E73",
  "#D55E00",
  "#CC79A7",
  "#56B4E9",
  "#C9B800",
  "#000000",
  "#882255",
  "#44AA99",
  "#999933",
  "#888888",
];

/**
 * A chart's size and margins. The plot is at least 294 px wide and grows with the bars; the
 * legend column is as wide as its longest name; the bottom margin holds slanted category names.
 */
interface Geometry {
  W: number;
  H: number;
  M: { left: number; right: number; top: number; bottom: number };
}

const PLOT_W = 294;
const PLOT_H = 208;
const LEGEND_MAX = 24;
/** Longest name shown in a legend or under a bar; the tooltip and data attributes keep it all. */
const NAME_MAX = 44;

function geometry(
  opts: { title: string; legend: string[]; plotW?: number; bottom?: number; left?: number },
): Geometry {
  const longest = Math.max(0, ...opts.legend.slice(0, LEGEND_MAX).map((s) => s.length));
  const right = opts.legend.length === 0 ? 16 : 30 + Math.ceil(longest * 6.3);
  const top = 28;
  const bottom = opts.bottom ?? 64;
  const legendH = top + 4 + Math.min(opts.legend.length, LEGEND_MAX) * 16 + 8;
  const H = Math.max(top + PLOT_H + bottom, legendH);
  const left = Math.max(56, Math.ceil(opts.left ?? 0));
  // wide enough for the bold title (about 8 px a character at 13 px)
  const W = Math.max(
    left + Math.max(PLOT_W, opts.plotW ?? 0) + right,
    64 + opts.title.length * 8.2,
  );
  return { W, H, M: { left, right, top, bottom: H - top - PLOT_H } };
}

function clip(s: string, n = NAME_MAX): string {
  return s.length > n ? s.slice(0, n - 1) + "…" : s;
}

/**
 * Short legend names for series named by `key=value` lists ("job=4k-qd1 bs=4096 iodepth=1"):
 * drops every key the remaining ones already tell apart (last keys first) and shows the values
 * of the rest ("4k-qd1 bridge-ffi"; a number keeps its key: "blocks=342"). Names that cannot be
 * told apart this way are returned as they are.
 */
export function shortNames(names: string[]): string[] {
  // "k=v w k2=v2": a word without "=" belongs to the value before it; leading words are a
  // name under the key "" ("iops_ratio job=a side=b": a figure's name and its labels)
  const parsed = names.map((n) => {
    const out: [string, string][] = [];
    for (const t of n.split(" ").filter((t) => t !== "")) {
      const eq = t.indexOf("=");
      if (eq > 0) out.push([t.slice(0, eq), t.slice(eq + 1)]);
      else if (out.length > 0) out[out.length - 1][1] += " " + t;
      else out.push(["", t]);
    }
    return out.length > 0 && out.filter(([k]) => k === "").length <= 1 ? out : null;
  });
  if (names.length < 2 || parsed.some((ts) => ts === null)) return names;
  const pairs = parsed as [string, string][][];
  const maps = pairs.map((ts) => new Map(ts.map(([k, v]) => [k, v])));
  const keys = [...new Set(pairs.flatMap((ts) => ts.map(([k]) => k)))];
  const tell = (ks: string[]) =>
    new Set(maps.map((m) => ks.map((k) => m.get(k) ?? "").join("\u0000"))).size;
  const need = tell(keys);
  if (need < names.length) return names; // the same labels in another order or form
  let kept = [...keys];
  for (const k of [...keys].reverse()) {
    const without = kept.filter((x) => x !== k);
    if (without.length > 0 && tell(without) === need) kept = without;
  }
  const named = (valuesOnly: boolean) =>
    maps.map((m, i) => {
      const own = kept.filter((k) => m.has(k));
      if (own.length === 0) return names[i]; // none of the telling keys: its own labels
      if (kept.length === 1) return m.get(kept[0])!;
      // values alone read well ("4k-qd1 bridge-ffi"); a number keeps its key ("blocks=342")
      return own.map((k) => {
        const v = m.get(k)!;
        return k === "" || (valuesOnly && !/^[-+.\d]+$/.test(v)) ? v : `${k}=${v}`;
      }).join(" ");
    });
  const short = named(true);
  return new Set(short).size === names.length ? short : named(false);
}

/** Escapes text for XML content and attribute values. */
export function escapeXml(s: string): string {
  return s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;").replaceAll("'", "&#39;");
}

/** A cell as a number (DuckDB returns BIGINT as text), or null. */
export function toNumber(v: unknown): number | null {
  if (typeof v === "number") return Number.isFinite(v) ? v : null;
  if (typeof v === "bigint") return Number(v);
  if (typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v))) return Number(v);
  return null;
}

function label(v: unknown): string {
  if (v === null || v === undefined) return "";
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}

/** A compact figure for an axis tick: 1.2k, 3.4M, 0.25, 12. */
export function formatTick(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e9) return `${+(v / 1e9).toPrecision(3)}G`;
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toPrecision(3)}k`;
  if (a === 0) return "0";
  return String(+v.toPrecision(3));
}

/** Round tick values covering [lo, hi]: steps of 1, 2 or 5 times a power of ten. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) hi = lo === 0 ? 1 : lo + Math.abs(lo);
  const raw = (hi - lo) / count;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw) ?? 10 * pow;
  const start = Math.floor(lo / step) * step;
  // extreme inputs (overflowing ranges, steps lost in rounding) get the bare range
  if (!Number.isFinite(raw) || !Number.isFinite(start) || !(step > 0) || start + step === start) {
    return [lo, hi];
  }
  const ticks: number[] = [];
  for (let i = 0; i <= 4 * count; i++) {
    const t = +(start + i * step).toPrecision(12);
    if (!Number.isFinite(t)) break;
    ticks.push(t);
    if (start + i * step >= hi) break;
  }
  return ticks;
}

function logTicks(lo: number, hi: number): number[] {
  // under two decades: 1-2-5 steps around the data instead of whole empty decades
  if (hi / lo < 100) {
    const e0 = Math.floor(Math.log10(lo));
    const cand: number[] = [];
    for (let e = e0; e <= e0 + 3; e++) {
      for (const m of [1, 2, 5]) cand.push(+(m * 10 ** e).toPrecision(6));
    }
    const first = cand.filter((c) => c <= lo).pop() ?? cand[0];
    const last = cand.find((c) => c >= hi) ?? cand[cand.length - 1];
    const out = cand.filter((c) => c >= first && c <= last);
    // (denormal inputs round candidates to 0: those fall back to whole decades below)
    if (out.length >= 2 && out.every((c) => c > 0 && Number.isFinite(c))) return out;
  }
  const a = Math.floor(Math.log10(lo));
  const b = Math.max(a + 1, Math.ceil(Math.log10(hi)));
  const every = Math.max(1, Math.ceil((b - a) / 10));
  const out: number[] = [];
  for (let e = a; e < b + every; e += every) out.push(10 ** e);
  return out.filter((t) => Number.isFinite(t) && t > 0);
}

interface Scale {
  ticks: number[];
  at: (v: number) => number;
}

function linearScale(lo: number, hi: number, from: number, to: number): Scale {
  const ticks = niceTicks(lo, hi);
  const a = ticks[0];
  const b = ticks[ticks.length - 1];
  // halves keep b - a finite for ranges near the largest double
  return { ticks, at: (v) => from + (to - from) * ((v / 2 - a / 2) / (b / 2 - a / 2 || 1)) };
}

function logScale(lo: number, hi: number, from: number, to: number): Scale {
  const ticks = logTicks(lo, hi);
  const a = Math.log10(ticks[0]);
  const b = Math.log10(ticks[ticks.length - 1]);
  return {
    ticks,
    at: (v) => from + (to - from) * ((Math.log10(v) - a) / (b - a || 1)),
  };
}

function frame(
  g: Geometry,
  title: string,
  yUnit: string,
  body: string[],
  legend: string[],
): string {
  const { W, H, M } = g;
  const t = escapeXml(title);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 ${W} ${H}" ` +
    `width="${W}" height="${H}" role="img" aria-label="${t}">`,
    `<title>${t}</title>`,
    `<rect x="0" y="0" width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${Math.min(M.left, 56)}" y="16" font-size="13" font-weight="bold">${t}</text>`,
    yUnit
      ? `<text x="12" y="${M.top + (H - M.top - M.bottom) / 2}" font-size="11" ` +
        `transform="rotate(-90 12 ${M.top + (H - M.top - M.bottom) / 2})" ` +
        `text-anchor="middle">${escapeXml(yUnit)}</text>`
      : "",
    ...body,
    ...legend,
    `</svg>`,
  ].join("\n");
}

function yAxis(g: Geometry, scale: Scale): string[] {
  const { W, H, M } = g;
  const out: string[] = [];
  for (const t of scale.ticks) {
    const y = scale.at(t).toFixed(1);
    out.push(
      `<line x1="${M.left}" x2="${W - M.right}" y1="${y}" y2="${y}" stroke="#ddd"/>`,
      `<text x="${M.left - 6}" y="${y}" font-size="10" text-anchor="end" ` +
        `dominant-baseline="middle">${formatTick(t)}</text>`,
    );
  }
  out.push(
    `<line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${H - M.bottom}" stroke="#444"/>`,
  );
  return out;
}

/** The legend's names (shortened, clipped), or none for one unnamed series. */
function legendNames(series: string[]): string[] {
  if (series.length <= 1 && (series[0] ?? "") === "") return [];
  return shortNames(series).map((s) => clip(s));
}

function legendFor(g: Geometry, names: string[]): string[] {
  const { W, M } = g;
  const out = names.slice(0, LEGEND_MAX).map((s, i) => {
    const y = M.top + 4 + i * 16;
    const x = W - M.right + 12;
    return `<rect x="${x}" y="${y}" width="10" height="10" fill="${
      PALETTE[i % PALETTE.length]
    }"/>` +
      `<text x="${x + 14}" y="${y + 9}" font-size="11">${escapeXml(s)}</text>`;
  });
  if (names.length > LEGEND_MAX) {
    out.push(
      `<text x="${W - M.right + 12}" y="${M.top + 16 + LEGEND_MAX * 16}" font-size="11">` +
        `+${names.length - LEGEND_MAX} more (table below)</text>`,
    );
  }
  return out;
}

function distinct(values: string[]): string[] {
  return [...new Set(values)];
}

interface Point {
  x: unknown;
  y: number;
  series: string;
}

/**
 * How a bar chart's categories fit: the plot's width (room for every bar, >= 5 px), whether
 * their names are drawn and slanted, and the margins that needs.
 */
function categoryLayout(catNames: string[], nSeries: number) {
  const n = catNames.length;
  // room for every bar (>= 5 px) and slanted names below when they do not fit side by side
  // (22 px a category leaves room for slanted names up to 1000 px, past that they go)
  const plotW = Math.min(1000, n * Math.max(nSeries * 5 + 8, 22));
  const catW = Math.max(PLOT_W, plotW) / n;
  // names that do not fit side by side are slanted; slanted ones need ~22 px apart not to
  // overlap, and with less than that none are drawn (tooltips and the table have them)
  const longestName = Math.max(...catNames.map((c) => clip(c).length));
  const flat = longestName * 6 <= catW;
  const named = flat || catW >= 22;
  const longest = named ? longestName : 0;
  const rotate = named && !flat;
  const bottom = !named ? 40 : rotate ? Math.max(64, 24 + Math.ceil(longest * 6 * 0.5)) : 40;
  // a name slanted to the left of its bar must not run off the chart's left edge
  const left = rotate
    ? Math.max(...catNames.map((c, i) => clip(c).length * 5.2 + 6 - (i + 0.5) * catW))
    : 0;
  return { plotW, named, rotate, bottom, left };
}

/** The category names under the bars (slanted when `rotate`), each with its full name. */
function categoryLabels(
  cats: string[],
  catNames: string[],
  g: Geometry,
  groupW: number,
  rotate: boolean,
): string[] {
  const { H, M } = g;
  return cats.map((c, i) => {
    const x = M.left + i * groupW + groupW / 2;
    const yy = H - M.bottom + 14;
    return `<text x="${x.toFixed(1)}" y="${yy}" font-size="10" text-anchor="${
      rotate ? "end" : "middle"
    }"${rotate ? ` transform="rotate(-30 ${x.toFixed(1)} ${yy})"` : ""}>${
      escapeXml(clip(catNames[i]))
    }<title>${escapeXml(c)}</title></text>`;
  });
}

function barChart(
  title: string,
  unit: string,
  xName: string,
  points: Point[],
  logy: boolean,
): Chart {
  const cats = distinct(points.map((p) => label(p.x)));
  const catNames = shortNames(cats); // shown under the bars; tooltips and data-x keep the whole
  const series = distinct(points.map((p) => p.series));
  const names = legendNames(series);
  const { plotW, named, rotate, bottom, left } = categoryLayout(catNames, series.length);
  const g = geometry({ title, legend: names, plotW, bottom, left });
  const { W, H, M } = g;
  const values = points.map((p) => p.y);
  const usable = logy ? values.filter((v) => v > 0) : values;
  const lo = logy ? Math.min(...usable) : Math.min(0, ...usable);
  const hi = Math.max(...usable, logy ? lo * 10 : 0);
  const y = logy ? logScale(lo, hi, H - M.bottom, M.top) : linearScale(lo, hi, H - M.bottom, M.top);
  const groupW = (W - M.left - M.right) / cats.length;
  // each category holds bars for the series it has, side by side, centred
  const present = cats.map((c) =>
    series.filter((s) => points.some((p) => p.series === s && label(p.x) === c))
  );
  const slots = Math.max(...present.map((l) => l.length));
  const barW = Math.max(2, (groupW * 0.8) / slots);
  const body = yAxis(g, y);
  const base = logy ? H - M.bottom : y.at(0);
  let marks = 0;
  for (const p of points) {
    if (logy && p.y <= 0) continue;
    const ci = cats.indexOf(label(p.x));
    const si = series.indexOf(p.series);
    const here = present[ci];
    const x = M.left + ci * groupW + (groupW - here.length * barW) / 2 +
      here.indexOf(p.series) * barW;
    const top = y.at(p.y);
    const [y0, h] = top < base ? [top, base - top] : [base, top - base];
    const tip = `${p.series ? p.series + ", " : ""}${label(p.x)}: ${formatTick(p.y)}${
      unit ? " " + unit : ""
    }`;
    body.push(
      `<rect class="mark" x="${x.toFixed(1)}" y="${y0.toFixed(1)}" width="${barW.toFixed(1)}" ` +
        `height="${Math.max(h, 0.5).toFixed(1)}" fill="${PALETTE[si % PALETTE.length]}" ` +
        `data-series="${escapeXml(p.series)}" data-x="${escapeXml(label(p.x))}" ` +
        `data-value="${p.y}"><title>${escapeXml(tip)}</title></rect>`,
    );
    marks++;
  }
  if (!named) {
    body.push(
      `<text x="${M.left}" y="${H - M.bottom + 16}" font-size="10" fill="#555">` +
        `${cats.length} ${escapeXml(xName)} values: names in the tooltips and the table</text>`,
    );
  }
  if (named) body.push(...categoryLabels(cats, catNames, g, groupW, rotate));
  body.push(
    `<line x1="${M.left}" x2="${W - M.right}" y1="${base.toFixed(1)}" y2="${
      base.toFixed(1)
    }" stroke="#444"/>`,
  );
  return { title, svg: frame(g, title, unit, body, legendFor(g, names)), marks };
}

function lineChart(
  title: string,
  unit: string,
  xName: string,
  points: Point[],
  spec: ChartSpec,
): Chart {
  const pts = points
    .map((p) => ({ ...p, xn: toNumber(p.x) }))
    .filter((p): p is Point & { xn: number } =>
      p.xn !== null && (!spec.logx || p.xn > 0) && (!spec.logy || p.y > 0)
    );
  const series = distinct(pts.map((p) => p.series));
  const names = legendNames(series);
  const g = geometry({ title, legend: names });
  const { W, H, M } = g;
  // no drawable point: empty axes over a unit range rather than NaN coordinates
  const xs = pts.length > 0 ? pts.map((p) => p.xn) : spec.logx ? [1, 10] : [0, 1];
  const ys = pts.length > 0 ? pts.map((p) => p.y) : spec.logy ? [1, 10] : [0, 1];
  const xScale = spec.logx
    ? logScale(Math.min(...xs), Math.max(...xs), M.left, W - M.right)
    : linearScale(Math.min(...xs), Math.max(...xs), M.left, W - M.right);
  const yScale = spec.logy
    ? logScale(Math.min(...ys), Math.max(...ys), H - M.bottom, M.top)
    : linearScale(Math.min(0, ...ys), Math.max(...ys), H - M.bottom, M.top);
  const body = yAxis(g, yScale);
  for (const t of xScale.ticks) {
    const x = xScale.at(t).toFixed(1);
    body.push(
      `<line x1="${x}" x2="${x}" y1="${H - M.bottom}" y2="${H - M.bottom + 4}" stroke="#444"/>`,
      `<text x="${x}" y="${H - M.bottom + 16}" font-size="10" text-anchor="middle">${
        formatTick(t)
      }</text>`,
    );
  }
  body.push(
    `<line x1="${M.left}" x2="${W - M.right}" y1="${H - M.bottom}" y2="${
      H - M.bottom
    }" stroke="#444"/>`,
    `<text x="${(M.left + W - M.right) / 2}" y="${H - 20}" font-size="11" text-anchor="middle">${
      escapeXml(xName)
    }</text>`,
  );
  let marks = 0;
  series.forEach((s, si) => {
    const color = PALETTE[si % PALETTE.length];
    const mine = pts.filter((p) => p.series === s).sort((a, b) => a.xn - b.xn);
    const path = mine.map((p) => `${xScale.at(p.xn).toFixed(1)},${yScale.at(p.y).toFixed(1)}`);
    body.push(
      `<polyline fill="none" stroke="${color}" stroke-width="2" points="${path.join(" ")}"/>`,
    );
    for (const p of mine) {
      body.push(
        `<circle class="mark" cx="${xScale.at(p.xn).toFixed(1)}" cy="${
          yScale.at(p.y).toFixed(1)
        }" r="3" fill="${color}" data-series="${escapeXml(s)}" data-x="${p.xn}" ` +
          `data-value="${p.y}"><title>${
            escapeXml(
              `${s ? s + ", " : ""}${xName} ${p.xn}: ${formatTick(p.y)}${unit ? " " + unit : ""}`,
            )
          }</title></circle>`,
      );
      marks++;
    }
  });
  return { title, svg: frame(g, title, unit, body, legendFor(g, names)), marks };
}

/** One named curve for {@link drawLines}. */
export interface LineSeries {
  name: string;
  points: { x: number; y: number }[];
}

/**
 * Draws one line chart from curves a tool computed itself (not from a report's rows): the same
 * writer, palette and data attributes as the reports' charts. Points that a log axis cannot
 * show (x or y <= 0) are left out; `marks` says how many were drawn.
 *
 * @example
 * ```ts
 * import { drawLines } from "./svg_chart.ts";
 * const chart = drawLines({
 *   title: "LRU miss ratio",
 *   x: "cache size (bytes)",
 *   y: "miss ratio",
 *   series: [{ name: "LRU exact", points: [{ x: 4096, y: 0.9 }, { x: 65536, y: 0.4 }] }],
 *   logx: true,
 * });
 * chart.marks; // 2
 * ```
 */
export function drawLines(opts: {
  title: string;
  x: string;
  y: string;
  series: LineSeries[];
  logx?: boolean;
  logy?: boolean;
}): Chart {
  const points: Point[] = opts.series.flatMap((s) =>
    s.points.map((p) => ({ x: p.x, y: p.y, series: s.name }))
  );
  const spec: ChartSpec = {
    kind: "line",
    x: opts.x,
    y: opts.y,
    logx: opts.logx ?? false,
    logy: opts.logy ?? false,
  };
  return lineChart(opts.title, opts.y, opts.x, points, spec);
}

/**
 * Draws the charts a spec asks for from a result (one per facet value). Rows whose y is not
 * a number are left out; a chart with nothing to draw is not returned, one with more than
 * {@link MAX_SERIES} series is returned undrawn with `skipped` saying so.
 *
 * @example
 * ```ts
 * import { drawCharts } from "./svg_chart.ts";
 * const charts = drawCharts(["peer", "iops"], [["daio", 1e5], ["fio", 9e4]], {
 *   kind: "bar", x: "peer", y: "iops", logx: false, logy: false,
 * });
 * charts[0].svg.startsWith("<svg"); // true
 * ```
 */
export function drawCharts(columns: string[], rows: unknown[][], spec: ChartSpec): Chart[] {
  const col = (name: string | undefined): number => {
    if (name === undefined) return -1;
    const i = columns.indexOf(name);
    if (i < 0) throw new Error(`chart column ${name} is not in the result (${columns.join(", ")})`);
    return i;
  };
  const xi = col(spec.x);
  const yi = col(spec.y);
  const si = col(spec.series);
  const fi = col(spec.facet);
  const ui = columns.indexOf("unit");
  const facets = new Map<string, unknown[][]>();
  for (const r of rows) {
    const key = fi >= 0 ? label(r[fi]) : "";
    let list = facets.get(key);
    if (!list) facets.set(key, list = []);
    list.push(r);
  }
  const charts: Chart[] = [];
  for (const [facet, facetRows] of facets) {
    const points: Point[] = [];
    for (const r of facetRows) {
      const y = toNumber(r[yi]);
      if (y === null) continue;
      points.push({ x: r[xi], y, series: si >= 0 ? label(r[si]) : "" });
    }
    if (points.length === 0) continue;
    const units = distinct(facetRows.map((r) => (ui >= 0 ? label(r[ui]) : "")));
    const unit = spec.unit ?? (units.length === 1 ? units[0] : "");
    const base = spec.title ?? `${spec.y} by ${spec.x}`;
    const title = facet ? `${base}: ${facet}` : base;
    const nSeries = distinct(points.map((p) => p.series)).length;
    if (nSeries > MAX_SERIES) {
      const why = `${title}: ${nSeries} series, too many to draw; the rows are in the table`;
      charts.push({ title, svg: "", marks: 0, skipped: why });
      continue;
    }
    charts.push(
      spec.kind === "bar"
        ? barChart(title, unit, spec.x, points, spec.logy)
        : lineChart(title, unit, spec.x, points, spec),
    );
  }
  return charts.filter((c) => c.marks > 0 || c.skipped);
}
