/**
 * bin/hvkit-report against real stores written through lib/results: formats, Parquet and CSV
 * export read back by DuckDB, "no runs yet" instead of errors, the regression check's exit code,
 * one-line errors for bad input, and every report over whatever real runs this checkout has.
 */
import assert from "node:assert/strict";
import { query } from "../../lib/results/mod.ts";
import { listReports, runReport } from "../../lib/report/mod.ts";
import { seedStore } from "../../lib/report/testdata/seed_store.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

async function report(args: string[]) {
  const out = await new Deno.Command(`${ROOT}bin/hvkit-report`, {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function inTmp(fn: (dir: string) => Promise<void>) {
  const dir = Deno.makeTempDirSync({ prefix: "hvkit-report-cli-" });
  try {
    await fn(dir);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

Deno.test("report cli: no store, empty store: 'no runs yet', exit 0", async () => {
  await inTmp(async (dir) => {
    const r = await report(["bench_latest", "--db", `${dir}/none.duckdb`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^bench_latest: no runs yet/);
    const all = await report(["--all", "--format", "markdown", "--db", `${dir}/none.duckdb`]);
    assert.equal(all.code, 0, all.stderr);
    assert.equal((all.stdout.match(/_no runs yet/g) ?? []).length, listReports().length);
    const reg = await report(["--check-regressions", "20", "--db", `${dir}/none.duckdb`]);
    assert.equal(reg.code, 0, reg.stderr);
    assert.match(reg.stdout, /nothing to compare/);
  });
});

Deno.test("report cli: markdown, json, csv, parquet and --export read back", async () => {
  await inTmp(async (dir) => {
    const db = `${dir}/r.duckdb`;
    await seedStore(db);
    const md = await report(["bench_latest", "--format", "markdown", "--db", db]);
    assert.equal(md.code, 0, md.stderr);
    assert.match(md.stdout, /^\| bench +\| metric/);
    const json = JSON.parse(
      (await report(["engine_vs_cache", "--format", "json", "--db", db])).stdout,
    );
    assert.ok(json.some((r: { source: string }) => r.source === "qemu-nbd"));

    const pq = `${dir}/latest.parquet`;
    const p = await report(["bench_latest", "--format", "parquet", "-o", pq, "--db", db]);
    assert.equal(p.code, 0, p.stderr);
    const rows = await query(
      ":memory:",
      `SELECT count(*)::INTEGER, count(DISTINCT peer)::INTEGER FROM '${pq}'`,
    );
    const direct = await runReport(db, listReports().find((s) => s.name === "bench_latest")!);
    assert.deepEqual(rows.rows[0], [direct.rows.length, 4]);

    const ex = await report(["--export", `${dir}/csv`, "--format", "csv", "--db", db]);
    assert.equal(ex.code, 0, ex.stderr);
    const files = [...Deno.readDirSync(`${dir}/csv`)].map((e) => e.name).sort();
    for (const f of ["table_runs.csv", "table_metrics.csv", "bench_latest.csv", "latency.csv"]) {
      assert.ok(files.includes(f), `${f} in ${files}`);
    }
    const n = await query(
      ":memory:",
      `SELECT count(*)::INTEGER FROM read_csv('${dir}/csv/table_metrics.csv')`,
    );
    const m = await query(db, "SELECT count(*)::INTEGER FROM metrics");
    assert.deepEqual(n.rows, m.rows);
  });
});

Deno.test("report cli: --check-regressions fails on ratios to the peer, --absolute on any figure", async () => {
  await inTmp(async (dir) => {
    const db = `${dir}/r.duckdb`;
    await seedStore(db, { regress: true });
    const bad = await report(["--check-regressions", "20", "--db", db]);
    assert.equal(bad.code, 1);
    const failing = bad.stdout.split("\n").filter((l) => l.startsWith("REGRESSION"));
    assert.equal(failing.length, 2, bad.stdout);
    assert.ok(failing.every((l) => /^REGRESSION daio-vs-fio iops ratio=hvkit\/fio /.test(l)));
    assert.match(bad.stdout, /^reported \(gate=report, not failing\) daio-vs-fio lat_p99 /m);
    assert.match(bad.stdout, /^absolute figures worse by more than 20% \(reported, not failing/m);
    assert.match(bad.stderr, /^hvkit-report: 2 benchmark figures regressed by more than 20%\n$/);
    const abs = await report(["--check-regressions", "20", "--absolute", "--db", db]);
    assert.equal(abs.code, 1);
    assert.match(abs.stdout, /^REGRESSION daio-vs-fio lat_p99 peer=hvkit/m);
    const n = Number(/^hvkit-report: (\d+) benchmark/.exec(abs.stderr)?.[1]);
    assert.ok(n > 2, abs.stderr);
    const ok = await report(["--check-regressions", "50%", "--absolute", "--db", db]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /none beyond 50%/);
  });
});

Deno.test("report cli: bad input is one line and exit 2 or 1", async () => {
  await inTmp(async (dir) => {
    const cases: [string[], number, RegExp][] = [
      [["no-such-report"], 1, /^hvkit-report: no report named no-such-report \(reports: /],
      [["runs", "--format", "pdf"], 2, /^hvkit-report: .*pdf/],
      [["runs", "--format", "parquet"], 2, /^hvkit-report: --format parquet needs -o FILE$/],
      [["--check-regressions", "lots"], 2, /^hvkit-report: --check-regressions: not a percentage/],
      [["--all", "runs"], 2, /^hvkit-report: give a report name or --all/],
    ];
    for (const [args, code, re] of cases) {
      const r = await report([...args, "--db", `${dir}/x.duckdb`]);
      assert.equal(r.code, code, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr.trimEnd(), re);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    }
  });
});

Deno.test("report cli: -o naming the store is refused and the store kept", async () => {
  await inTmp(async (dir) => {
    const db = `${dir}/r.duckdb`;
    await seedStore(db);
    const before = Deno.readFileSync(db);
    for (const args of [["runs", "-o", db], ["runs", "--format", "parquet", "-o", db]]) {
      const r = await report([...args, "--db", db]);
      assert.equal(r.code, 1, `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, /^hvkit-report: .*r\.duckdb: is also the results store; write to/);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    }
    assert.deepEqual(Deno.readFileSync(db), before);
    const ok = await report(["runs", "--db", db]);
    assert.equal(ok.code, 0, ok.stderr);
  });
});

const realStores = [`${ROOT}results.duckdb`, `${ROOT}out/bench.duckdb`].filter((f) => {
  try {
    return Deno.statSync(f).isFile;
  } catch {
    return false;
  }
});
if (realStores.length === 0) console.log("report_cli_test: no real store in this checkout yet");

Deno.test({
  name: "report cli: every report runs over the real runs in this checkout",
  ignore: realStores.length === 0,
  fn: async () => {
    for (const db of realStores) {
      for (const spec of listReports()) {
        const r = await runReport(db, spec); // throws on a broken report, never on missing runs
        assert.ok(r.status === "ok" || /^no runs yet/.test(r.reason ?? ""), `${db} ${spec.name}`);
      }
    }
  },
});
