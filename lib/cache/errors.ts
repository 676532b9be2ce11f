/**
 * The cache library's own errors for bad names and specs given to it (a policy, its
 * parameters, an admission filter). Each carries the offending text; which exit code a tool
 * gives them is decided in lib/cli/errors.ts, not here. No imports, so lib/cli can name these
 * types without loading the policies.
 *
 * @module
 */

/** A policy spec that does not parse (`NAME` or `NAME(key=value,...)`), or a bad parameter. */
export class PolicySpecError extends Error {
  override name = "PolicySpecError";
  /**
   * @param spec the text given, as written
   * @param problem what is wrong with it
   */
  constructor(readonly spec: string, readonly problem: string) {
    super(`--policy ${spec}: ${problem}`);
  }
}

/** A policy name no factory knows. */
export class UnknownPolicyError extends Error {
  override name = "UnknownPolicyError";
  constructor(readonly policy: string, known: readonly string[]) {
    super(`unknown policy '${policy}' (known: ${known.join(", ")})`);
  }
}

/** A capacity that is not a whole, non-negative number of blocks. */
export class PolicyCapacityError extends Error {
  override name = "PolicyCapacityError";
  constructor(readonly capacity: number) {
    super(`capacity must be a non-negative whole number of blocks: ${capacity}`);
  }
}

/** An admission filter name no factory knows; the message lists the known ones. */
export class UnknownAdmissionError extends Error {
  override name = "UnknownAdmissionError";
  constructor(readonly filter: string, known: readonly string[]) {
    super(`unknown admission filter "${filter}" (known: ${known.join(", ")})`);
  }
}

/**
 * The native simulator could not grow a policy's node table (ENOMEM): the access that needed it
 * was refused and the cache left as it was before that access (nothing resident lost). A failure
 * of the machine, not of the input: the tools exit 1.
 */
export class CacheMemoryError extends Error {
  override name = "CacheMemoryError";
  /**
   * @param policy the policy's label
   * @param capacity its capacity in blocks
   * @param request the request (1-based) whose access failed, when replaying
   */
  constructor(readonly policy: string, readonly capacity: number, readonly request?: number) {
    super(
      `out of memory growing the ${policy} cache's table (${capacity} blocks)` +
        (request === undefined
          ? ": the access was refused, the cache is as it was"
          : ` at request ${request}: the replay stopped there (the cache holds what it held ` +
            `before that request's refused block)`),
    );
  }
}
