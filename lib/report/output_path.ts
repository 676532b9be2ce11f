/**
 * Output folders and files the reports write (`--export DIR`, `-o FILE` for Parquet, bench/run's
 * `--out DIR`), checked before anything is written: a folder is created only itself, like
 * `mkdir` without `-p`, so a typo in its parent is an error instead of a new tree of folders.
 *
 * @module
 */

/** The folder a path is in (`.` for a bare name). */
export function parentOf(path: string): string {
  const p = path.replace(/\/+$/, "");
  const slash = p.lastIndexOf("/");
  return slash < 0 ? "." : slash === 0 ? "/" : p.slice(0, slash);
}

function isDir(path: string): boolean | null {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return null;
  }
}

/**
 * Checks, creating nothing, that `dir` is a folder (true) or can be created as one (false): its
 * parent exists. Otherwise throws one line naming the path.
 */
export function checkDirCreatable(dir: string): boolean {
  const there = isDir(dir);
  if (there === true) return true;
  if (there === false) throw new Error(`${dir}: exists and is not a directory`);
  const parent = parentOf(dir);
  const up = isDir(parent);
  if (up === null) {
    throw new Error(`${dir}: no such directory ${parent} (only ${dir} itself is created)`);
  }
  if (up === false) throw new Error(`${dir}: ${parent} is not a directory`);
  return false;
}

/**
 * Makes sure `dir` is a folder: an existing one is used, a missing one is created when its
 * parent exists; otherwise throws one line naming the path.
 *
 * @example
 * ```ts
 * import { makeDirOnce } from "./output_path.ts";
 * makeDirOnce("out/csv"); // out/ must exist
 * ```
 */
export function makeDirOnce(dir: string): void {
  if (checkDirCreatable(dir)) return;
  try {
    Deno.mkdirSync(dir);
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists && isDir(dir)) return; // made meanwhile
    const why = e instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : (e as Error).message.split("\n")[0];
    throw new Error(`${dir}: cannot create it: ${why}`);
  }
}

/**
 * Checks that a file can be created where it is named: its folder exists. Throws one line
 * naming the path, as `openOutput` does for the other outputs.
 */
export function checkOutputFile(file: string): void {
  if (isDir(file) === true) throw new Error(`${file}: is a directory`);
  const up = isDir(parentOf(file));
  if (up === null) throw new Error(`${file}: no such file or directory`);
  if (up === false) throw new Error(`${file}: ${parentOf(file)} is not a directory`);
}
