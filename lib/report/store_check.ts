/**
 * What is at a results-store path, checked before DuckDB opens it: nothing yet (a store no tool
 * has created: the reports say "no runs yet"), a DuckDB file, or something that cannot be a
 * store (a directory, an empty or foreign file, a FIFO), which is an error naming the path
 * instead of DuckDB's own message.
 *
 * @module
 */

/** A path that cannot be a results store, or a store that cannot be written where it is. */
export class StoreError extends Error {}

/** DuckDB's file header: an 8-byte checksum, then this magic. */
const MAGIC = new TextEncoder().encode("DUCK");
const MAGIC_AT = 8;

function describe(e: unknown): string {
  if (e instanceof Deno.errors.NotFound) return "no such file or directory";
  if (e instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (e instanceof Deno.errors.NotADirectory) return "a part of the path is not a directory";
  return (e as Error).message?.split("\n")[0] ?? String(e);
}

/**
 * Checks a results-store path before it is opened: `"missing"` when nothing is there yet,
 * `"store"` for a DuckDB file (or `:memory:`); throws a {@linkcode StoreError} naming the path
 * for a directory, a file that is not a DuckDB database (an empty one included), or anything
 * else that is not a regular file.
 *
 * @example
 * ```ts
 * import { checkStore } from "./store_check.ts";
 * if (checkStore("results.duckdb") === "missing") console.log("no runs yet");
 * ```
 */
export function checkStore(db: string): "missing" | "store" {
  if (db === ":memory:") return "store";
  let st: Deno.FileInfo;
  try {
    st = Deno.statSync(db);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return "missing";
    throw new StoreError(`${db}: ${describe(e)}`);
  }
  if (st.isDirectory) throw new StoreError(`${db}: is a directory, not a results store`);
  // not opened to read its header: a FIFO would block
  if (!st.isFile) throw new StoreError(`${db}: not a regular file, not a results store`);
  if (st.size === 0) throw new StoreError(`${db}: an empty file, not a DuckDB results store`);
  const head = new Uint8Array(MAGIC_AT + MAGIC.length);
  let n = 0;
  try {
    const f = Deno.openSync(db, { read: true });
    try {
      while (n < head.length) {
        const r = f.readSync(head.subarray(n));
        if (r === null) break;
        n += r;
      }
    } finally {
      f.close();
    }
  } catch (e) {
    throw new StoreError(`${db}: ${describe(e)}`);
  }
  const magic = head.subarray(MAGIC_AT);
  if (n < head.length || !MAGIC.every((b, i) => magic[i] === b)) {
    throw new StoreError(`${db}: not a DuckDB results store (no DuckDB header)`);
  }
  return "store";
}

/**
 * Checks a store that is about to be written: {@linkcode checkStore}, and for a store not
 * created yet, that the folder it goes in exists (DuckDB creates the file, not its folders).
 */
export function checkStoreWritable(db: string): void {
  if (checkStore(db) === "store") return;
  const slash = db.lastIndexOf("/");
  const parent = slash < 0 ? "." : slash === 0 ? "/" : db.slice(0, slash);
  let st: Deno.FileInfo;
  try {
    st = Deno.statSync(parent);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound ? "no such directory" : describe(e);
    throw new StoreError(`${db}: cannot create the results store: ${why}: ${parent}`);
  }
  if (!st.isDirectory) {
    throw new StoreError(`${db}: cannot create the results store: not a directory: ${parent}`);
  }
}
