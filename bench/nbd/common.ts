/**
 * What the bench/nbd scripts share: the patterned image they serve, a server's CPU ticks, the
 * wait for a server to accept on its socket, and running a sibling script for its JSON.
 *
 * @module
 */
const ROOT = new URL("../../", import.meta.url).pathname;

/** Writes `bytes` (a multiple of 1 MiB) of a repeating 0..255 pattern to `path`. */
export async function writePatternImage(path: string, bytes: number): Promise<void> {
  const f = await Deno.open(path, { write: true, create: true });
  const chunk = new Uint8Array(1 << 20).map((_, i) => i & 255);
  for (let o = 0; o < bytes; o += chunk.length) await f.write(chunk);
  f.close();
}

/** utime and stime of a process, in clock ticks (100/s); NaN when it cannot be read. */
export function cpuTicks(pid: number): [number, number] {
  try {
    const f = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].split(" ");
    return [Number(f[11]), Number(f[12])];
  } catch {
    return [NaN, NaN];
  }
}

/**
 * Waits until a server accepts a connection on its socket: the socket file appears at bind(),
 * before listen(), and a loaded machine can take seconds to get there. Throws when the server
 * (`name`) exits or does not accept within 60 s, so fio never runs against a server that is
 * not up.
 */
export async function waitForSocket(
  name: string,
  path: string,
  child: Deno.ChildProcess,
): Promise<void> {
  let exited = false;
  child.status.then(() => exited = true);
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      (await Deno.connect({ transport: "unix", path })).close();
      return;
    } catch (e) {
      if (exited) throw new Error(`${name} exited before accepting connections on ${path}`);
      if (Date.now() > deadline) {
        throw new Error(`not accepting on ${path} after 60 s: ${(e as Error).message}`);
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Runs a script of this repository (`bench/nbd/hit_path.ts`, ...) with the repository's config
 * and returns what it printed as JSON; an error naming the script and its exit code otherwise.
 */
export async function runScriptJson<T>(
  script: string,
  args: string[],
  stderr: "piped" | "inherit",
): Promise<{ ok: true; value: T } | { ok: false; why: string }> {
  const o = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "--config", `${ROOT}deno.json`, `${ROOT}${script}`, ...args],
    stdout: "piped",
    stderr,
  }).output();
  if (o.code === 0) return { ok: true, value: JSON.parse(new TextDecoder().decode(o.stdout)) };
  const err = stderr === "piped" ? new TextDecoder().decode(o.stderr) : "";
  return { ok: false, why: err || `${script} exited ${o.code}` };
}
