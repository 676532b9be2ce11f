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
  maxRssKiB: number;
  stdout: string;
  code: number;
}

export const TIME_BIN = "/usr/bin/time";

/**
 * Runs `cmd args` under /usr/bin/time (in `cwd` if given); throws when it fails (stderr's tail
 * in the message).
 */
export async function runTimed(cmd: string, args: string[], cwd?: string): Promise<ProcessCost> {
  const tmp = await Deno.makeTempFile({ prefix: "hvkit-time-" });
  try {
    const out = await new Deno.Command(TIME_BIN, {
      args: ["-f", "%e %U %S %M", "-o", tmp, cmd, ...args],
      cwd,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    if (!out.success) {
      const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-2).join(" / ");
      throw new Error(`${cmd}: exit ${out.code}: ${err}`);
    }
    // The last line: a failing command gets a "Command exited with..." line before it.
    const line = (await Deno.readTextFile(tmp)).trim().split("\n").at(-1) ?? "";
    const [wall, user, sys, rss] = line.split(" ").map(Number);
    if (![wall, user, sys, rss].every(Number.isFinite)) {
      throw new Error(`${TIME_BIN}: unexpected output ${JSON.stringify(line)}`);
    }
    return { wallS: wall, cpuS: user + sys, maxRssKiB: rss, stdout, code: out.code };
  } finally {
    await Deno.remove(tmp).catch(() => {});
  }
}
