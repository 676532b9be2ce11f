/**
 * `hvkit-report`: runs a named SQL report from bench/reports/ (or any .sql file) against the
 * results store and prints a table as text, CSV, JSON or Markdown.
 *
 * @module
 */
import { Option } from "@commander-js/extra-typings";
import { formatTable, makeTool, runTool, type TableFormat, ToolError } from "../../lib/cli/mod.ts";
import { query, resolveDbPath } from "../../lib/results/mod.ts";

const REPORTS = new URL("../../bench/reports/", import.meta.url).pathname;

/** The named reports: bench/reports/*.sql, by file name without `.sql`. */
export function listReports(): { name: string; summary: string }[] {
  const out: { name: string; summary: string }[] = [];
  for (const e of Deno.readDirSync(REPORTS)) {
    if (!e.isFile || !e.name.endsWith(".sql")) continue;
    const first = Deno.readTextFileSync(REPORTS + e.name).split("\n")[0];
    out.push({ name: e.name.slice(0, -4), summary: first.replace(/^--\s*/, "") });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** Finds a report's SQL by name (bench/reports/NAME.sql) or path. */
export function reportSql(nameOrPath: string): string {
  const candidates = nameOrPath.endsWith(".sql") ? [nameOrPath] : [`${REPORTS}${nameOrPath}.sql`];
  for (const c of candidates) {
    try {
      return Deno.readTextFileSync(c);
    } catch { /* next */ }
  }
  const names = listReports().map((r) => r.name).join(", ");
  throw new ToolError(`no report named ${nameOrPath} (reports: ${names})`);
}

/** Builds the `hvkit-report` command line. */
export function buildProgram() {
  const program = makeTool(
    "hvkit-report",
    "run SQL reports over the results store of every hvkit tool",
    [
      "hvkit-report                  # list the reports",
      "hvkit-report runs",
      "hvkit-report metrics --format markdown --db bench.duckdb",
      "hvkit-report my-query.sql --format csv > out.csv",
    ],
  );
  program
    .argument("[report]", "a report name from bench/reports/ or a .sql file")
    .option("--db <file>", "results store (default: $HVKIT_DB or ./results.duckdb)")
    .addOption(
      new Option("--format <format>", "table format")
        .choices(["text", "csv", "json", "markdown"] as const)
        .default("text" as const),
    )
    .action(async (report, opts) => {
      if (!report) {
        for (const r of listReports()) console.log(`${r.name.padEnd(24)} ${r.summary}`);
        return;
      }
      const sql = reportSql(report);
      const db = resolveDbPath({ db: opts.db }) ?? "results.duckdb";
      const result = await query(db, sql);
      if (result.rows.length === 0 && opts.format === "text") {
        console.log(`${report}: no runs yet`);
        return;
      }
      const text = formatTable(result.columns, result.rows, opts.format as TableFormat);
      await Deno.stdout.write(new TextEncoder().encode(text));
    });
  return program;
}

if (import.meta.main) await runTool(buildProgram());
