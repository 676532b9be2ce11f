// A sweep split over processes (`qbic-cache sim --shard K/N`, each with its own store), each store
// exported to Parquet, and `hvkit-report --from` reading all the exports at once (issue 18): the
// union is the whole sweep, once.
import assert from "node:assert/strict";

const root = new URL("../../", import.meta.url).pathname;

async function run(tool: string, args: string[], cwd: string) {
  const o = await new Deno.Command(`${root}bin/${tool}`, {
    args,
    stdout: "piped",
    stderr: "piped",
    cwd,
  }).output();
  return {
    code: o.code,
    out: new TextDecoder().decode(o.stdout),
    err: new TextDecoder().decode(o.stderr),
  };
}

function trace(n: number, seed: number): string {
  let x = seed;
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const u = x / 4294967296;
    lines.push(JSON.stringify({ ts: i, op: "R", off: Math.floor(300 * u * u) * 4096, len: 4096 }));
  }
  return lines.join("\n") + "\n";
}

Deno.test("sweep e2e: shards in separate stores, exported, reported at once with --from", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/a.jsonl`, trace(2000, 3));
    await Deno.writeTextFile(`${dir}/b.jsonl`, trace(1500, 5));
    const sweep = ["sim", "-q", "--trace", "a.jsonl", "b.jsonl", "--policy", "lru,arc,fifo"];
    sweep.push("--size", "16K,64K,256K");
    await Deno.mkdir(`${dir}/out`); // --export makes one folder level, as mkdir does
    for (const k of [1, 2, 3]) {
      const s = await run(
        "qbic-cache",
        [...sweep, "--shard", `${k}/3`, "--db", `s${k}.duckdb`],
        dir,
      );
      assert.equal(s.code, 0, s.err);
      const store = ["--db", `s${k}.duckdb`];
      const e = await run("hvkit-report", [
        "--export",
        `out/shard-${k}`,
        "--format",
        "parquet",
        ...store,
      ], dir);
      assert.equal(e.code, 0, e.err);
    }
    await Deno.writeTextFile(
      `${dir}/q.sql`,
      "SELECT trace, policy, size_bytes, count(*) AS n, count(DISTINCT run) AS runs " +
        "FROM qbic_sim GROUP BY ALL ORDER BY ALL;\n",
    );
    const r = await run("hvkit-report", ["q.sql", "--format", "csv", "--from", "out"], dir);
    assert.equal(r.code, 0, r.err);
    const rows = r.out.trim().split("\n").slice(1);
    assert.equal(rows.length, 18, r.out); // 2 traces x 3 policies x 3 sizes, each once
    for (const row of rows) assert.match(row, /,1,1$/, row);
    const runs = await run("hvkit-report", [
      "runs",
      "--format",
      "csv",
      "--from",
      "out/shard-1",
      "out/shard-2/table_runs.parquet",
      "out/shard-3",
    ], dir);
    assert.equal(runs.code, 0, runs.err);
    assert.equal(runs.out.trim().split("\n").length - 1, 3, runs.out);
    const none = await run("hvkit-report", ["runs", "--from", "a.jsonl"], dir);
    assert.equal(none.code, 1);
    assert.match(none.err, /--from a\.jsonl: no exported table/);
    const both = await run("hvkit-report", ["runs", "--from", "out", "--db", "s1.duckdb"], dir);
    assert.equal(both.code, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
