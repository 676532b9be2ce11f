/**
 * `hvkit-report`: runs the named SQL reports from bench/reports/ (or any .sql file) against the
 * results store and renders them: text tables on a terminal, CSV, JSON, Markdown, one
 * self-contained HTML page with SVG charts, Parquet; exports the store; checks regressions.
 *
 * @module
 */
import { Option } from "@commander-js/extra-typings";
import {
  formatTable,
  makeTool,
  namedParser,
  noteInput,
  openOutput,
  parsePercent,
  runTool,
  sameFile,
  type TableFormat,
  ToolError,
  UsageError,
} from "../../lib/cli/mod.ts";
import { resolveDbPath } from "../../lib/results/mod.ts";
import {
  checkOutputFile,
  checkRegressions,
  checkStore,
  describeRegressions,
  exportAll,
  exportReport,
  failingCount,
  htmlPage,
  listReports,
  loadReport,
  markdownDoc,
  openParquetStores,
  ParquetStoresError,
  type ReportResult,
  runReport,
  runReportSafe,
} from "../../lib/report/mod.ts";

const FORMATS = ["text", "csv", "json", "markdown", "html", "parquet"] as const;
type Format = typeof FORMATS[number];

/**
 * Opens `-o` (or standard output) before any report runs, so a missing folder fails at once;
 * returns the function that writes the document and closes it.
 */
async function openDoc(
  out: string | undefined,
  db: string,
): Promise<(text: string) => Promise<void>> {
  if (out && sameFile(out, db)) {
    throw new ToolError(`${out}: is also the results store; write to another file`);
  }
  const w = (await openOutput(out)).getWriter();
  return async (text) => {
    await w.write(new TextEncoder().encode(text));
    await w.close();
  };
}

/**
 * Checks the store path (a directory or a file that is not DuckDB's is an error, a missing one
 * is "no runs yet") and notes an existing store as an input, so `-o` cannot overwrite it.
 */
function checkDb(db: string): void {
  if (checkStore(db) !== "store" || db === ":memory:") return;
  noteInput(db, Deno.openSync(db, { read: true }));
}

/** Renders a set of report results in one of the document formats. */
export function renderAll(
  results: ReportResult[],
  format: Format,
  store: string,
  title: string,
): string {
  switch (format) {
    case "html":
      return htmlPage({ title, store, generated: new Date() }, results);
    case "markdown":
    case "text":
      return markdownDoc(title, store, results, format);
    case "json":
      return JSON.stringify(
        Object.fromEntries(results.map((r) => [
          r.spec.name,
          r.status !== "ok" ? { status: r.status, reason: r.reason } : {
            status: "ok",
            rows: r.rows.map((row) => Object.fromEntries(r.columns.map((c, i) => [c, row[i]]))),
          },
        ])),
        null,
        2,
      ) + "\n";
    default:
      throw new UsageError(
        `--all takes --format text, markdown, json or html (use --export for ${format})`,
      );
  }
}

/** Renders one report's result. */
export function renderOne(result: ReportResult, format: Format, store: string): string {
  if (format === "html") {
    return htmlPage({ title: result.spec.name, store, generated: new Date() }, [result]);
  }
  if (result.status === "empty" && (format === "text" || format === "markdown")) {
    return `${result.spec.name}: ${result.reason}\n`;
  }
  return formatTable(result.columns, result.rows, format as TableFormat);
}

/** `--export DIR`: the store's tables and every report as CSV or Parquet files. */
async function exportTables(db: string, dir: string, format: Format): Promise<void> {
  if (format !== "csv" && format !== "parquet" && format !== "text") {
    throw new UsageError("--export writes csv or parquet files");
  }
  const files = await exportAll(db, dir, format === "csv" ? "csv" : "parquet");
  for (const f of files) console.error(`wrote ${f}`);
  if (files.length === 0) console.error(`no runs yet in ${db}: nothing exported`);
}

/** `--all`: every named report in one document; a report that fails fails the run (after it). */
async function writeAll(
  db: string,
  format: Format,
  out: string | undefined,
  title: string,
): Promise<void> {
  if (!["text", "markdown", "json", "html"].includes(format)) {
    throw new UsageError(
      `--all takes --format text, markdown, json or html (use --export for ${format})`,
    );
  }
  const write = await openDoc(out, db);
  const results = [];
  for (const spec of listReports()) results.push(await runReportSafe(db, spec));
  await write(renderAll(results, format, db, title));
  const broken = results.filter((r) => r.status === "error");
  if (broken.length > 0) {
    throw new ToolError(
      `${broken.length} reports failed: ${broken.map((r) => r.reason).join("; ")}`,
    );
  }
}

