import assert from "node:assert/strict";
import { query } from "./query.ts";
import { startRun } from "./run_recorder.ts";
import { resolveDbPath } from "./db_path.ts";
import { SCHEMA_VERSION } from "./schema.ts";
import { type Batch, spoolBatch } from "./store_writer.ts";
import { withRun } from "../cli/with_run.ts";

const here = new URL(".", import.meta.url).pathname;

function tmpDb(): string {
  return `${Deno.makeTempDirSync()}/results.duckdb`;
}

async function count(db: string, sql: string): Promise<number> {
  return Number((await query(db, sql)).rows[0][0]);
}

Deno.test("store: a run's row, metrics, events and tool table are all written", async () => {
  const db = tmpDb();
  const run = await startRun({ db }, { tool: "daio", command: "bench", args: { bs: 4096 } });
  run.metric("iops", 1234.5, "1/s", { rw: "randread" });
  run.event("note", { hello: "world" });
  run.rows({ name: "lat_hist", columns: [["upper_ns", "BIGINT"], ["count", "BIGINT"]] }, [
    [1000, 3],
    [2000, 1],
  ]);
  await run.finish("ok");
  const r = await query(
    db,
    `SELECT tool, command, status, args->>'bs', finished IS NOT NULL FROM runs`,
  );
  assert.deepEqual(r.rows, [["daio", "bench", "ok", "4096", true]]);
  const m = await query(db, `SELECT name, value, unit, labels->>'rw' FROM metrics`);
  assert.deepEqual(m.rows, [["iops", 1234.5, "1/s", "randread"]]);
  assert.equal(await count(db, "SELECT count(*) FROM events WHERE payload->>'hello' = 'world'"), 1);
  assert.equal(await count(db, "SELECT sum(count) FROM lat_hist"), 4);
  assert.equal(await count(db, "SELECT max(version) FROM schema_version"), SCHEMA_VERSION);
});

Deno.test("store: a tool table may use SQL keywords as column names", async () => {
  const db = tmpDb();
  const run = await startRun({ db }, { tool: "virtav", command: "scan", args: {} });
  run.rows({ name: "detections", columns: [["offset", "BIGINT"], ["order", "VARCHAR"]] }, [[
    4096,
    "a",
  ]]);
  await run.finish("ok");
  assert.equal(await count(db, `SELECT "offset" FROM detections`), 4096);
});

Deno.test("store: three writer processes at once lose no row", async () => {
  const db = tmpDb();
  const writers = ["a", "b", "c"].map((tag) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${here}testdata/writer.ts`, db, tag, "15", "40"],
      stdout: "piped",
      stderr: "piped",
    }).output()
  );
  const outs = await Promise.all(writers);
  for (const o of outs) assert.equal(o.code, 0, new TextDecoder().decode(o.stderr));
  assert.equal(await count(db, "SELECT count(*) FROM runs WHERE status = 'ok'"), 45);
  assert.equal(await count(db, "SELECT count(*) FROM metrics"), 45 * 40);
  assert.equal(await count(db, "SELECT count(*) FROM events"), 45);
  assert.equal(await count(db, "SELECT count(DISTINCT command) FROM runs"), 3);
});

Deno.test("store: a writer that cannot get the lock spools, and the next writer merges", async () => {
  const db = tmpDb();
  const holder = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${here}testdata/hold_lock.ts`, db],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const reader = holder.stdout.getReader();
  const first = await reader.read();
  assert.match(new TextDecoder().decode(first.value), /locked/);
  Deno.env.set("HVKIT_DB_WAIT_MS", "100");
  try {
    const run = await startRun({ db }, { tool: "t", command: "spooled", args: {} });
    run.metric("x", 1);
    await run.finish("ok");
    assert.equal(run.lastWrite, "spool");
  } finally {
    Deno.env.delete("HVKIT_DB_WAIT_MS");
    await holder.stdin.close();
    reader.releaseLock();
    await holder.stdout.cancel();
    await holder.status;
  }
  const later = await startRun({ db }, { tool: "t", command: "later", args: {} });
  await later.finish("ok");
  assert.equal(later.lastWrite, "db");
  assert.equal(
    await count(db, "SELECT count(*) FROM runs WHERE command = 'spooled' AND status = 'ok'"),
    1,
  );
  assert.equal(await count(db, "SELECT count(*) FROM metrics WHERE name = 'x'"), 1);
  assert.equal([...Deno.readDirSync(`${db}.spool`)].length, 0);
});

Deno.test("store: --no-db writes nothing", async () => {
  const dir = Deno.makeTempDirSync();
  const run = await startRun({ db: false }, { tool: "t", command: "c", args: {} });
  run.metric("x", 1);
  await run.finish("ok");
  assert.equal(run.lastWrite, "none");
  assert.equal([...Deno.readDirSync(dir)].length, 0);
});

Deno.test("store: path resolution: --db, HVKIT_DB, default, none", () => {
  assert.equal(resolveDbPath({ db: "a.duckdb" }), "a.duckdb");
  assert.equal(resolveDbPath({ db: false }), null);
  Deno.env.set("HVKIT_DB", "env.duckdb");
  try {
    assert.equal(resolveDbPath({}), "env.duckdb");
    assert.equal(resolveDbPath({ db: "flag.duckdb" }), "flag.duckdb");
  } finally {
    Deno.env.delete("HVKIT_DB");
  }
  assert.equal(resolveDbPath({}), "results.duckdb");
});

