/**
 * Helpers for the serve end-to-end tests: start `bin/qbic-cache serve` on a temp socket, run a
 * peer client, and clean every process and file up.
 *
 * @module
 */
import { findOnPath } from "../../lib/cli/doctor.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** True when `program` is on PATH (the same lookup `doctor` uses). */
export function have(program: string): boolean {
  return findOnPath(program) !== null;
}

/** A running `qbic-cache serve`. */
export interface Served {
  dir: string;
  socket: string;
  uri: string;
  child: Deno.ChildProcess;
  /** SIGTERM, wait, and return its stderr and exit code. */
  stop(): Promise<{ code: number; stderr: string; stdout: string }>;
  /** SIGKILL. */
  kill(): Promise<void>;
}

/** Starts serve with `args` (the image last); waits for the socket. */
export async function startServe(dir: string, args: string[]): Promise<Served> {
  const socket = `${dir}/s.sock`;
  const child = new Deno.Command(`${ROOT}bin/qbic-cache`, {
    args: ["serve", "--no-db", "--socket", socket, ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = child.output();
  for (let i = 0; i < 200; i++) {
    try {
      if (Deno.statSync(socket).isSocket) break;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  let finished = false;
  const dec = new TextDecoder();
  return {
    dir,
    socket,
    uri: `nbd+unix:///?socket=${socket}`,
    child,
    async stop() {
      if (!finished) {
        try {
          child.kill("SIGTERM");
        } catch { /* gone */ }
      }
      finished = true;
      const o = await out;
      return { code: o.code, stderr: dec.decode(o.stderr), stdout: dec.decode(o.stdout) };
    },
    async kill() {
      finished = true;
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await out;
    },
  };
}

/**
 * Runs a client; returns exit code and output. `cwd` matters for clients that leave files
 * behind in their working directory (fio's verify state): give them the test's temp dir.
 */
export async function run(cmd: string, args: string[], cwd?: string) {
  const o = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  const dec = new TextDecoder();
  return { code: o.code, out: dec.decode(o.stdout), err: dec.decode(o.stderr) };
}

/** A fresh image of `size` bytes filled with a byte. */
export function makeImage(path: string, size: number, fill = 0): void {
  const f = Deno.openSync(path, { write: true, create: true, truncate: true });
  try {
    f.truncateSync(size);
    if (fill !== 0) {
      const chunk = new Uint8Array(1 << 20).fill(fill);
      for (let o = 0; o < size; o += chunk.length) {
        f.seekSync(o, Deno.SeekMode.Start);
        f.writeSync(chunk.subarray(0, Math.min(chunk.length, size - o)));
      }
    }
  } finally {
    f.close();
  }
}
