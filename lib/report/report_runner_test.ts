import assert from "node:assert/strict";
import { startRun } from "../results/mod.ts";
import { listReports, loadReport, runReport, runReportSafe } from "./report_runner.ts";
import { parseReportSpec } from "./report_spec.ts";
import { checkRegressions, failingCount } from "./regressions.ts";
import { seedStore } from "./testdata/seed_store.ts";

const dirs: string[] = [];
function tmpDb(): string {
  const dir = Deno.makeTempDirSync({ prefix: "hvkit-report-" });
  dirs.push(dir);
  return `${dir}/results.duckdb`;
}

/** A test whose temp stores are removed however it ends. */
function test(name: string, fn: () => Promise<void> | void): void {
  Deno.test(name, async () => {
    try {
      await fn();
    } finally {
      for (const d of dirs.splice(0)) Deno.removeSync(d, { recursive: true });
    }
  });
}

test("report runner: every named report says 'no runs yet' on a missing store", async () => {
  const db = tmpDb();
  for (const spec of listReports()) {
    const r = await runReport(db, spec);
    assert.equal(r.status, "empty", spec.name);
    assert.match(r.reason!, /^no runs yet \(no results store at /);
  }
});

test("report runner: every named report runs on a store with unrelated runs only", async () => {
  const db = tmpDb();
  const run = await startRun({ db }, { tool: "other", command: "x", args: {} });
  run.metric("n", 1);
  await run.finish("ok");
  for (const spec of listReports()) {
    const r = await runReport(db, spec);
    if (spec.name === "runs" || spec.name === "metrics") assert.equal(r.status, "ok");
    else assert.equal(r.status, "empty", `${spec.name} should have no rows`);
  }
});

test("report runner: a tool table no run created is 'no runs yet', broken SQL throws", async () => {
  const db = tmpDb();
  await (await startRun({ db }, { tool: "t", command: "c", args: {} })).finish("ok");
  const missing = await runReport(db, parseReportSpec("m", "-- m\nSELECT * FROM detections"));
  assert.equal(missing.status, "empty");
  assert.match(missing.reason!, /no table detections/);
  await assert.rejects(runReport(db, parseReportSpec("b", "SELEC 1")), /^Error: report b: /);
  const safe = await runReportSafe(db, parseReportSpec("b", "SELEC 1"));
  assert.equal(safe.status, "error");
  assert.match(safe.reason!, /^report b: .*Parser Error/);
  assert.throws(() => loadReport("no-such-report"), /no report named no-such-report \(reports: /);
});

test("report runner: seeded runs fill the bench reports; regressions follow the direction", async () => {
  const db = tmpDb();
  await seedStore(db, { regress: true });
  const latest = await runReport(db, loadReport("bench_latest"));
  assert.equal(latest.status, "ok");
  const peers = new Set(latest.rows.map((r) => r[latest.columns.indexOf("peer")]));
  assert.deepEqual([...peers].sort(), ["fio", "hvkit", "nbdkit", "qemu-nbd"]);
  // ratio rows are in bench_ratios only (DuckDB's ->> binds looser than AND: keep it bracketed)
  assert.ok(latest.rows.every((r) => r[latest.columns.indexOf("unit")] !== "x"));
  const ratios = await runReport(db, loadReport("bench_ratios"));
  assert.deepEqual(ratios.rows.map((r) => r[ratios.columns.indexOf("ratio")]), [
    "hvkit/fio",
    "hvkit/fio",
    "hvkit/fio",
    "hvkit/fio",
    "hvkit/fio",
    "hvkit/fio",
  ]);
  // the cross-tool reports join the seeded serve / pdc-filter / sim / virtav runs
  const pipeline = await runReport(db, loadReport("cache_pipeline"));
  const what = pipeline.rows.map((r) => r[pipeline.columns.indexOf("what")]);
  assert.deepEqual(what, [
    "live qbic 4MiB",
    "journal share",
    "sim lru 4MiB",
    "sim qbic 4MiB",
    "sim s3fifo 4MiB",
  ]);
  const curves = await runReport(db, loadReport("cache_curves"));
  assert.equal(curves.rows.length, 12);
  const scans = await runReport(db, loadReport("virtav_scans"));
  assert.equal(scans.rows[0][scans.columns.indexOf("seconds_per_gib")], 4);
  // hvkit's iops fell 30% (higher is better), its latencies rose ~43% (lower is better), fio's
  // did not move: the ratios to fio fail the check, the absolute figures fail only if asked
  const check = await checkRegressions(db, 20);
  assert.equal(check.compared, 4); // iops and lat_p99 ratios of two jobs; cpu has no direction
  assert.equal(check.unlabelled, 2);
  const failing = check.regressions.filter((g) => g.fails);
  assert.deepEqual(failing.map((g) => [g.kind, g.figure.split(" ")[0], g.better]), [
    ["ratio", "iops", "higher"],
    ["ratio", "iops", "higher"],
  ]);
  assert.ok(failing.every((g) => g.figure.includes("ratio=hvkit/fio")));
  const gated = check.regressions.filter((g) => g.kind === "ratio" && !g.fails);
  assert.deepEqual(gated.map((g) => g.figure.split(" ")[0]), ["lat_p99", "lat_p99"]);
  const abs = check.regressions.filter((g) => g.kind === "absolute");
  assert.ok(abs.length > 0 && abs.every((g) => !g.fails && g.figure.includes("peer=hvkit")));
  assert.ok(abs.some((g) => g.figure.startsWith("lat_p99") && g.better === "lower"));
  const strict = await checkRegressions(db, 20, { absolute: true });
  assert.ok(strict.regressions.filter((g) => g.kind === "absolute").every((g) => g.fails));
  assert.equal(failingCount(await checkRegressions(db, 50, { absolute: true })), 0);

  const clean = tmpDb();
  await seedStore(clean, { regress: false });
  assert.equal(failingCount(await checkRegressions(clean, 20, { absolute: true })), 0);
});

test("regressions: the baseline is the least favourable of the previous three runs", async () => {
  const db = tmpDb();
  // ratio 1.0, 1.0, then one odd 2.0, then 1.0 again: against the odd run alone it is 50% worse,
  // against the least favourable of the three (1.0) it is not worse at all
  for (const value of [1.0, 1.0, 2.0, 1.0]) {
    const run = await startRun({ db }, { tool: "bench", command: "odd", args: { quick: true } });
    run.metric("iops_ratio", value, "x", { ratio: "hvkit/peer", peer: "peer", better: "higher" });
    await run.finish("ok");
  }
  const check = await checkRegressions(db, 20);
  assert.equal(check.compared, 1);
  assert.equal(failingCount(check), 0);
  const r = await runReport(db, loadReport("regressions"));
  const row = Object.fromEntries(r.columns.map((c, i) => [c, r.rows[0][i]]));
  assert.equal(Number(row.baseline_runs), 3);
  assert.equal(Number(row.before), 1);
  // a real drop is still caught
  const run = await startRun({ db }, { tool: "bench", command: "odd", args: { quick: true } });
  run.metric("iops_ratio", 0.7, "x", { ratio: "hvkit/peer", peer: "peer", better: "higher" });
  await run.finish("ok");
  assert.equal(failingCount(await checkRegressions(db, 20)), 1);
});
