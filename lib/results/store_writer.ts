/**
 * Writes batches of rows into a DuckDB file that other processes may be writing at the same
 * time. DuckDB admits one writing process per file, so a writer opens the file only for the
 * moment it writes, retries with jittered back-off while another process holds the lock, and
 * when the lock stays busy past the deadline it spools the batch to `<db>.spool/` as JSON;
 * the next writer to get the lock merges the spool first. Nothing is lost: a spooled batch is
 * merged exactly once (its file name is recorded in the same transaction), and a damaged spool
 * file is set aside, named, without stopping the writes behind it.
 *
 * @module
 */
import type {
  DuckDBAppender,
  DuckDBConnection,
  DuckDBInstance,
  DuckDBTimestampValue,
} from "@duckdb/node-api";
import { type ColumnType, createTableSql, MIGRATIONS, type TableSpec } from "./schema.ts";

/** Rows for one table in a batch. */
export interface TableRows {
  spec: TableSpec;
  rows: unknown[][];
}

/** One write: the run row (upserted) and rows to append. Timestamps are epoch microseconds. */
export interface Batch {
  run: {
    id: string;
    tool: string;
    command: string;
    args: unknown;
    started: number;
    finished: number | null;
    host: string;
    gitRev: string;
    status: string;
  };
  metrics: [name: string, value: number, unit: string, labels: string, ts: number][];
  events: [ts: number, kind: string, payload: string][];
  tables: TableRows[];
}

const LOCK_ERROR =
  /Could not set lock|Conflicting lock|database is locked|Unique file handle conflict/i;

function waitMs(): number {
  const v = Number(Deno.env.get("HVKIT_DB_WAIT_MS") ?? "20000");
  return Number.isFinite(v) && v >= 0 ? v : 20000;
}

async function migrate(conn: DuckDBConnection): Promise<void> {
  await conn.run(MIGRATIONS[0][0]);
  const r = await conn.runAndReadAll(
    "SELECT coalesce(max(version), 0)::INTEGER AS v FROM schema_version",
  );
  const have = Number(r.getRows()[0][0]);
  for (let v = have; v < MIGRATIONS.length; v++) {
    await conn.run("BEGIN TRANSACTION");
    for (const sql of MIGRATIONS[v]) await conn.run(sql);
    await conn.run(`INSERT INTO schema_version VALUES (${v + 1}, now())`);
    await conn.run("COMMIT");
  }
}

// DuckDB is loaded on the first write only, so a `--no-db` run never pays for its import.
let duck: typeof import("@duckdb/node-api") | undefined;
async function duckdb(): Promise<typeof import("@duckdb/node-api")> {
  return duck ??= await import("@duckdb/node-api");
}

function ts(micros: number): DuckDBTimestampValue {
  return new duck!.DuckDBTimestampValue(BigInt(Math.round(micros)));
}

function appendTyped(app: DuckDBAppender, type: ColumnType, v: unknown): void {
  if (v === null || v === undefined) return app.appendNull();
  switch (type) {
    case "VARCHAR":
      return app.appendVarchar(String(v));
    case "JSON":
      return app.appendVarchar(typeof v === "string" ? v : JSON.stringify(v));
    case "BIGINT":
      return app.appendBigInt(BigInt(typeof v === "number" ? Math.trunc(v) : v as bigint));
    case "UBIGINT":
      return app.appendUBigInt(BigInt(typeof v === "number" ? Math.trunc(v) : v as bigint));
    case "HUGEINT":
      return app.appendHugeInt(BigInt(typeof v === "number" ? Math.trunc(v) : v as bigint));
    case "INTEGER":
      return app.appendInteger(Number(v));
    case "DOUBLE":
      return app.appendDouble(Number(v));
    case "BOOLEAN":
      return app.appendBoolean(Boolean(v));
    case "TIMESTAMP":
      return app.appendTimestamp(ts(Number(v)));
  }
}

async function appendRows(
  conn: DuckDBConnection,
  table: string,
  types: ColumnType[],
  rows: unknown[][],
): Promise<void> {
  if (rows.length === 0) return;
  const app = await conn.createAppender(table);
  for (const row of rows) {
    types.forEach((t, i) => appendTyped(app, t, row[i]));
    app.endRow();
  }
  app.closeSync();
}

async function writeInto(conn: DuckDBConnection, b: Batch): Promise<void> {
  const r = b.run;
  await conn.run(
    `INSERT INTO runs VALUES ($id, $tool, $command, $args::JSON, make_timestamp($started::BIGINT),
       CASE WHEN $finished IS NULL THEN NULL ELSE make_timestamp($finished::BIGINT) END,
       $host, $git, $status)
     ON CONFLICT (id) DO UPDATE SET finished = excluded.finished, status = excluded.status`,
    {
      id: r.id,
      tool: r.tool,
      command: r.command,
      args: JSON.stringify(r.args ?? null),
      started: Math.round(r.started),
      finished: r.finished === null ? null : Math.round(r.finished),
      host: r.host,
      git: r.gitRev,
      status: r.status,
    },
  );
  await appendRows(
    conn,
    "metrics",
    ["VARCHAR", "VARCHAR", "DOUBLE", "VARCHAR", "JSON", "TIMESTAMP"],
    b.metrics.map((m) => [r.id, ...m]),
  );
  await appendRows(
    conn,
    "events",
    ["VARCHAR", "TIMESTAMP", "VARCHAR", "JSON"],
    b.events.map((e) => [r.id, ...e]),
  );
  for (const t of b.tables) {
    await conn.run(createTableSql(t.spec));
    await appendRows(
      conn,
      t.spec.name,
      ["VARCHAR", ...t.spec.columns.map(([, ty]) => ty)],
      t.rows.map((row) => [r.id, ...row]),
    );
  }
}