/** Runs `f` with console.error captured; returns what it printed, one string per call. */
async function stderrOf(f: () => Promise<void>): Promise<string[]> {
  const said: string[] = [];
  const orig = console.error;
  console.error = (...a: unknown[]) => void said.push(a.join(" "));
  try {
    await f();
  } finally {
    console.error = orig;
  }
  return said;
}

Deno.test("store: an unwritable path is said once on stderr, naming the file; the run goes on", async () => {
  let run: Awaited<ReturnType<typeof startRun>> | undefined;
  const said = await stderrOf(async () => {
    run = await startRun({ db: "/nonexistent-dir/x.duckdb" }, {
      tool: "t",
      command: "c",
      args: {},
    });
    run.metric("x", 1);
    await run.flush();
    await run.finish("ok");
  });
  assert.equal(said.length, 1, said.join("\n"));
  assert.match(said[0], /^results store \/nonexistent-dir\/x.duckdb: /);
  assert.ok(!said[0].includes("\n"));
  assert.equal(run!.lastWrite, "failed");
});

Deno.test("store: withRun keeps the run's own outcome when the store fails", async () => {
  const db = `${Deno.makeTempDirSync()}/missing/x.duckdb`;
  let value = 0;
  const said = await stderrOf(async () => {
    value = await withRun({ db }, { tool: "t", command: "ok", args: {} }, () => 7);
    await assert.rejects(
      withRun({ db }, { tool: "t", command: "fails", args: {} }, () => {
        throw new Error("the body's own error");
      }),
      /^Error: the body's own error$/,
    );
  });
  assert.equal(value, 7);
  assert.equal(said.length, 1, said.join("\n"));
});

Deno.test("store: a file that is not a store: said once, batches spooled, merged once it is fixed", async () => {
  const db = tmpDb();
  Deno.writeTextFileSync(db, "this is not a DuckDB file\n".repeat(1000));
  const said = await stderrOf(async () => {
    const run = await startRun({ db }, { tool: "t", command: "damaged", args: {} });
    run.metric("kept", 1);
    await run.finish("ok");
    assert.equal(run.lastWrite, "spool");
  });
  assert.equal(said.length, 1, said.join("\n"));
  assert.match(said[0], /^results store .*: .*; this batch kept in .*\.spool\//);
  Deno.removeSync(db);
  const later = await startRun({ db }, { tool: "t", command: "later", args: {} });
  await later.finish("ok");
  assert.equal(await count(db, "SELECT count(*) FROM metrics WHERE name = 'kept'"), 1);
  assert.equal(
    await count(db, "SELECT count(*) FROM runs WHERE command = 'damaged' AND status = 'ok'"),
    1,
  );
});

Deno.test("store: a damaged spool file is moved aside and named; writes go on", async () => {
  const db = tmpDb();
  Deno.mkdirSync(`${db}.spool`);
  Deno.writeTextFileSync(`${db}.spool/0-damaged.json`, '{"run": {"id": "x"}, "metr');
  Deno.writeTextFileSync(`${db}.spool/1-not-a-batch.json`, "[1, 2, 3]");
  const said = await stderrOf(async () => {
    for (const c of ["first", "second"]) {
      const run = await startRun({ db }, { tool: "t", command: c, args: {} });
      run.metric("m", 1);
      await run.finish("ok");
      assert.equal(run.lastWrite, "db");
    }
  });
  assert.equal(said.length, 2, said.join("\n"));
  assert.match(said[0], /spool file 0-damaged.json is damaged \(not JSON\); moved to .*\/bad\/0-d/);
  assert.match(said[1], /spool file 1-not-a-batch.json is damaged/);
  assert.deepEqual([...Deno.readDirSync(`${db}.spool/bad`)].map((e) => e.name).sort(), [
    "0-damaged.json",
    "1-not-a-batch.json",
  ]);
  assert.equal(await count(db, "SELECT count(*) FROM metrics WHERE name = 'm'"), 2);
});

Deno.test("store: a spool file left behind after its merge committed is not counted twice", async () => {
  const db = tmpDb();
  await (await startRun({ db }, { tool: "t", command: "init", args: {} })).finish("ok");
  const batch: Batch = {
    run: {
      id: crypto.randomUUID(),
      tool: "t",
      command: "spooled",
      args: {},
      started: Date.now() * 1000,
      finished: Date.now() * 1000,
      host: "h",
      gitRev: "r",
      status: "ok",
    },
    metrics: [["once", 1, "", "{}", Date.now() * 1000]],
    events: [],
    tables: [],
  };
  const path = spoolBatch(db, batch);
  const text = Deno.readTextFileSync(path);
  await (await startRun({ db }, { tool: "t", command: "merges", args: {} })).finish("ok");
  assert.equal(await count(db, "SELECT count(*) FROM metrics WHERE name = 'once'"), 1);
  // The process that merged it died after COMMIT and before removing the file:
  Deno.writeTextFileSync(path, text);
  await (await startRun({ db }, { tool: "t", command: "merges again", args: {} })).finish("ok");
  assert.equal(await count(db, "SELECT count(*) FROM metrics WHERE name = 'once'"), 1);
  assert.equal([...Deno.readDirSync(`${db}.spool`)].filter((e) => e.isFile).length, 0);
});

Deno.test("query: a missing store is a clear error; SQL errors are reported", async () => {
  await assert.rejects(query("/nonexistent/x.duckdb", "SELECT 1"), /no results store at/);
  const db = tmpDb();
  const run = await startRun({ db }, { tool: "t", command: "c", args: {} });
  await run.finish("ok");
  await assert.rejects(query(db, "SELECT * FROM no_such_table"), /no_such_table/);
});
