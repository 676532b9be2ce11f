/** A mistake in how the tool was called: exit code 2, one line, no stack trace. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** A failure the user should see as one line (a missing file, a refused device): exit code 1. */
export class ToolError extends Error {
  override name = "ToolError";
}

/** Exit codes shared by every hvkit tool. */
export const EXIT = { ok: 0, failure: 1, usage: 2, interrupted: 130 } as const;

/**
 * The one-line message and exit code for anything thrown out of a tool. Usage errors exit 2,
 * everything else 1; a stack trace only with `HVKIT_DEBUG=1`.
 *
 * @example
 * ```ts
 * import { describeError, UsageError } from "./errors.ts";
 * describeError("daio", new UsageError("--bs: not a size: 4X")); // { line: "daio: --bs: ...", code: 2 }
 * ```
 */
export function describeError(tool: string, e: unknown): { line: string; code: number } {
  const debug = Deno.env.get("HVKIT_DEBUG") === "1";
  if (e instanceof UsageError) return { line: `${tool}: ${e.message}`, code: EXIT.usage };
  if (e instanceof Error) {
    const first = (e.message || e.name).split("\n")[0];
    const line = `${tool}: ${first}` + (debug && e.stack ? `\n${e.stack}` : "");
    return { line, code: EXIT.failure };
  }
  return { line: `${tool}: ${String(e)}`, code: EXIT.failure };
}
