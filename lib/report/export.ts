/**
 * CSV and Parquet export through DuckDB's own `COPY ... TO`, so the files are what any DuckDB,
 * pandas or Arrow reader expects (Parquet keeps the column types).
 *
 * @module
 */
import { query } from "../results/mod.ts";
import type { ReportSpec } from "./report_spec.ts";
import { listReports, REPORTS_DIR, runReport } from "./report_runner.ts";
import { makeDirOnce } from "./output_path.ts";
import { checkStore } from "./store_check.ts";

/** The file formats `export` writes. */
export type ExportFormat = "csv" | "parquet";

function sqlString(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

/** The report's query without its trailing `;`, ready to wrap in `COPY (...)`. */
function body(sql: string): string {
  return sql.trim().replace(/;\s*$/, "");
}

/**
 * Writes one report's rows to a file; returns false (writing nothing) when the report has no
 * rows yet.
 *
 * @example
 * ```ts
 * import { exportReport, loadReport } from "./mod.ts";
 * await exportReport("bench.duckdb", loadReport("bench_latest"), "latest.parquet", "parquet");
 * ```
 */
export async function exportReport(
  db: string,
  spec: ReportSpec,
  file: string,
  format: ExportFormat,
): Promise<boolean> {
  const r = await runReport(db, spec);
  if (r.status === "empty") return false;
  const opts = format === "parquet" ? "FORMAT parquet" : "FORMAT csv, HEADER true";
  await query(db, `COPY (\n${body(spec.sql)}\n) TO ${sqlString(file)} (${opts})`);
  return true;
}

/**
 * Exports the raw tables (runs, metrics, events and the tools' own tables, as `table_<name>`)
 * and every named report into a folder as
 * `<name>.<format>`; returns the files written. The folder is created if its parent exists
 * (only the folder itself, like `mkdir` without `-p`).
 */
export async function exportAll(
  db: string,
  outDir: string,
  format: ExportFormat,
  dir = REPORTS_DIR,
): Promise<string[]> {
  makeDirOnce(outDir);
  const written: string[] = [];
  if (checkStore(db) === "missing") return written;
  // Every table of the store (the tools' own ones too, e.g. qbic_sim), not its bookkeeping.
  const names = (await query(
    db,
    "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' " +
      "AND table_name NOT IN ('schema_version', 'spool_merged') ORDER BY table_name",
  )).rows.map((r) => String(r[0]));
  const core = ["runs", "metrics", "events"];
  const ordered = [
    ...core.filter((t) => names.includes(t)),
    ...names.filter((t) => !core.includes(t)),
  ];
  const tables: ReportSpec[] = ordered.map((t) => ({
    name: `table_${t}`,
    summary: `the ${t} table`,
    description: [],
    charts: [],
    sql: `SELECT * FROM "${t}"`,
  }));
  for (const spec of [...tables, ...listReports(dir)]) {
    const file = `${outDir}/${spec.name}.${format}`;
    if (await exportReport(db, spec, file, format)) written.push(file);
  }
  return written;
}
