/** A query's result: column names and rows of JSON-friendly values. */
export interface QueryResult {
  columns: string[];
  rows: unknown[][];
}

/**
 * Runs SQL (one or more statements; the last one's rows are returned) against a store,
 * read-only, so it never blocks a tool that is writing.
 *
 * @example
 * ```ts
 * import { query } from "./query.ts";
 * const r = await query(":memory:", "SELECT 42 AS answer");
 * r.rows[0][0]; // 42
 * ```
 */
export async function query(dbPath: string, sql: string): Promise<QueryResult> {
  const readOnly = dbPath !== ":memory:";
  if (readOnly) {
    try {
      Deno.statSync(dbPath);
    } catch {
      throw new Error(`no results store at ${dbPath} (run a tool first, or pass --db)`);
    }
  }
  // Loaded here, not at import time: tools that only write (or run with --no-db) never pay for it.
  const { DuckDBInstance } = await import("@duckdb/node-api");
  const instance = await DuckDBInstance.create(
    dbPath,
    readOnly ? { access_mode: "READ_ONLY" } : {},
  );
  const conn = await instance.connect();
  try {
    const statements = await conn.extractStatements(sql);
    let last: QueryResult = { columns: [], rows: [] };
    for (let i = 0; i < statements.count; i++) {
      const prepared = await statements.prepare(i);
      const reader = await prepared.runAndReadAll();
      last = { columns: reader.columnNames(), rows: reader.getRowsJson() as unknown[][] };
    }
    return last;
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}
