/**
 * Whole-process cost of one command, as `/usr/bin/time` measures it (wait4's rusage, exact,
 * not sampled): wall and CPU seconds and peak RSS. For comparing hvkit's tools with a peer's
 * binary process against process, start-up and trace reading included.
 *
 * @module
 */

/** What one run cost and printed. */
export interface ProcessCost {
  wallS: number;
  /** User + system CPU seconds. */
  cpuS: number;
  userS: number;
  sysS: number;
  maxRssKiB: number;
  stdout: string;
  code: number;
}

export const TIME_BIN = "/usr/bin/time";

/** Where and how to run: working directory, environment, and whether any exit status will do. */
export interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Keep the figures of a command that exits non-zero (a scanner that found something). */
  anyExit?: boolean;
}

/**
 * Runs `cmd args` under /usr/bin/time; throws when it fails (stderr's tail in the message),
 * unless `anyExit`.
 */
export async function runTimed(
  cmd: string,
  args: string[],
  opts: RunOptions = {},
): Promise<ProcessCost> {
  const tmp = await Deno.makeTempFile({ prefix: "hvkit-time-" });
  try {
    const out = await new Deno.Command(TIME_BIN, {
      args: ["-f", "%e %U %S %M", "-o", tmp, cmd, ...args],
      cwd: opts.cwd,
      env: opts.env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    if (!out.success && !opts.anyExit) {
      const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-2).join(" / ");
      throw new Error(`${cmd}: exit ${out.code}: ${err}`);
    }
    // The last line: a failing command gets a "Command exited with..." line before it.
    const line = (await Deno.readTextFile(tmp)).trim().split("\n").at(-1) ?? "";
    const [wall, user, sys, rss] = line.split(" ").map(Number);
    if (![wall, user, sys, rss].every(Number.isFinite)) {
      throw new Error(`${TIME_BIN}: unexpected output ${JSON.stringify(line)}`);
    }
    return {
      wallS: wall,
      cpuS: user + sys,
      userS: user,
      sysS: sys,
      maxRssKiB: rss,
      stdout,
      code: out.code,
    };
  } finally {
    await Deno.remove(tmp).catch(() => {});
  }
}
