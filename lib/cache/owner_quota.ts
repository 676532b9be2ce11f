/**
 * Per-owner maximum shares over any policy: many VMs in one pool (QBic's host cache), where the
 * wrapped policy decides what stays by its own rule (frequency for `qbic`, recency for `lru`, ...)
 * across all VMs, and no VM may hold more than its maximum. When an access leaves a VM over its
 * maximum, the block of that VM used least recently is removed (and passed to `onEvict`, so the
 * live cache writes it back if dirty). Owners without a maximum are bounded only by the pool.
 *
 * Minimum shares are not enforced: the wrapped policies pick their own victims and have no
 * per-owner eviction. A VM's minimum holds only in `static` allocation (fixed shares).
 *
 * @module
 */
import type { CachePolicy } from "./policy.ts";

/**
 * A policy with per-owner caps.
 *
 * @example
 * ```ts
 * import { createPolicy } from "./registry.ts";
 * import { OwnerQuotaPolicy } from "./owner_quota.ts";
 * // blocks 0..999 belong to VM 0, 1000.. to VM 1; VM 0 may hold at most 2 of the 8 blocks
 * const p = new OwnerQuotaPolicy(createPolicy("lru", 8), (b) => b < 1000 ? 0 : 1, [2, Infinity]);
 * for (const b of [1, 2, 3]) p.access(b, false);
 * p.has(1); // false: VM 0's least recently used block made room for block 3
 * ```
 */
export class OwnerQuotaPolicy implements CachePolicy {
  onEvict: (block: number) => void = () => {};
  /** Each owner's resident blocks, least recently used first (a Map keeps insertion order). */
  readonly #resident: Map<number, true>[];

  constructor(
    readonly inner: CachePolicy,
    readonly ownerOf: (block: number) => number,
    readonly maxBlocks: number[],
  ) {
    this.#resident = maxBlocks.map(() => new Map());
    inner.onEvict = (b) => {
      this.#resident[this.ownerOf(b)]?.delete(b);
      this.onEvict(b);
    };
  }

  get name(): string {
    return this.inner.name;
  }
  get capacity(): number {
    return this.inner.capacity;
  }
  get used(): number {
    return this.inner.used;
  }

  /** Blocks `owner` holds now. */
  heldBy(owner: number): number {
    return this.#resident[owner]?.size ?? 0;
  }

  access(block: number, isWrite: boolean): boolean {
    const hit = this.inner.access(block, isWrite);
    const owner = this.ownerOf(block);
    const mine = this.#resident[owner];
    if (mine === undefined) return hit;
    if (this.inner.has(block)) {
      mine.delete(block);
      mine.set(block, true); // most recently used last
      while (mine.size > this.maxBlocks[owner]) {
        const victim = mine.keys().next().value as number;
        mine.delete(victim);
        this.inner.remove(victim);
        this.onEvict(victim);
      }
    }
    return hit;
  }

  has(block: number): boolean {
    return this.inner.has(block);
  }

  remove(block: number): void {
    this.#resident[this.ownerOf(block)]?.delete(block);
    this.inner.remove(block);
  }
}
