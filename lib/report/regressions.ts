/**
 * The regression check behind `--check-regressions PCT`: runs the `regressions` report
 * (each benchmark figure against the previous run of the same benchmark on the same host) and
 * keeps the figures that got worse by more than the threshold.
 *
 * @module
 */
import { loadReport, REPORTS_DIR, runReport } from "./report_runner.ts";
import { toNumber } from "./svg_chart.ts";

/** One figure that got worse by more than the threshold. */
export interface Regression {
  bench: string;
  host: string;
  figure: string;
  unit: string;
  better: string;
  before: number;
  now: number;
  worsePct: number;
}

/** What the check found: the regressions and how many figures it compared. */
export interface RegressionCheck {
  compared: number;
  regressions: Regression[];
  /** Why nothing was compared, when nothing was. */
  reason?: string;
}

/**
 * Compares the latest run of every benchmark with its previous run on the same host.
 *
 * @example
 * ```ts
 * import { checkRegressions } from "./regressions.ts";
 * const { regressions } = await checkRegressions("bench.duckdb", 20);
 * if (regressions.length > 0) Deno.exit(1);
 * ```
 */
export async function checkRegressions(
  db: string,
  thresholdPct: number,
  dir = REPORTS_DIR,
): Promise<RegressionCheck> {
  const r = await runReport(db, loadReport("regressions", dir));
  if (r.status === "empty") {
    return { compared: 0, regressions: [], reason: "no benchmark has two runs on this host yet" };
  }
  const col = (n: string) => r.columns.indexOf(n);
  const regressions: Regression[] = [];
  for (const row of r.rows) {
    const worse = toNumber(row[col("worse_pct")]);
    if (worse === null || worse <= thresholdPct) continue;
    regressions.push({
      bench: String(row[col("bench")]),
      host: String(row[col("host")]),
      figure: String(row[col("figure")]),
      unit: String(row[col("unit")] ?? ""),
      better: String(row[col("better")]),
      before: toNumber(row[col("before")]) ?? NaN,
      now: toNumber(row[col("now")]) ?? NaN,
      worsePct: worse,
    });
  }
  return { compared: r.rows.length, regressions };
}

/** One line per regression, for a terminal or a CI log. */
export function describeRegressions(check: RegressionCheck, thresholdPct: number): string {
  if (check.compared === 0) return `regressions: nothing to compare (${check.reason})\n`;
  if (check.regressions.length === 0) {
    return `regressions: none beyond ${thresholdPct}% (${check.compared} figures compared)\n`;
  }
  const lines = check.regressions.map((g) =>
    `REGRESSION ${g.bench} ${g.figure}: ${+g.before.toPrecision(6)} -> ${+g.now.toPrecision(
      6,
    )} ${g.unit} ` +
    `(${g.worsePct}% worse, ${g.better} is better, host ${g.host})`
  );
  return lines.join("\n") +
    `\nregressions: ${check.regressions.length} of ${check.compared} figures got worse by more ` +
    `than ${thresholdPct}%\n`;
}
