/**
 * Starting an NBD server on a Unix socket for the guest's disk: hvkit's own
 * `qbic-cache serve` or the peer `qemu-nbd`, guarded so neither outlives its owner.
 *
 * @module
 */
import { GuestSetupError } from "./errors.ts";
import { type GuardedProcess, spawnGuarded } from "./guarded_process.ts";

const REPO = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

/** Which server, and how. */
export interface NbdServerOptions {
  /** `qbic-cache` (bin/qbic-cache serve) or `qemu-nbd`. */
  kind: "qbic-cache" | "qemu-nbd";
  /** The image to export. */
  image: string;
  /** The socket to listen on. */
  socket: string;
  /** qbic-cache only: write every request as an I/O record to this file. */
  record?: string;
  /** qbic-cache only: more arguments (`--policy lru`, `--cache-size 16M`, ...). */
  extraArgs?: string[];
  /** qbic-cache only: the results store (default: `--no-db`). */
  db?: string;
  /** Where the server's stderr goes (default: discarded). */
  stderrPath?: string;
  /** Where the server's stdout goes (default: discarded); e.g. `serve --output json`'s row. */
  stdoutPath?: string;
  /** Hard limit (default 10 minutes). */
  timeoutMs?: number;
}

/** A running server. */
export interface NbdServer {
  readonly socket: string;
  /** The export name a client should ask for. */
  readonly exportName: string;
  readonly process: GuardedProcess;
  /**
   * Stops it: SIGTERM (qbic-cache writes dirty blocks back and closes its trace), then
   * SIGKILL after `graceMs` (default 10 s).
   */
  stop(graceMs?: number): Promise<{ code: number }>;
}

/**
 * Starts the server and waits until its socket accepts connections.
 *
 * @example
 * ```ts
 * import { startNbdServer } from "./nbd_server.ts";
 * const srv = await startNbdServer({ kind: "qbic-cache", image: "disk.img",
 *   socket: "/tmp/d.sock", record: "trace.jsonl" });
 * try { /* launchGuest({ nbdSocket: srv.socket, nbdExport: srv.exportName, ... }) *\/ }
 * finally { await srv.stop(); }
 * ```
 */
export async function startNbdServer(opts: NbdServerOptions): Promise<NbdServer> {
  let cmd: string;
  let args: string[];
  const exportName = "disk";
  if (opts.kind === "qemu-nbd") {
    cmd = "/usr/bin/qemu-nbd";
    if (!exists(cmd)) throw new GuestSetupError(`${cmd} not found: install qemu-utils`);
    // --persistent: the guest may reconnect; -x: a name like qbic-cache's
    args = ["-k", opts.socket, "-f", "raw", "--cache=writeback", "--persistent", "-x", exportName];
    args.push(opts.image);
  } else {
    cmd = `${REPO}/bin/qbic-cache`;
    if (!exists(cmd)) throw new GuestSetupError(`${cmd} not found`);
    args = ["serve", "--socket", opts.socket, "-x", exportName];
    if (opts.record) args.push("--record", opts.record);
    args.push(...(opts.db ? ["--db", opts.db] : ["--no-db"]));
    args.push(...(opts.extraArgs ?? []), opts.image);
  }
  const proc = await spawnGuarded(cmd, args, {
    stdoutPath: opts.stdoutPath,
    stderrPath: opts.stderrPath,
    timeoutMs: opts.timeoutMs,
  });
  const deadline = Date.now() + 30_000;
  while (true) {
    try {
      const c = await Deno.connect({ transport: "unix", path: opts.socket });
      c.close();
      break;
    } catch {
      if (proc.exited || Date.now() > deadline) {
        await proc.kill();
        let err = "";
        if (opts.stderrPath) {
          err = (await Deno.readTextFile(opts.stderrPath).catch(() => "")).trim().split("\n")[0];
        }
        throw new GuestSetupError(
          `${opts.kind} did not start listening on ${opts.socket}${err ? `: ${err}` : ""}`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    socket: opts.socket,
    exportName,
    process: proc,
    async stop(graceMs = 10_000) {
      if (!proc.exited) {
        try {
          Deno.kill(proc.pid, "SIGTERM");
        } catch {
          // gone
        }
        const t = setTimeout(() => proc.kill().catch(() => {}), graceMs);
        await proc.status;
        clearTimeout(t);
      }
      return { code: (await proc.status).code };
    },
  };
}

function exists(p: string): boolean {
  try {
    Deno.statSync(p);
    return true;
  } catch {
    return false;
  }
}
