/**
 * The results store's schema: the core tables every tool writes (DESIGN.md, "The results
 * store") and the migrations that bring an older file up to date. Tools add their own tables
 * with a {@linkcode TableSpec}; those are created on first use.
 *
 * @module
 */

/** Migration `i` brings a store from version `i` to `i + 1`. Append only; never edit one. */
export const MIGRATIONS: readonly string[][] = [
  [
    `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied TIMESTAMP NOT NULL)`,
    `CREATE TABLE IF NOT EXISTS runs (
      id VARCHAR PRIMARY KEY, tool VARCHAR NOT NULL, command VARCHAR NOT NULL, args JSON,
      started TIMESTAMP NOT NULL, finished TIMESTAMP, host VARCHAR, git_rev VARCHAR,
      status VARCHAR NOT NULL)`,
    `CREATE TABLE IF NOT EXISTS metrics (
      run VARCHAR NOT NULL, name VARCHAR NOT NULL, value DOUBLE, unit VARCHAR, labels JSON,
      ts TIMESTAMP NOT NULL)`,
    `CREATE TABLE IF NOT EXISTS events (
      run VARCHAR NOT NULL, ts TIMESTAMP NOT NULL, kind VARCHAR NOT NULL, payload JSON)`,
  ],
  // Spool files already merged, recorded in the merge's own transaction (store_writer.ts).
  [
    `CREATE TABLE IF NOT EXISTS spool_merged (name VARCHAR PRIMARY KEY, merged TIMESTAMP NOT NULL)`,
  ],
  // pviommu's addresses are 64-bit (IOVAs up to 2^64 - 1; a length may be 2^64).
  [
    `ALTER TABLE IF EXISTS pviommu_faults ALTER address TYPE UBIGINT`,
    `ALTER TABLE IF EXISTS pviommu_faults ALTER iova TYPE UBIGINT`,
    `ALTER TABLE IF EXISTS pviommu_violations ALTER iova TYPE UBIGINT`,
    `ALTER TABLE IF EXISTS pviommu_violations ALTER len TYPE HUGEINT`,
  ],
];

/** The version a store has once every migration ran. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** Column types a tool table may use (DuckDB names). */
export type ColumnType =
  | "VARCHAR"
  | "JSON"
  | "BIGINT"
  | "UBIGINT"
  | "HUGEINT"
  | "INTEGER"
  | "DOUBLE"
  | "BOOLEAN"
  | "TIMESTAMP";

/** A tool's own table: `run VARCHAR` comes first implicitly, then these columns. */
export interface TableSpec {
  name: string;
  columns: readonly (readonly [string, ColumnType])[];
}

const IDENT = /^[a-z_][a-z0-9_]*$/;

/** The CREATE TABLE statement for a tool table; names are checked, never quoted blindly. */
export function createTableSql(spec: TableSpec): string {
  for (const n of [spec.name, ...spec.columns.map(([c]) => c)]) {
    if (!IDENT.test(n)) throw new Error(`invalid table or column name: ${n}`);
  }
  // Names are checked above and quoted too, so SQL keywords (`offset`, `order`) work as names.
  const cols = spec.columns.map(([c, t]) => `"${c}" ${t}`).join(", ");
  return `CREATE TABLE IF NOT EXISTS "${spec.name}" (run VARCHAR NOT NULL${
    cols ? ", " + cols : ""
  })`;
}