/** One report, as a document or (`--format parquet`) a Parquet file. */
async function writeOne(
  db: string,
  report: string,
  format: Format,
  out: string | undefined,
): Promise<void> {
  const spec = loadReport(report);
  if (format !== "parquet") {
    const write = await openDoc(out, db);
    await write(renderOne(await runReport(db, spec), format, db));
    return;
  }
  if (!out || out === "-") throw new UsageError("--format parquet needs -o FILE");
  checkOutputFile(out);
  if (sameFile(out, db)) {
    throw new ToolError(`${out}: is also the results store; write to another file`);
  }
  if (!await exportReport(db, spec, out, "parquet")) {
    console.error(`${report}: no runs yet; nothing written`);
  }
}

/** The export, document or report the command line asks for, over `db`. */
async function runOutputs(
  db: string,
  report: string | undefined,
  format: Format,
  opts: { export?: string; all: boolean; out?: string; title: string },
): Promise<void> {
  if (opts.export) await exportTables(db, opts.export, format);
  else if (opts.all) await writeAll(db, format, opts.out, opts.title);
  else if (report) await writeOne(db, report, format, opts.out);
}

/** Runs `body` over a scratch store made of the Parquet exports under `paths` (`--from`). */
async function fromExports(paths: string[], body: (db: string) => Promise<void>): Promise<void> {
  let stores;
  try {
    stores = await openParquetStores(paths);
  } catch (e) {
    if (e instanceof ParquetStoresError) throw new ToolError(`--from ${e.message}`);
    throw e;
  }
  try {
    const files = [...stores.tables.values()].reduce((a, l) => a + l.length, 0);
    console.error(`hvkit-report: ${stores.tables.size} tables from ${files} Parquet files`);
    await body(stores.path);
  } finally {
    stores.close();
  }
}

/** Builds the `hvkit-report` command line. */
export function buildProgram() {
  const program = makeTool(
    "hvkit-report",
    "run SQL reports over the results store of every hvkit tool",
    [
      "hvkit-report                                   # list the reports",
      "hvkit-report runs",
      "hvkit-report bench_latest --format markdown --db out/bench.duckdb",
      "hvkit-report --all --format html -o report.html --db out/bench.duckdb",
      "hvkit-report bench_latest --format parquet -o latest.parquet",
      "hvkit-report --export out/csv --format csv",
      "hvkit-report --check-regressions 20 --db out/bench.duckdb",
      "hvkit-report --check-regressions 20 --absolute --db out/bench.duckdb",
      "hvkit-report my-query.sql --format csv > out.csv",
      "hvkit-report cache_curves --from sweep/shard-*     # many stores' Parquet exports at once",
    ],
  );
  program
    .argument("[report]", "a report name from bench/reports/ or a .sql file")
    .option("--db <file>", "results store (default: $HVKIT_DB or ./results.duckdb)")
    .addOption(
      new Option("--format <format>", "text, csv, json, markdown, html (page with charts), parquet")
        .choices(FORMATS).default("text" as const),
    )
    .option("-o, --out <file>", "write to FILE instead of standard output (needed for parquet)")
    .option("--all", "every named report in one document (text, markdown, json or html)", false)
    .option("--title <text>", "the document's title with --all", "hvkit results")
    .option("--export <dir>", "write the store's tables and every report to DIR")
    .option(
      "--from <paths...>",
      "read many stores' Parquet exports at once (folders searched for table_*.parquet, or files)",
    )
    .option(
      "--check-regressions <pct>",
      "exit 1 when a benchmark's ratio to its peer got worse than in its previous run on this " +
        "host by > PCT%",
      namedParser("--check-regressions", parsePercent),
    )
    .option("--absolute", "with --check-regressions: fail on absolute figures too", false)
    .action(async (report, opts) => {
      const format: Format = opts.format;
      const db = resolveDbPath({ db: opts.db }) ?? "results.duckdb";
      const pct = opts.checkRegressions ?? null;
      const nothingElse = !report && !opts.all && !opts.export;
      if (nothingElse && pct === null) {
        for (const r of listReports()) console.log(`${r.name.padEnd(24)} ${r.summary}`);
        return;
      }
      if (report && opts.all) throw new UsageError("give a report name or --all, not both");
      if (opts.from) {
        if (opts.db) throw new UsageError("give --db or --from, not both");
        if (pct !== null) throw new UsageError("--check-regressions reads one store (--db)");
        await fromExports(opts.from, (store) => runOutputs(store, report, format, opts));
        return;
      }
      checkDb(db);
      await runOutputs(db, report, format, opts);
      if (pct !== null) {
        const check = await checkRegressions(db, pct, { absolute: opts.absolute });
        await Deno.stdout.write(new TextEncoder().encode(describeRegressions(check, pct)));
        const n = failingCount(check);
        if (n > 0) throw new ToolError(`${n} benchmark figures regressed by more than ${pct}%`);
      }
    });
  return program;
}

if (import.meta.main) await runTool(buildProgram());
