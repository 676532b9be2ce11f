/**
 * `bench/run`: discovers every `bench/<name>/main.ts`, runs each (`--quick` for CI size, else
 * full size) into one results store, shows progress on a terminal, records how each ended,
 * then renders every report as `report.md` and `report.html`. A failing benchmark is reported
 * and skipped (an unknown `--only` name is a usage error, before anything runs); `--strict`
 * makes it fatal, `--check-regressions PCT` fails on a ratio to the peer that got worse than in
 * the previous run on this host by more than PCT percent (`--absolute`: on any figure).
 *
 * @module
 */
import {
  makeTool,
  namedParser,
  parseDuration,
  parseOption,
  parsePercent,
  Progress,
  runTool,
  ToolError,
  UsageError,
} from "../../lib/cli/mod.ts";
import { query, resolveDbPath, startRun } from "../../lib/results/mod.ts";
import {
  checkDirCreatable,
  checkRegressions,
  checkStore,
  checkStoreWritable,
  describeRegressions,
  failingCount,
  htmlPage,
  listReports,
  makeDirOnce,
  markdownDoc,
  type ReportResult,
  runReportSafe,
  storeExists,
} from "../../lib/report/mod.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** How one benchmark ended. */
export interface BenchOutcome {
  bench: string;
  status: "ok" | "failed" | "no-run" | "timeout";
  seconds: number;
  reason: string;
  log: string;
}

/**
 * Steps bench/run runs after the benchmarks of bench/, like them (own process, log, status):
 * `pipeline` drives the tools themselves (serve, classify, sim, mrc, eval) into the store so
 * that the cross-tool reports have rows.
 */
export const BUILTIN_STEPS: Record<string, string> = {
  pipeline: `${ROOT}tools/report/pipeline.ts`,
};

/** The benchmarks in `benchDir`: every folder holding a main.ts, sorted by name. */
export function discoverBenchmarks(benchDir = `${ROOT}bench`): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(benchDir)) {
    if (!e.isDirectory || e.name === "reports") continue;
    try {
      if (Deno.statSync(`${benchDir}/${e.name}/main.ts`).isFile) out.push(e.name);
    } catch { /* a folder without main.ts is not a benchmark */ }
  }
  return out.sort();
}

function sqlString(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

/** How many runs `bench <name>` recorded since `sinceUs` (and how the last one ended). */
async function recordedRuns(db: string, name: string, sinceUs: number) {
  if (!storeExists(db)) return { count: 0, status: "" };
  const r = await query(
    db,
    `SELECT count(*)::INTEGER, coalesce(arg_max(status, started), '') FROM runs
     WHERE tool = 'bench' AND command = ${sqlString(name)} AND epoch_us(started) >= ${
      Math.floor(sinceUs)
    }`,
  );
  return { count: Number(r.rows[0][0]), status: String(r.rows[0][1]) };
}

/** An error's first line, without the store writer's "results store PATH: " prefix. */
function firstLine(e: unknown): string {
  return ((e as Error).message ?? String(e)).split("\n")[0].replace(/^results store \S+: /, "");
}

function nowUs(): number {
  return (performance.timeOrigin + performance.now()) * 1000;
}

/** Options of one benchmark run. */
interface RunOneOptions {
  quick: boolean;
  db: string;
  logDir: string;
  timeoutMs: number;
  quiet: boolean;
  script: string;
}

/** Starts a benchmark's script in its own process group (a timeout or ^C stops its peers too). */
function spawnBenchmark(opts: RunOneOptions): Deno.ChildProcess {
  const args = ["run", "-A", "--quiet", "--config", `${ROOT}deno.json`, opts.script];
  if (opts.quick) args.push("--quick");
  args.push("--db", opts.db);
  return new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    env: { HVKIT_DB: opts.db },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    detached: true,
  }).spawn();
}

/**
 * Copies a child's output into the log line by line, keeping the last five lines; `echo`
 * prints each non-empty line prefixed with the benchmark's name.
 */
