/**
 * One HTML page holding every report: a contents list, then per report its summary, its SVG
 * charts and its table (or "no runs yet"). Self-contained: inline CSS and SVG, no script,
 * nothing fetched, so the file opens offline and survives being mailed or archived.
 *
 * @module
 */
import type { ReportResult } from "./report_runner.ts";
import { type Chart, drawCharts, escapeXml } from "./svg_chart.ts";

/** What the page says about where its figures came from. */
export interface PageInfo {
  title: string;
  store: string;
  generated: Date;
  /** Extra lines under the title (the host, the benchmarks that ran or failed). */
  notes?: string[];
}

const CSS = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1180px; color: #222; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ccc; }
.meta, .desc { color: #555; }
.empty { color: #8a6d00; background: #fff8e0; padding: 0.4em 0.8em; display: inline-block; }
.error { color: #a00; background: #fde8e8; padding: 0.4em 0.8em; display: inline-block; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
.charts svg { border: 1px solid #eee; max-width: 100%; height: auto; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 12px; }
th, td { border: 1px solid #ddd; padding: 2px 8px; }
th { background: #f4f4f4; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
nav ul { columns: 2; }
summary { cursor: pointer; color: #0057a3; margin: 0.6em 0; }
`;

/** Tables longer than this are folded under their charts. */
const OPEN_ROWS = 25;

function cell(v: unknown): { text: string; num: boolean } {
  if (v === null || v === undefined) return { text: "", num: false };
  if (typeof v === "number") {
    return { text: Number.isInteger(v) ? String(v) : String(+v.toPrecision(6)), num: true };
  }
  if (typeof v === "object") return { text: JSON.stringify(v), num: false };
  const s = String(v);
  return { text: s, num: /^-?\d+(\.\d+)?$/.test(s) };
}

/** An HTML table of a result (at most `limit` rows, saying how many were left out). */
export function htmlTable(columns: string[], rows: unknown[][], limit = 500): string {
  const head = `<tr>${columns.map((c) => `<th>${escapeXml(c)}</th>`).join("")}</tr>`;
  const body = rows.slice(0, limit).map((r) =>
    `<tr>${
      columns.map((_, i) => {
        const c = cell(r[i]);
        return `<td${c.num ? ' class="num"' : ""}>${escapeXml(c.text)}</td>`;
      }).join("")
    }</tr>`
  );
  const more = rows.length > limit
    ? `<p class="meta">${rows.length - limit} more rows left out; export with --format csv.</p>`
    : "";
  return `<table>\n${head}\n${body.join("\n")}\n</table>${more}`;
}

/** One report's section: heading, description, charts, table. */
export function htmlSection(result: ReportResult | { name: string; error: string }): string {
  if ("error" in result) {
    return `<section id="${escapeXml(result.name)}"><h2>${escapeXml(result.name)}</h2>` +
      `<p class="error">${escapeXml(result.error)}</p></section>`;
  }
  const { spec } = result;
  const parts = [
    `<section id="${escapeXml(spec.name)}">`,
    `<h2>${escapeXml(spec.name)}</h2>`,
    `<p>${escapeXml(spec.summary)}</p>`,
    ...(spec.description.length > 0
      ? [`<p class="desc">${escapeXml(spec.description.join(" "))}</p>`]
      : []),
  ];
  if (result.status === "error") {
    parts.push(`<p class="error">${escapeXml(result.reason ?? "error")}</p>`);
  } else if (result.status === "empty") {
    parts.push(`<p class="empty">${escapeXml(result.reason ?? "no runs yet")}</p>`);
  } else {
    const charts: Chart[] = spec.charts.flatMap((c) => {
      try {
        return drawCharts(result.columns, result.rows, c);
      } catch (e) {
        const svg = `<p class="error">${escapeXml((e as Error).message)}</p>`;
        return [{ title: "", svg, marks: 0 }];
      }
    });
    const drawn = charts.filter((c) => !c.skipped);
    if (drawn.length > 0) {
      parts.push(`<div class="charts">`, ...drawn.map((c) => c.svg), `</div>`);
    }
    for (const c of charts) {
      if (c.skipped) parts.push(`<p class="meta">${escapeXml(c.skipped)}</p>`);
    }
    // a long table is folded (no script: <details>), so the charts of every report stay close
    if (result.rows.length > OPEN_ROWS) {
      parts.push(
        `<details><summary>Table: ${result.rows.length} rows</summary>`,
        htmlTable(result.columns, result.rows),
        `</details>`,
      );
    } else parts.push(htmlTable(result.columns, result.rows));
  }
  parts.push(`</section>`);
  return parts.join("\n");
}

/**
 * The whole page.
 *
 * @example
 * ```ts
 * import { htmlPage } from "./html_page.ts";
 * const html = htmlPage({ title: "hvkit", store: "x.duckdb", generated: new Date() }, []);
 * html.startsWith("<!DOCTYPE html>"); // true
 * ```
 */
export function htmlPage(
  info: PageInfo,
  results: (ReportResult | { name: string; error: string })[],
): string {
  const name = (r: ReportResult | { name: string }) => "spec" in r ? r.spec.name : r.name;
  const toc = results.map((r) => {
    const n = escapeXml(name(r));
    const tag = "status" in r && r.status === "empty"
      ? " (no runs yet)"
      : "error" in r || ("status" in r && r.status === "error")
      ? " (error)"
      : "";
    return `<li><a href="#${n}">${n}</a>${tag}</li>`;
  });
  return [
    "<!DOCTYPE html>",
    `<html lang="en"><head><meta charset="utf-8">`,
    `<meta name="viewport" content="width=device-width, initial-scale=1">`,
    `<title>${escapeXml(info.title)}</title>`,
    `<style>${CSS}</style></head><body>`,
    `<h1>${escapeXml(info.title)}</h1>`,
    `<p class="meta">Store <code>${escapeXml(info.store)}</code>, generated ${
      escapeXml(info.generated.toISOString())
    }</p>`,
    ...(info.notes ?? []).map((n) => `<p class="meta">${escapeXml(n)}</p>`),
    `<nav><ul>${toc.join("")}</ul></nav>`,
    ...results.map(htmlSection),
    `</body></html>`,
    "",
  ].join("\n");
}
