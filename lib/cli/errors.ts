/**
 * Errors and exit codes: the CLI's own {@linkcode UsageError} and {@linkcode ToolError}, and the
 * one place where library errors become exit codes ({@linkcode describeError}).
 *
 * @module
 */
import {
  PolicyCapacityError,
  PolicySpecError,
  UnknownAdmissionError,
  UnknownPolicyError,
} from "../cache/errors.ts";

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
 * Library errors that say the caller named something that does not exist or wrote it wrong:
 * the tools exit with them as with a {@linkcode UsageError} (2). The library throws its own
 * types (lib/cache/errors.ts); only this table decides their exit code.
 */
const USAGE_ERRORS: readonly (abstract new (...args: never[]) => Error)[] = [
  PolicySpecError,
  UnknownPolicyError,
  PolicyCapacityError,
  UnknownAdmissionError,
];

/** True for a {@linkcode UsageError} or a library error that means the same (exit 2). */
export function isUsageError(e: unknown): e is Error {
  return e instanceof UsageError || USAGE_ERRORS.some((t) => e instanceof t);
}

/**
 * The one-line message and exit code for anything thrown out of a tool. Usage errors (and the
 * library errors mapped to them above) exit 2, everything else 1; a stack trace only with
 * `HVKIT_DEBUG=1`.
 *
 * @example
 * ```ts
 * import { describeError, UsageError } from "./errors.ts";
 * describeError("daio", new UsageError("--bs: not a size: 4X")); // { line: "daio: --bs: ...", code: 2 }
 * ```
 */
export function describeError(tool: string, e: unknown): { line: string; code: number } {
  const debug = Deno.env.get("HVKIT_DEBUG") === "1";
  if (isUsageError(e)) return { line: `${tool}: ${e.message}`, code: EXIT.usage };
  if (e instanceof Error) {
    const first = (e.message || e.name).split("\n")[0];
    const line = `${tool}: ${first}` + (debug && e.stack ? `\n${e.stack}` : "");
    return { line, code: EXIT.failure };
  }
  return { line: `${tool}: ${String(e)}`, code: EXIT.failure };
}