async function pumpLines(
  stream: ReadableStream<Uint8Array>,
  file: Deno.FsFile,
  tail: string[],
  echo: ((line: string) => void) | null,
): Promise<void> {
  const enc = new TextEncoder();
  let buf = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buf += chunk;
    const lines = buf.split("\n");
    buf = lines.pop()!;
    for (const line of lines) {
      await file.write(enc.encode(line + "\n"));
      tail.push(line);
      if (tail.length > 5) tail.shift();
      if (echo && line.trim() !== "") echo(line);
    }
  }
  if (buf) {
    await file.write(enc.encode(buf + "\n"));
    tail.push(buf);
  }
}

/** Runs one benchmark as a child process, its output into `log` and its stdout echoed. */
async function runOne(
  name: string,
  opts: RunOneOptions,
  progress: Progress,
  label: string,
): Promise<BenchOutcome> {
  const log = `${opts.logDir}/${name}.log`;
  const started = performance.now();
  const sinceUs = nowUs() - 1_000_000;
  const child = spawnBenchmark(opts);
  const file = await Deno.open(log, { write: true, create: true, truncate: true });
  const tail: string[] = [];
  const echo = opts.quiet ? null : (line: string) => {
    progress.done();
    console.log(`  ${name} | ${line}`);
  };
  const killGroup = (sig: Deno.Signal) => {
    try {
      Deno.kill(-child.pid, sig);
    } catch { /* already gone */ }
  };
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup("SIGTERM");
    setTimeout(() => killGroup("SIGKILL"), 5000);
  }, opts.timeoutMs);
  const ticker = setInterval(() => {
    progress.update(`${label} ${name}: ${((performance.now() - started) / 1000).toFixed(0)}s`);
  }, 500);
  const onSignal = () => killGroup("SIGTERM");
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    const [status] = await Promise.all([
      child.status,
      pumpLines(child.stdout, file, tail, echo),
      pumpLines(child.stderr, file, tail, null),
    ]);
    const seconds = (performance.now() - started) / 1000;
    const outcome = (status: BenchOutcome["status"], reason: string): BenchOutcome => ({
      bench: name,
      status,
      seconds,
      reason,
      log,
    });
    if (timedOut) return outcome("timeout", `killed after ${opts.timeoutMs / 1000}s`);
    if (!status.success) {
      const last = tail.filter((l) => l.trim() !== "").pop() ?? "";
      return outcome("failed", `exit ${status.code}: ${last}`.slice(0, 300));
    }
    const rec = await recordedRuns(opts.db, name, sinceUs);
    if (rec.count === 0) return outcome("no-run", "exited 0 but recorded no run");
    return outcome("ok", "");
  } finally {
    clearTimeout(timer);
    clearInterval(ticker);
    progress.done();
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
    file.close();
    // the benchmark has exited; stop anything it left behind in its group
    killGroup("SIGKILL");
  }
}

/** Renders every report into `<outDir>/report.md` and `<outDir>/report.html`. */
export async function renderReports(
  db: string,
  outDir: string,
  notes: string[] = [],
): Promise<{ md: string; html: string; results: ReportResult[] }> {
  const results: ReportResult[] = [];
  for (const spec of listReports()) {
    const r = await runReportSafe(db, spec);
    if (r.status === "error") console.error(`bench/run: ${r.reason}`);
    results.push(r);
  }
  const title = "hvkit benchmarks";
  const md = `${outDir}/report.md`;
  const html = `${outDir}/report.html`;
  Deno.writeTextFileSync(md, markdownDoc(title, db, results, "markdown", notes));
  Deno.writeTextFileSync(
    html,
    htmlPage({ title, store: db, generated: new Date(), notes }, results),
  );
  return { md, html, results };
}

/** The benchmarks `--only` names (all found without it); an unknown name is a usage error. */
function selectBenchmarks(only: string | undefined, found: string[]): string[] {
  if (only === undefined) return found;
  const wanted = only.split(",").map((s) => s.trim()).filter(Boolean);
  if (wanted.length === 0) throw new UsageError(`--only ${only}: names no benchmark`);
  const unknown = wanted.filter((n) => !found.includes(n));
  if (unknown.length > 0) {
    throw new UsageError(
      `--only: no benchmark named ${unknown.join(", ")} (benchmarks: ${found.join(", ")})`,
    );
  }
  return wanted;
}

