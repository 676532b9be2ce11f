/**
 * Checks of the cache and block sizes `sim`, `mrc` and `trace stats` take: a usage error naming
 * the option, instead of a grid of empty caches that exits 0.
 *
 * @module
 */
import { formatSize, UsageError } from "../../lib/cli/mod.ts";

/** A block size must be a power of two (at least one byte). */
export function checkBlockSize(bs: number): number {
  if (!isPowerOfTwo(bs)) {
    throw new UsageError(`--block-size ${bs}: not a power of two (e.g. 512, 4k, 64k)`);
  }
  return bs;
}

// Halving is exact for doubles, so this holds past 32 bits, where `n & (n - 1)` does not.
function isPowerOfTwo(n: number): boolean {
  if (!(n >= 1 && Number.isSafeInteger(n))) return false;
  while (n % 2 === 0) n /= 2;
  return n === 1;
}

/** Each cache size must hold at least one block; `option` names the option in the message. */
export function checkCacheSizes(option: string, sizes: number[], bs: number): number[] {
  if (sizes.length === 0) throw new UsageError(`${option}: give at least one size`);
  for (const s of sizes) {
    if (s <= 0) throw new UsageError(`${option} ${s}: a cache size must be more than 0`);
    if (s < bs) {
      throw new UsageError(
        `${option} ${formatSize(s)}: smaller than one block (--block-size ${formatSize(bs)})`,
      );
    }
  }
  return sizes;
}
