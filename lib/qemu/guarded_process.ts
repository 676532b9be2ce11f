/**
 * Child processes that cannot outlive their owner: QEMU, qemu-nbd, `qbic-cache serve`.
 *
 * The child runs under a small bash guard that holds a pipe from this process on its stdin.
 * The guard kills the child with SIGKILL when that pipe closes (this process exited, even by
 * SIGKILL, or called {@linkcode GuardedProcess.kill}) or when the hard time limit passes.
 * So a crashed test or a Ctrl-C never leaves a QEMU or a server behind.
 *
 * @module
 */

/** Options for {@linkcode spawnGuarded}. */
export interface GuardedSpawnOptions {
  /** Hard limit: the guard kills the child after this long (default 10 minutes). */
  timeoutMs?: number;
  /** Append the child's stdout here (default: discarded). */
  stdoutPath?: string;
  /** Append the child's stderr here (default: discarded). */
  stderrPath?: string;
  /** Extra environment for the child. */
  env?: Record<string, string>;
  /** Working directory. */
  cwd?: string;
}

/** A running guarded child. */
export interface GuardedProcess {
  /** The child's own pid (not the guard's). */
  readonly pid: number;
  /** Resolves when the child has exited (code 128+N when killed by signal N). */
  readonly status: Promise<{ code: number; signal: string | null }>;
  /** Sends `signal` (default SIGKILL) to the child and waits for it to exit. */
  kill(signal?: Deno.Signal): Promise<void>;
  /** Whether the child has exited. */
  readonly exited: boolean;
}

// $1 = timeout in seconds, $2 = stdout file, $3 = stderr file, $4... = the command.
// fd 3 keeps the owner's pipe; the watcher reads it: EOF (owner gone or kill()) or the
// time limit -> SIGKILL the child. The child's pid goes to the guard's stdout first.
const GUARD = `
t=$1; o=$2; e=$3; shift 3
exec 3<&0
"$@" </dev/null >>"$o" 2>>"$e" &
c=$!
echo "$c"
exec 1>/dev/null
( read -r -t "$t" _ <&3; kill -KILL "$c" 2>/dev/null ) &
w=$!
exec 3<&-
wait "$c"
rc=$?
kill -KILL "$w" 2>/dev/null
wait "$w" 2>/dev/null
exit "$rc"
`;

/**
 * Spawns `cmd args...` under the guard and returns once its pid is known.
 *
 * @example
 * ```ts
 * import { spawnGuarded } from "./guarded_process.ts";
 * const nbd = await spawnGuarded("qemu-nbd", ["-k", "/tmp/d.sock", "-f", "raw", "disk.img"]);
 * try { /* use it *\/ } finally { await nbd.kill(); }
 * ```
 */
export async function spawnGuarded(
  cmd: string,
  args: string[],
  opts: GuardedSpawnOptions = {},
): Promise<GuardedProcess> {
  const seconds = Math.max(1, Math.ceil((opts.timeoutMs ?? 600_000) / 1000));
  const guard = new Deno.Command("/bin/bash", {
    args: [
      "-c",
      GUARD,
      "hvkit-guard",
      String(seconds),
      opts.stdoutPath ?? "/dev/null",
      opts.stderrPath ?? "/dev/null",
      cmd,
      ...args,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "null", // bash's own "Killed" job notices
    env: opts.env,
    cwd: opts.cwd,
  }).spawn();
  const writer = guard.stdin.getWriter();
  const reader = guard.stdout.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const r = await reader.read();
    if (r.done) break;
    text += new TextDecoder().decode(r.value);
  }
  reader.releaseLock();
  guard.stdout.cancel().catch(() => {});
  const pid = Number(text.trim());
  let exited = false;
  const status = guard.status.then((s) => {
    exited = true;
    writer.close().catch(() => {});
    return { code: s.code, signal: s.signal };
  });
  if (!Number.isInteger(pid) || pid <= 0) {
    await status;
    throw new Error(`could not start ${cmd} (guard printed ${JSON.stringify(text)})`);
  }
  return {
    pid,
    status,
    get exited() {
      return exited;
    },
    async kill(signal: Deno.Signal = "SIGKILL") {
      if (exited) return;
      try {
        Deno.kill(pid, signal);
      } catch {
        // already gone
      }
      if (signal === "SIGKILL") {
        // also close the pipe: the guard's watcher kills the child if the signal missed
        await writer.close().catch(() => {});
      }
      await status;
    },
  };
}

/** Whether a pid is a live (not zombie) process, from /proc. */
export function pidAlive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}