/**
 * Runs the benchmarks one after another under a harness run (tool "hvkit-bench") that records
 * each one's time and status; SIGINT stops after the current one.
 */
async function runBenchmarks(
  wanted: string[],
  scriptOf: (name: string) => string,
  opts: {
    quick: boolean;
    only?: string;
    quiet: boolean;
    out: string;
    db: string;
    timeoutMs: number;
  },
): Promise<BenchOutcome[]> {
  const { db, quiet } = opts;
  const progress = new Progress({ quiet });
  const size = opts.quick ? "quick" : "full";
  const harness = await startRun({ db }, {
    tool: "hvkit-bench",
    command: "run",
    args: { quick: opts.quick, only: opts.only ?? null },
  }, "throw").catch((e) => {
    throw new ToolError(`${db}: cannot write the results store: ${firstLine(e)}`);
  });
  const logDir = `${opts.out}/bench-logs`;
  makeDirOnce(opts.out);
  makeDirOnce(logDir);
  const outcomes: BenchOutcome[] = [];
  let interrupted = false;
  const onSignal = () => interrupted = true;
  Deno.addSignalListener("SIGINT", onSignal);
  try {
    for (const [i, name] of wanted.entries()) {
      if (interrupted) break;
      const label = `[${i + 1}/${wanted.length}]`;
      if (!quiet) console.error(`${label} ${name} (${size})`);
      const o = await runOne(
        name,
        { quick: opts.quick, db, logDir, timeoutMs: opts.timeoutMs, quiet, script: scriptOf(name) },
        progress,
        label,
      );
      outcomes.push(o);
      harness.metric("bench_seconds", o.seconds, "s", {
        bench: name,
        status: o.status,
        size,
        reason: o.reason,
      });
      if (!quiet || o.status !== "ok") {
        console.error(
          `${label} ${name}: ${o.status} in ${o.seconds.toFixed(1)}s` +
            (o.reason ? ` (${o.reason})` : "") +
            (o.log && o.status !== "ok" ? `; log ${o.log}` : ""),
        );
      }
    }
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    await harness.finish(interrupted ? "interrupted" : "ok");
  }
  if (interrupted) throw new ToolError("interrupted");
  return outcomes;
}

/** Writes report.md and report.html and prints the suite's tables (its result) on stdout. */
async function printReports(db: string, out: string, notes: string[], quiet: boolean) {
  const { md, html, results } = await renderReports(db, out, notes);
  // The suite's tables are its result on stdout: -q silences only stderr.
  const summary = results.filter((r) => ["bench_suite", "bench_ratios"].includes(r.spec.name));
  console.log("\n" + markdownDoc("", db, summary, "text"));
  const withRows = results.filter((r) => r.status === "ok").length;
  if (!quiet) {
    console.error(`reports: ${withRows} of ${results.length} with rows; wrote ${md} and ${html}`);
  }
}

/**
 * What makes the run exit 1, or "": ratios regressed past `pct` (printed on stdout), and with
 * `--strict` benchmarks that did not succeed.
 */
async function failures(
  db: string,
  outcomes: BenchOutcome[],
  pct: number | undefined,
  opts: { absolute: boolean; strict: boolean },
): Promise<string> {
  const found: string[] = [];
  if (pct !== undefined) {
    const check = await checkRegressions(db, pct, { absolute: opts.absolute });
    await Deno.stdout.write(new TextEncoder().encode(describeRegressions(check, pct)));
    const n = failingCount(check);
    if (n > 0) found.push(`${n} figures regressed by more than ${pct}%`);
  }
  const bad = outcomes.filter((o) => o.status !== "ok");
  if (opts.strict && bad.length > 0) {
    found.push(`${bad.length} benchmarks did not succeed: ${bad.map((o) => o.bench).join(", ")}`);
  }
  return found.join("; ");
}

