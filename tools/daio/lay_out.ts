/**
 * Lays a target file out before a job, as fio does: a missing file (or a regular file shorter
 * than `--size`) is filled with non-zero data, so reads hit allocated blocks, not holes.
 *
 * @module
 */
import { describeFsError, ToolError } from "../../lib/cli/mod.ts";
import { xorshift32 } from "../../lib/stats/xorshift.ts";

/** Makes sure `path` exists and holds at least `size` bytes (when a size is given). */
export async function layOut(path: string, size: number | undefined, quiet: boolean) {
  let have = 0;
  try {
    const st = await Deno.stat(path);
    if (st.isDirectory) throw new ToolError(`${path}: EISDIR (is a directory)`);
    if (!st.isFile || size === undefined || st.size >= size) return;
    if (st.mode !== null && (st.mode & 0o222) === 0) {
      throw new ToolError(`${path}: EACCES (read-only file, cannot lay it out to ${size} bytes)`);
    }
    have = st.size;
  } catch (e) {
    if (e instanceof ToolError) throw e;
    if (!(e instanceof Deno.errors.NotFound)) {
      throw new ToolError(`${path}: ${(e as Error).message.split("\n")[0]}`);
    }
    if (size === undefined) {
      throw new ToolError(`${path}: ENOENT (no such file; give --size to create it)`);
    }
  }
  let f: Deno.FsFile;
  try {
    f = await Deno.open(path, { write: true, create: true });
  } catch (e) {
    throw new ToolError(`${path}: cannot create it: ${describeFsError(e)}`);
  }
  using _closer = f;
  if (!quiet) console.error(`daio: laying out ${path} to ${size} bytes`);
  const chunk = new Uint8Array(1 << 20);
  const next = xorshift32(0x9e3779b9);
  const view = new DataView(chunk.buffer);
  for (let i = 0; i < chunk.length; i += 4) view.setUint32(i, next());
  await f.seek(have, Deno.SeekMode.Start);
  try {
    for (let at = have; at < size!; at += chunk.length) {
      const n = Math.min(chunk.length, size! - at);
      let done = 0;
      while (done < n) done += await f.write(chunk.subarray(done, n));
    }
    await f.syncData();
  } catch (e) {
    throw new ToolError(`${path}: laying out ${size} bytes failed: ${describeFsError(e)}`);
  }
}
