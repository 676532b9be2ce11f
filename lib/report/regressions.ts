/**
 * The regression check behind `--check-regressions PCT`. What fails is a benchmark's ratio to its
 * peer (the `regressions` report: hvkit's figure over the peer's, both measured in the same run,
 * against the least favourable value of the same ratio in the up to 3 previous runs of that
 * benchmark of the same size on the same host, so a regression is a step beyond their spread):
 * a loaded
 * machine slows both sides, so the ratio keeps what hvkit itself did. Absolute figures (the
 * `regressions_absolute` report) move with the machine's load; they are reported and fail only
 * when asked (`absolute: true`, the `--absolute` option).
 *
 * @module
 */
import { loadReport, type ReportResult, REPORTS_DIR, runReport } from "./report_runner.ts";
import { toNumber } from "./svg_chart.ts";

/** One figure that got worse by more than the threshold. */
export interface Regression {
  bench: string;
  host: string;
  figure: string;
  unit: string;
  better: string;
  /** The least favourable of this many previous runs. */
  before: number;
  baselineRuns: number;
  now: number;
  worsePct: number;
  /** `ratio`: a ratio to the peer in the same run; `absolute`: any other figure. */
  kind: "ratio" | "absolute";
  /** Whether it fails the check (false: reported only, e.g. a ratio labelled gate "report"). */
  fails: boolean;
}

/** What the check found. */
export interface RegressionCheck {
  /** Ratio figures with a direction compared with the previous run. */
  compared: number;
  /** Ratio rows compared but not checked: no `labels.better`. */
  unlabelled: number;
  /** Absolute figures with a direction compared. */
  absoluteCompared: number;
  /** Whether absolute figures fail the check too. */
  absolute: boolean;
  /** Every figure worse than the threshold; `fails` says which of them fail the check. */
  regressions: Regression[];
  /** Why nothing was compared, when nothing was. */
  reason?: string;
}

/** Options of {@link checkRegressions}. */
export interface CheckOptions {
  /** Fail on absolute figures too, not only on ratios to the peer. */
  absolute?: boolean;
  /** Where the reports are (tests). */
  dir?: string;
}

function rowsOf(r: ReportResult): Record<string, unknown>[] {
  if (r.status !== "ok") return [];
  return r.rows.map((row) => Object.fromEntries(r.columns.map((c, i) => [c, row[i]])));
}

function toRegression(row: Record<string, unknown>, kind: Regression["kind"], fails: boolean) {
  return {
    bench: String(row.bench),
    host: String(row.host),
    figure: String(row.figure),
    unit: String(row.unit ?? ""),
    better: String(row.better),
    before: toNumber(row.before) ?? NaN,
    baselineRuns: toNumber(row.baseline_runs) ?? 1,
    now: toNumber(row.now) ?? NaN,
    worsePct: toNumber(row.worse_pct) ?? NaN,
    kind,
    fails,
  };
}

/**
 * Compares the latest run of every benchmark with its previous run on the same host.
 *
 * @example
 * ```ts
 * import { checkRegressions } from "./regressions.ts";
 * const check = await checkRegressions("bench.duckdb", 20);
 * if (check.regressions.some((g) => g.fails)) Deno.exit(1);
 * ```
 */
export async function checkRegressions(
  db: string,
  thresholdPct: number,
  opts: CheckOptions = {},
): Promise<RegressionCheck> {
  const dir = opts.dir ?? REPORTS_DIR;
  const absolute = opts.absolute === true;
  const ratios = rowsOf(await runReport(db, loadReport("regressions", dir)));
  const abs = rowsOf(await runReport(db, loadReport("regressions_absolute", dir)));
  const checked = ratios.filter((r) => r.better === "higher" || r.better === "lower");
  const regressions: Regression[] = [];
  for (const row of checked) {
    const worse = toNumber(row.worse_pct);
    if (worse === null || worse <= thresholdPct) continue;
    regressions.push(toRegression(row, "ratio", row.gate !== "report"));
  }
  for (const row of abs) {
    const worse = toNumber(row.worse_pct);
    if (worse === null || worse <= thresholdPct) continue;
    regressions.push(toRegression(row, "absolute", absolute));
  }
  const check: RegressionCheck = {
    compared: checked.length,
    unlabelled: ratios.length - checked.length,
    absoluteCompared: abs.length,
    absolute,
    regressions,
  };
  if (ratios.length === 0 && abs.length === 0) {
    check.reason = "no benchmark has two runs of the same size on this host yet";
  }
  return check;
}

function line(g: Regression, head: string): string {
  const n = (x: number) => +x.toPrecision(6);
  const base = g.baselineRuns > 1 ? ` (the least favourable of ${g.baselineRuns} runs)` : "";
  return `${head} ${g.bench} ${g.figure}: ${n(g.before)}${base} -> ${n(g.now)} ${g.unit} ` +
    `(${g.worsePct}% worse, ${g.better} is better, host ${g.host})`;
}

/**
 * The check for a terminal or a CI log: a `REGRESSION` line per failing figure, a `reported`
 * line per ratio that is worse but not gated, the absolute figures summed up per benchmark
 * (listed one per line when they fail), and a closing count.
 */
export function describeRegressions(check: RegressionCheck, thresholdPct: number): string {
  if (check.reason) return `regressions: nothing to compare (${check.reason})\n`;
  const out: string[] = [];
  const failing = check.regressions.filter((g) => g.fails);
  const ratioNote = check.regressions.filter((g) => g.kind === "ratio" && !g.fails);
  const absNote = check.regressions.filter((g) => g.kind === "absolute" && !g.fails);
  for (const g of failing) out.push(line(g, "REGRESSION"));
  for (const g of ratioNote) out.push(line(g, "reported (gate=report, not failing)"));
  if (absNote.length > 0) {
    const per = new Map<string, Regression[]>();
    for (const g of absNote) per.set(g.bench, [...(per.get(g.bench) ?? []), g]);
    out.push(
      `absolute figures worse by more than ${thresholdPct}% (reported, not failing; ` +
        `--absolute fails on them): ` +
        [...per].map(([b, l]) => `${b} ${l.length} (worst ${l[0].figure} ${l[0].worsePct}%)`)
          .join(", "),
    );
  }
  if (check.unlabelled > 0) {
    out.push(`${check.unlabelled} ratio figures have no labels.better and were not checked`);
  }
  const ratioFail = failing.filter((g) => g.kind === "ratio").length;
  const absFail = failing.length - ratioFail;
  out.push(
    `regressions: ${ratioFail} of ${check.compared} ratios to the peer got worse by more than ` +
      `${thresholdPct}%` +
      (check.absolute
        ? `; ${absFail} of ${check.absoluteCompared} absolute figures`
        : ` (absolute figures: ${absNote.length} of ${check.absoluteCompared}, not checked)`),
  );
  if (failing.length === 0) out.push(`regressions: none beyond ${thresholdPct}%`);
  return out.join("\n") + "\n";
}

/** How many figures fail the check. */
export function failingCount(check: RegressionCheck): number {
  return check.regressions.filter((g) => g.fails).length;
}
