/**
 * Many results stores read as one: the Parquet files `hvkit-report --export DIR --format parquet`
 * writes for each store (`table_runs.parquet`, `table_metrics.parquet`, `table_qbic_sim.parquet`,
 * ...), from many folders — one per process of a sweep (`qbic-cache sim --shard K/N`), or per host
 * — are put behind one view per table (`read_parquet([...], union_by_name = true)`) in a scratch
 * DuckDB file, so every report runs over all of them at once. Run ids are UUIDs: rows of different
 * stores never mix.
 *
 * @module
 */

/** A path given to `--from` that holds no exported table, or cannot be read. */
export class ParquetStoresError extends Error {
  override name = "ParquetStoresError";
}

/** The exported tables found under `paths`: table name -> its Parquet files. */
export function findExportedTables(paths: string[]): Map<string, string[]> {
  const tables = new Map<string, string[]>();
  const add = (file: string) => {
    const m = /(?:^|\/)table_([a-z_][a-z0-9_]*)\.parquet$/.exec(file);
    if (!m) return;
    const list = tables.get(m[1]);
    if (list) list.push(file);
    else tables.set(m[1], [file]);
  };
  const walk = (dir: string) => {
    for (const e of [...Deno.readDirSync(dir)].sort((a, b) => a.name < b.name ? -1 : 1)) {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory) walk(p);
      else if (e.isFile) add(p);
    }
  };
  for (const path of paths) {
    let st: Deno.FileInfo;
    try {
      st = Deno.statSync(path);
    } catch {
      throw new ParquetStoresError(`${path}: no such file or folder`);
    }
    const before = [...tables.values()].reduce((a, l) => a + l.length, 0);
    if (st.isDirectory) walk(path.replace(/\/+$/, "") || "/");
    else add(path);
    if ([...tables.values()].reduce((a, l) => a + l.length, 0) === before) {
      throw new ParquetStoresError(
        `${path}: no exported table (table_*.parquet, as hvkit-report --export DIR --format parquet writes)`,
      );
    }
  }
  return tables;
}

function sqlString(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

/**
 * A scratch store whose tables are views over the Parquet exports under `paths`; `close()`
 * deletes it. Reports run against `path` as against any store.
 */
export async function openParquetStores(
  paths: string[],
): Promise<{ path: string; tables: Map<string, string[]>; close: () => void }> {
  const tables = findExportedTables(paths);
  const dir = await Deno.makeTempDir({ prefix: "hvkit-report-" });
  const path = `${dir}/stores.duckdb`;
  const { DuckDBInstance } = await import("@duckdb/node-api");
  const instance = await DuckDBInstance.create(path);
  const conn = await instance.connect();
  try {
    for (const [name, files] of tables) {
      const list = files.map((f) => sqlString(Deno.realPathSync(f))).join(", ");
      await conn.run(
        `CREATE VIEW "${name}" AS SELECT * FROM read_parquet([${list}], union_by_name = true)`,
      );
    }
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
  return { path, tables, close: () => Deno.removeSync(dir, { recursive: true }) };
}
