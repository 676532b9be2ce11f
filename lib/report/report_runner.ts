/**
 * Finds the named reports (bench/reports/*.sql) and runs them against a results store,
 * tolerating what is not there yet: a missing store, a tool table no run has created, or an
 * empty result all come back as `status: "empty"` with a reason, never as an error.
 *
 * @module
 */
import { query } from "../results/mod.ts";
import { parseReportSpec, type ReportSpec } from "./report_spec.ts";
import { checkStore, StoreError } from "./store_check.ts";

/** The folder of named reports in this checkout. */
export const REPORTS_DIR = new URL("../../bench/reports/", import.meta.url).pathname;

/** A report's result, or why there is none yet. */
export interface ReportResult {
  spec: ReportSpec;
  status: "ok" | "empty" | "error";
  /** Why there are no rows ("no runs yet", the missing table, the missing store, the error). */
  reason?: string;
  columns: string[];
  rows: unknown[][];
}

/** Every named report in `dir`, by file name without `.sql`, sorted. */
export function listReports(dir = REPORTS_DIR): ReportSpec[] {
  const out: ReportSpec[] = [];
  for (const e of Deno.readDirSync(dir)) {
    if (!e.isFile || !e.name.endsWith(".sql")) continue;
    out.push(parseReportSpec(e.name.slice(0, -4), Deno.readTextFileSync(dir + e.name)));
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * Loads a report by name (from `dir`) or by path to a `.sql` file; an unknown name is an
 * error that lists the names there are.
 */
export function loadReport(nameOrPath: string, dir = REPORTS_DIR): ReportSpec {
  const path = nameOrPath.endsWith(".sql") ? nameOrPath : `${dir}${nameOrPath}.sql`;
  let sql: string;
  try {
    sql = Deno.readTextFileSync(path);
  } catch {
    const names = listReports(dir).map((r) => r.name).join(", ");
    throw new Error(`no report named ${nameOrPath} (reports: ${names})`);
  }
  const name = nameOrPath.endsWith(".sql")
    ? nameOrPath.replace(/^.*\//, "").slice(0, -4)
    : nameOrPath;
  return parseReportSpec(name, sql);
}

/** True when the store file exists. */
export function storeExists(db: string): boolean {
  try {
    return Deno.statSync(db).isFile;
  } catch {
    return false;
  }
}

/**
 * Runs one report. A missing store or a missing table (a tool that has not run yet) is an
 * empty result with the reason; a path that cannot be a store (a directory, a file that is not
 * DuckDB's) throws a StoreError, and any other SQL error (a broken report) is thrown.
 *
 * @example
 * ```ts
 * import { loadReport, runReport } from "./report_runner.ts";
 * const r = await runReport("results.duckdb", loadReport("runs"));
 * r.status; // "ok" or "empty"
 * ```
 */
export async function runReport(db: string, spec: ReportSpec): Promise<ReportResult> {
  const empty = (reason: string): ReportResult => ({
    spec,
    status: "empty",
    reason,
    columns: [],
    rows: [],
  });
  if (checkStore(db) === "missing") return empty(`no runs yet (no results store at ${db})`);
  try {
    const r = await query(db, spec.sql);
    if (r.rows.length === 0) return { ...empty("no runs yet"), columns: r.columns };
    return { spec, status: "ok", columns: r.columns, rows: r.rows };
  } catch (e) {
    const msg = (e as Error).message ?? String(e);
    const missing = /Catalog Error: Table with name (\S+) does not exist/.exec(msg);
    if (missing) return empty(`no runs yet (no table ${missing[1]} in the store)`);
    throw new Error(`report ${spec.name}: ${msg.split("\n")[0]}`);
  }
}

/**
 * Like {@linkcode runReport}, but a broken report becomes `status: "error"` with the message, so
 * one bad report does not stop a document of all of them. A path that cannot be a store is
 * still thrown: no report could run.
 */
export async function runReportSafe(db: string, spec: ReportSpec): Promise<ReportResult> {
  try {
    return await runReport(db, spec);
  } catch (e) {
    if (e instanceof StoreError) throw e;
    return { spec, status: "error", reason: (e as Error).message, columns: [], rows: [] };
  }
}