function spoolDir(dbPath: string): string {
  return `${dbPath}.spool`;
}

/**
 * Merges every spooled batch, each in its own transaction that also records the file's name
 * in `spool_merged`: a process that dies between that COMMIT and the file's removal leaves a
 * file the next merge recognises and removes instead of appending it twice. A file that is
 * not a batch, or that the store refuses, is moved to `<db>.spool/bad/` and named on stderr;
 * the merge goes on with the next one.
 */
async function mergeSpool(conn: DuckDBConnection, dbPath: string): Promise<void> {
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(spoolDir(dbPath))].filter((e) =>
      e.isFile && e.name.endsWith(".json")
    );
  } catch {
    return;
  }
  entries.sort((a, b) => a.name.localeCompare(b.name));
  for (const e of entries) {
    const path = `${spoolDir(dbPath)}/${e.name}`;
    let batch: Batch;
    try {
      batch = parseBatch(await Deno.readTextFile(path));
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) continue; // another writer merged it
      setAside(dbPath, e.name, (err as Error).message);
      continue;
    }
    const seen = await conn.runAndReadAll(
      "SELECT count(*)::INTEGER FROM spool_merged WHERE name = $name",
      { name: e.name },
    );
    if (Number(seen.getRows()[0][0]) === 0) {
      await conn.run("BEGIN TRANSACTION");
      try {
        await writeInto(conn, batch);
        await conn.run("INSERT INTO spool_merged VALUES ($name, now())", { name: e.name });
        await conn.run("COMMIT");
      } catch (err) {
        await conn.run("ROLLBACK").catch(() => {});
        const msg = (err as Error).message ?? String(err);
        if (LOCK_ERROR.test(msg)) throw err;
        setAside(dbPath, e.name, msg.split("\n")[0]);
        continue;
      }
    }
    await Deno.remove(path).catch(() => {});
  }
}

/** A spool file's batch; throws when the text is not one. */
function parseBatch(text: string): Batch {
  let b: Batch;
  try {
    b = JSON.parse(text);
  } catch {
    throw new Error("not JSON");
  }
  if (
    typeof b !== "object" || b === null || typeof b.run?.id !== "string" ||
    !Array.isArray(b.metrics) || !Array.isArray(b.events) || !Array.isArray(b.tables)
  ) {
    throw new Error("not a batch (run, metrics, events, tables)");
  }
  return b;
}

/** Moves a damaged spool file to `<db>.spool/bad/` and says so on stderr. */
function setAside(dbPath: string, name: string, why: string): void {
  const bad = `${spoolDir(dbPath)}/bad`;
  try {
    Deno.mkdirSync(bad, { recursive: true });
    Deno.renameSync(`${spoolDir(dbPath)}/${name}`, `${bad}/${name}`);
    console.error(
      `results store ${dbPath}: spool file ${name} is damaged (${why}); moved to ${bad}/${name}`,
    );
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return; // another writer moved it first
    throw e;
  }
}

/**
 * Writes a batch to `<db>.spool/` for a later writer to merge; returns the file's path.
 * Used when the lock stays busy, and by {@linkcode RunRecorder} when the store fails.
 */
export function spoolBatch(dbPath: string, batch: Batch): string {
  try {
    Deno.mkdirSync(spoolDir(dbPath)); // not recursive: the store's own folder must exist
  } catch (e) {
    if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
  }
  const name = `${Date.now()}-${batch.run.id}-${crypto.randomUUID().slice(0, 8)}.json`;
  const tmp = `${spoolDir(dbPath)}/.${name}`;
  // Bigints (UBIGINT columns) as decimal strings: BigInt() reads them back when merged.
  Deno.writeTextFileSync(
    tmp,
    JSON.stringify(batch, (_k, v) => typeof v === "bigint" ? v.toString() : v),
  );
  Deno.renameSync(tmp, `${spoolDir(dbPath)}/${name}`);
  return `${spoolDir(dbPath)}/${name}`;
}

let chain: Promise<unknown> = Promise.resolve();

/**
 * Writes one batch, waiting for other processes' locks; spools it when the wait runs out.
 * Writes from one process are serialized (DuckDB allows one instance per file per process).
 *
 * @returns where the batch went: `"db"` or `"spool"`.
 */
export function writeBatch(dbPath: string, batch: Batch): Promise<"db" | "spool"> {
  const next = chain.then(() => writeBatchNow(dbPath, batch));
  chain = next.catch(() => {});
  return next;
}

async function writeBatchNow(dbPath: string, batch: Batch): Promise<"db" | "spool"> {
  const deadline = Date.now() + waitMs();
  let delay = 5;
  for (;;) {
    let instance: DuckDBInstance | undefined;
    try {
      instance = await (await duckdb()).DuckDBInstance.create(dbPath);
      const conn = await instance.connect();
      try {
        await migrate(conn);
        await mergeSpool(conn, dbPath);
        await conn.run("BEGIN TRANSACTION");
        await writeInto(conn, batch);
        await conn.run("COMMIT");
      } finally {
        conn.closeSync();
      }
      return "db";
    } catch (e) {
      const msg = (e as Error).message ?? String(e);
      if (!LOCK_ERROR.test(msg)) throw new Error(`results store ${dbPath}: ${msg.split("\n")[0]}`);
      if (Date.now() >= deadline) {
        spoolBatch(dbPath, batch);
        return "spool";
      }
      await new Promise((r) => setTimeout(r, delay + Math.random() * delay));
      delay = Math.min(delay * 2, 200);
    } finally {
      instance?.closeSync();
    }
  }
}
