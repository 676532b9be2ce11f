/**
 * A named report's header: the SQL file's leading `--` comment lines. The first line is the
 * summary, further plain lines are its description, and `-- chart: KIND key=value ...` lines
 * ask for charts drawn from the report's rows:
 *
 * ```sql
 * -- Engine IOPS per peer, latest run of each benchmark.
 * -- chart: bar x=peer y=iops series=job facet=bench title="IOPS per peer" unit=1/s
 * SELECT ...
 * ```
 *
 * Kinds: `bar` (categories on x, grouped by `series`) and `line` (numeric x, one line per
 * `series`, e.g. a miss-ratio curve). `facet=COL` draws one chart per distinct value of COL;
 * `logx` / `logy` use a log scale; `unit=` names the y unit when no `unit` column says it.
 *
 * @module
 */

/** One chart a report asks for. */
export interface ChartSpec {
  kind: "bar" | "line";
  x: string;
  y: string;
  series?: string;
  facet?: string;
  title?: string;
  unit?: string;
  logx: boolean;
  logy: boolean;
}

/** A report's header, parsed. */
export interface ReportSpec {
  name: string;
  summary: string;
  description: string[];
  charts: ChartSpec[];
  sql: string;
}

/** Splits `key=value key="a b" flag` into pairs; a bare word is `true`. */
function words(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(/([A-Za-z_]+)(?:=("([^"]*)"|\S+))?/g)) {
    out.set(m[1], m[3] ?? m[2] ?? "true");
  }
  return out;
}

/**
 * Parses a report's header; a malformed `chart:` line is an error naming the report.
 *
 * @example
 * ```ts
 * import { parseReportSpec } from "./report_spec.ts";
 * const spec = parseReportSpec("iops", "-- IOPS\n-- chart: bar x=peer y=iops\nSELECT 1");
 * spec.charts[0].kind; // "bar"
 * ```
 */
export function parseReportSpec(name: string, sql: string): ReportSpec {
  const header: string[] = [];
  for (const line of sql.split("\n")) {
    if (!line.startsWith("--")) break;
    header.push(line.replace(/^--\s?/, ""));
  }
  // the summary is the first sentence: it goes on over the next lines until one ends it
  let first = 1;
  let summary = header[0] ?? "";
  while (
    first < header.length && !/[.!?:)]\s*$/.test(summary) &&
    header[first].trim() !== "" && !/^chart:/.test(header[first])
  ) {
    summary += " " + header[first].trim();
    first++;
  }
  const charts: ChartSpec[] = [];
  const description: string[] = [];
  for (const line of header.slice(first)) {
    const m = /^chart:\s*(\S+)(.*)$/.exec(line);
    if (!m) {
      if (line.trim() !== "") description.push(line.trim());
      continue;
    }
    const kind = m[1];
    if (kind !== "bar" && kind !== "line") {
      throw new Error(`report ${name}: chart kind must be bar or line, not ${kind}`);
    }
    const w = words(m[2]);
    const x = w.get("x");
    const y = w.get("y");
    if (!x || !y) throw new Error(`report ${name}: a chart needs x= and y=`);
    charts.push({
      kind,
      x,
      y,
      series: w.get("series"),
      facet: w.get("facet"),
      title: w.get("title"),
      unit: w.get("unit"),
      logx: w.has("logx"),
      logy: w.has("logy"),
    });
  }
  return { name, summary, description, charts, sql };
}
