/**
 * Policies by name, as `--policy` spells them: the simulator and the live cache pick a policy
 * here and never branch on which one they hold.
 *
 * @module
 */
import type { CachePolicy, PolicyFactory } from "./policy.ts";
import { ArcPolicy } from "./arc.ts";
import { BeladyPolicy } from "./belady.ts";
import { ClockPolicy } from "./clock.ts";
import { FifoPolicy } from "./fifo.ts";
import { LfuPolicy } from "./lfu.ts";
import { LruPolicy } from "./lru.ts";
import { QbicPolicy } from "./qbic.ts";
import { S3FifoPolicy } from "./s3fifo.ts";
import { SievePolicy } from "./sieve.ts";
import { TwoQPolicy } from "./two_q.ts";
import { PolicyCapacityError, UnknownPolicyError } from "./errors.ts";
import { parsePolicySpec } from "./policy_params.ts";

/** A policy from its parameters (POLICY_PARAMS order). */
type ParamFactory = (capacity: number, params: number[]) => CachePolicy;

const WITH_PARAMS: Record<string, ParamFactory> = {
  s3fifo: (c, p) => new S3FifoPolicy(c, p[0], p[1], p[2], p[3] === 1),
  "2q": (c, p) => new TwoQPolicy(c, p[0], p[1]),
};

const FACTORIES: Record<string, PolicyFactory> = {
  fifo: (c) => new FifoPolicy(c),
  lru: (c) => new LruPolicy(c),
  clock: (c) => new ClockPolicy(c),
  lfu: (c) => new LfuPolicy(c),
  "2q": (c) => new TwoQPolicy(c),
  arc: (c) => new ArcPolicy(c),
  s3fifo: (c) => new S3FifoPolicy(c),
  sieve: (c) => new SievePolicy(c),
  qbic: (c) => new QbicPolicy(c),
  belady: (c) => new BeladyPolicy(c),
};

/**
 * Every policy name `createPolicy` knows, in a stable order. `belady` (OPT) needs the whole
 * future and works only in simulation.
 */
export const POLICY_NAMES: readonly string[] = Object.freeze(Object.keys(FACTORIES));

/** Policies that can run in front of a live cache (all but Belady's OPT). */
export const ONLINE_POLICY_NAMES: readonly string[] = Object.freeze(
  POLICY_NAMES.filter((n) => n !== "belady"),
);

export { PolicyCapacityError, UnknownPolicyError };

/**
 * Builds the policy `name` with room for `capacityBlocks` blocks. Throws
 * {@linkcode UnknownPolicyError}, {@linkcode PolicyCapacityError}, or (for a bad
 * `NAME(key=value,...)`) a PolicySpecError.
 *
 * @example
 * ```ts
 * import { createPolicy } from "./registry.ts";
 * const p = createPolicy("lru", 2);
 * p.access(7, false); // false: a miss, now cached
 * p.access(7, false); // true
 * ```
 */
export function createPolicy(spec: string, capacityBlocks: number): CachePolicy {
  // A bare known name is the common case; anything else is NAME(key=value,...).
  const bare = Object.hasOwn(FACTORIES, spec);
  const parsed = bare ? undefined : parsePolicySpec(spec);
  const name = parsed?.name ?? spec;
  const f = Object.hasOwn(FACTORIES, name) ? FACTORIES[name] : undefined;
  if (!f) throw new UnknownPolicyError(name, POLICY_NAMES);
  if (!Number.isSafeInteger(capacityBlocks) || capacityBlocks < 0) {
    throw new PolicyCapacityError(capacityBlocks);
  }
  if (parsed && Object.hasOwn(WITH_PARAMS, name)) {
    return WITH_PARAMS[name](capacityBlocks, parsed.params);
  }
  return f(capacityBlocks);
}
