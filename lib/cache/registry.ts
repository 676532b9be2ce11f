/**
 * Policies by name, as `--policy` spells them: the simulator and the live cache pick a policy
 * here and never branch on which one they hold.
 *
 * @module
 */
import type { CachePolicy, PolicyFactory } from "./policy.ts";
import { LruPolicy } from "./lru.ts";
import { QbicPolicy } from "./qbic.ts";
import { UsageError } from "../cli/errors.ts";

const FACTORIES: Record<string, PolicyFactory> = {
  lru: (c) => new LruPolicy(c),
  qbic: (c) => new QbicPolicy(c),
};

/** Every policy name `createPolicy` knows, in a stable order. */
export const POLICY_NAMES: readonly string[] = Object.freeze(Object.keys(FACTORIES));

/** An unknown policy name (a usage error: the CLI exits 2). */
export class UnknownPolicyError extends UsageError {
  constructor(readonly policy: string) {
    super(`unknown policy '${policy}' (known: ${POLICY_NAMES.join(", ")})`);
  }
}

/**
 * Builds the policy `name` with room for `capacityBlocks` blocks.
 *
 * @example
 * ```ts
 * import { createPolicy } from "./registry.ts";
 * const p = createPolicy("lru", 2);
 * p.access(7, false); // false: a miss, now cached
 * p.access(7, false); // true
 * ```
 */
export function createPolicy(name: string, capacityBlocks: number): CachePolicy {
  const f = Object.hasOwn(FACTORIES, name) ? FACTORIES[name] : undefined;
  if (!f) throw new UnknownPolicyError(name);
  if (!Number.isSafeInteger(capacityBlocks) || capacityBlocks < 0) {
    throw new UsageError(
      `capacity must be a non-negative whole number of blocks: ${capacityBlocks}`,
    );
  }
  return f(capacityBlocks);
}
