/**
 * bench/run end to end with stand-in benchmarks (lib/report/testdata/benches): one that records
 * a run, one that fails, one that records nothing. The failures are reported and skipped
 * (exit 0), fatal with --strict; the reports are rendered either way. Bad options, stores and
 * output folders are one line, before anything runs or is created.
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
      "good,broken,silent",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /good \| good: hvkit 1000\/s, peer 800\/s, ratio 1.25 \(quick\)/);
    assert.match(r.stderr, /broken: failed .*exit 3: broken: the peer is not installed/);
    assert.match(r.stderr, /silent: no-run/);

    const suite = await query(
      db,
      `SELECT labels->>'bench', labels->>'status' FROM metrics m JOIN runs r ON r.id = m.run
       WHERE r.tool = 'hvkit-bench' AND m.name = 'bench_seconds' ORDER BY 1`,
    );
    assert.deepEqual(suite.rows, [
      ["broken", "failed"],
      ["good", "ok"],
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

Deno.test("bench/run: bad options, stores and output folders are one line; nothing created", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "hvkit-bench-run-" });
  try {
    Deno.mkdirSync(`${dir}/adir`);
    Deno.writeTextFileSync(`${dir}/empty`, "");
    Deno.writeFileSync(`${dir}/garbage`, new Uint8Array(4096).fill(7));
    const db = `${dir}/new.duckdb`;
    const out = `${dir}/out`;
    const cases: [string[], number, RegExp][] = [
      [["--check-regressions", "x"], 2, /--check-regressions: not a percentage: x$/],
      [["--check-regressions", "-5"], 2, /--check-regressions: not a percentage: -5$/],
      [["--timeout", "soon"], 2, /--timeout: not a duration: soon$/],
      [["--timeout", "0"], 2, /--timeout 0: must be more than 0$/],
      [["--only", "good,nope"], 2, /--only: no benchmark named nope \(benchmarks: broken, good/],
      [["--only", ","], 2, /--only ,: names no benchmark$/],
      [["--db", `${dir}/adir`], 1, /adir: is a directory, not a results store$/],
      [["--db", `${dir}/empty`], 1, /empty: an empty file, not a DuckDB results store$/],
      [["--db", `${dir}/garbage`], 1, /garbage: not a DuckDB results store/],
      [
        ["--db", `${dir}/no-dir/x.duckdb`],
        1,
        /x\.duckdb: cannot create the results store: no such/,
      ],
      [["--db", "/sys/x.duckdb"], 1, /\/sys\/x\.duckdb: cannot write the results store: /],
      [["--report-only", "--db", `${dir}/adir`], 1, /adir: is a directory, not a results store$/],
      [["--out", `${dir}/no-dir/out`], 1, /no-dir\/out: no such directory .*no-dir \(only /],
      [["--out", `${dir}/empty`], 1, /empty: exists and is not a directory$/],
    ];
    for (const [args, code, re] of cases) {
      const r = await benchRun([
        "--quick",
        "-q",
        "--only",
        "good",
        "--db",
        db,
        "--out",
        out,
        ...args,
      ]);
      const what = `${args.join(" ")}: exit ${r.code}: ${r.stderr}`;
      assert.equal(r.code, code, what);
      assert.equal(r.stderr.trimEnd().split("\n").length, 1, what);
      assert.match(r.stderr.trimEnd(), /^bench\/run: /, what);
      assert.match(r.stderr.trimEnd(), re, what);
      const made = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
      assert.deepEqual(made, ["adir", "empty", "garbage"], what);
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("bench/run --list: the benchmarks of bench/, then the built-in pipeline step", async () => {
  const r = await benchRun(["--list", "--bench-dir", `${ROOT}bench`]);
  assert.equal(r.code, 0, r.stderr);
  const names = r.stdout.trim().split("\n");
  assert.equal(names[names.length - 1], "pipeline");
  for (const n of names.slice(0, -1)) assert.ok(Deno.statSync(`${ROOT}bench/${n}/main.ts`).isFile);
});
