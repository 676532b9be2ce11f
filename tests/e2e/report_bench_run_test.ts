/**
 * bench/run end to end with stand-in benchmarks (lib/report/testdata/benches): one that records
 * a run, one that fails, one that records nothing, one named but missing. The failures are
 * reported and skipped (exit 0), fatal with --strict; the reports are rendered either way.
 */
import assert from "node:assert/strict";
import { query } from "../../lib/results/mod.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const BENCHES = `${ROOT}lib/report/testdata/benches`;

async function benchRun(args: string[]) {
  const out = await new Deno.Command(`${ROOT}bench/run`, {
    args: ["--bench-dir", BENCHES, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("bench/run: runs what it finds, reports failures and skips them, renders the reports", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "hvkit-bench-run-" });
  try {
    const db = `${dir}/bench.duckdb`;
    const listed = await benchRun(["--list"]);
    assert.deepEqual(listed.stdout.trim().split("\n"), ["broken", "good", "silent"]);

    const r = await benchRun([
      "--quick",
      "--db",
      db,
      "--out",
      dir,
      "--only",
      "good,broken,silent,nope",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /good \| good: hvkit 1000\/s, peer 800\/s, ratio 1.25 \(quick\)/);
    assert.match(r.stderr, /broken: failed .*exit 3: broken: the peer is not installed/);
    assert.match(r.stderr, /silent: no-run/);
    assert.match(r.stderr, /nope: missing/);

    const suite = await query(
      db,
      `SELECT labels->>'bench', labels->>'status' FROM metrics m JOIN runs r ON r.id = m.run
       WHERE r.tool = 'hvkit-bench' AND m.name = 'bench_seconds' ORDER BY 1`,
    );
    assert.deepEqual(suite.rows, [
      ["broken", "failed"],
      ["good", "ok"],
      ["nope", "missing"],
      ["silent", "no-run"],
    ]);
    const good = await query(
      db,
      "SELECT args->>'quick' FROM runs WHERE tool = 'bench' AND command = 'good'",
    );
    assert.deepEqual(good.rows, [["true"]]);
    assert.match(Deno.readTextFileSync(`${dir}/bench-logs/broken.log`), /peer is not installed/);
    const md = Deno.readTextFileSync(`${dir}/report.md`);
    assert.match(md, /## bench_ratios[\s\S]*hvkit\/peer/);
    assert.match(Deno.readTextFileSync(`${dir}/report.html`), /<svg[^>]*class="chart"/);

    const strict = await benchRun(["--quick", "--db", db, "--out", dir, "--strict", "-q"]);
    assert.equal(strict.code, 1);
    assert.match(strict.stderr, /bench\/run: 2 benchmarks did not succeed: broken, silent\n$/);

    // a second quick run of the good one, checked against the first: nothing got worse
    const again = await benchRun([
      "--quick",
      "--db",
      db,
      "--out",
      dir,
      "--only",
      "good",
      "--check-regressions",
      "20",
    ]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /regressions: 0 of 1 ratios to the peer got worse by more than 20%/);
    assert.match(again.stdout, /\(absolute figures: 0 of 2, not checked\)/);
    assert.match(again.stdout, /regressions: none beyond 20%/);
    // a full-size run has no earlier full-size run to compare with: quick runs are not used
    const full = await benchRun([
      "--db",
      db,
      "--out",
      dir,
      "--only",
      "good",
      "--check-regressions",
      "20",
    ]);
    assert.equal(full.code, 0, full.stderr);
    assert.match(full.stdout, /\(full\)/);
    assert.match(full.stdout, /regressions: nothing to compare/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("bench/run: bad options are one line, exit 2", async () => {
  for (const args of [["--check-regressions", "x"], ["--timeout", "soon"]]) {
    const r = await benchRun(["--db", "/nonexistent/x.duckdb", ...args]);
    assert.equal(r.code, 2, `${args}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
});

Deno.test("bench/run --list: the benchmarks of bench/, then the built-in pipeline step", async () => {
  const r = await benchRun(["--list", "--bench-dir", `${ROOT}bench`]);
  assert.equal(r.code, 0, r.stderr);
  const names = r.stdout.trim().split("\n");
  assert.equal(names[names.length - 1], "pipeline");
  for (const n of names.slice(0, -1)) assert.ok(Deno.statSync(`${ROOT}bench/${n}/main.ts`).isFile);
});