/** Builds the `bench/run` command line. */
export function buildProgram() {
  const program = makeTool(
    "bench/run",
    "run every benchmark against its peers into one results store, then render the reports",
    [
      "bench/run --quick                          # CI size, into $HVKIT_DB or ./results.duckdb",
      "bench/run --quick --db out/bench.duckdb --only nbd,sim",
      "bench/run --quick --check-regressions 20   # exit 1 on a ratio to the peer >20% worse",
      "bench/run --list",
      "bench/run --report-only --db out/bench.duckdb",
    ],
  );
  program
    .option("--quick", "CI size (seconds each); without it, full size", false)
    .option("--only <names>", "comma-separated benchmarks to run (default: all)")
    .option("--db <file>", "results store (default: $HVKIT_DB or ./results.duckdb)")
    .option("--out <dir>", "where report.md, report.html and the logs go", "out")
    .option("--timeout <duration>", "per benchmark (default 10m with --quick, 60m full)")
    .option("--strict", "exit 1 when a benchmark fails, times out or records no run", false)
    .option(
      "--check-regressions <pct>",
      "exit 1 when a ratio to the peer got > PCT% worse than in the previous run on this host",
      namedParser("--check-regressions", parsePercent),
    )
    .option("--absolute", "with --check-regressions: fail on absolute figures too", false)
    .option("--report-only", "run nothing; render the reports of the store", false)
    .option("--list", "list the benchmarks found and exit", false)
    .option("--bench-dir <dir>", "where the benchmark folders are", `${ROOT}bench`)
    .option("-q, --quiet", "no progress, echo or summary on stderr (the tables still print)", false)
    .action(async (opts) => {
      const benchDir = opts.benchDir.replace(/\/$/, "");
      const found = discoverBenchmarks(benchDir);
      // the built-in steps go with bench/ itself, after its benchmarks
      const builtins = benchDir === `${ROOT}bench`
        ? Object.keys(BUILTIN_STEPS).filter((s) => !found.includes(s))
        : [];
      found.push(...builtins);
      if (opts.list) {
        for (const b of found) console.log(b);
        if (found.length === 0) console.error("bench/run: no benchmarks yet (bench/*/main.ts)");
        return;
      }
      const db = resolveDbPath({ db: opts.db });
      if (db === null) {
        throw new UsageError("bench/run needs a results store (not --no-db / HVKIT_DB=none)");
      }
      const timeoutMs = opts.timeout
        ? parseOption("--timeout", opts.timeout, parseDuration)
        : (opts.quick ? 600_000 : 3_600_000);
      if (!(timeoutMs > 0)) throw new UsageError(`--timeout ${opts.timeout}: must be more than 0`);
      const wanted = selectBenchmarks(opts.only, found);
      // Everything is checked before anything is created: the store, then the output folder.
      if (opts.reportOnly) checkStore(db);
      else checkStoreWritable(db);
      checkDirCreatable(opts.out);
      const outcomes: BenchOutcome[] = [];
      if (!opts.reportOnly) {
        if (found.length === 0) console.error("bench/run: no benchmarks yet (bench/*/main.ts)");
        const scriptOf = (name: string) =>
          builtins.includes(name) ? BUILTIN_STEPS[name] : `${benchDir}/${name}/main.ts`;
        outcomes.push(...await runBenchmarks(wanted, scriptOf, { ...opts, db, timeoutMs }));
      }
      const notes = outcomes.length === 0 ? [] : [
        `Benchmarks: ${outcomes.map((o) => `${o.bench} ${o.status}`).join(", ")} (${
          opts.quick ? "quick" : "full"
        } size).`,
      ];
      makeDirOnce(opts.out);
      await printReports(db, opts.out, notes, opts.quiet);
      const failure = await failures(db, outcomes, opts.checkRegressions, opts);
      if (failure) throw new ToolError(failure);
    });
  return program;
}

if (import.meta.main) await runTool(buildProgram());
