/** Options every tool takes for the store: `--db FILE`, `--no-db`. */
export interface StoreOptions {
  /** `--db FILE`; commander turns `--no-db` into `db: false`. */
  db?: string | boolean;
}

/**
 * Where this run's results go: `--db`, else `HVKIT_DB`, else `results.duckdb` in the working
 * folder; `null` when `--no-db` (or `HVKIT_DB=none`) says to skip the store.
 *
 * @example
 * ```ts
 * import { resolveDbPath } from "./db_path.ts";
 * resolveDbPath({ db: "x.duckdb" }); // "x.duckdb"
 * ```
 */
export function resolveDbPath(opts: StoreOptions = {}): string | null {
  if (opts.db === false) return null;
  if (typeof opts.db === "string" && opts.db !== "") return opts.db;
  const env = Deno.env.get("HVKIT_DB");
  if (env === "none") return null;
  if (env) return env;
  return "results.duckdb";
}
