/**
 * JSON for values with 64-bit fields (bigints): a bigint up to 2^53 - 1 is written as a JSON
 * number, a larger one as a hex string (`"0xfffffffffffff000"`), the two forms the audit
 * trace format reads back.
 *
 * @module
 */

/**
 * `JSON.stringify` that writes bigints as numbers, or as hex strings past 2^53 - 1.
 *
 * @example
 * ```ts
 * import { toJson64 } from "./json64.ts";
 * toJson64({ iova: 0xfffffffffffff000n, len: 4096n }); // '{"iova":"0xfffffffffffff000","len":4096}'
 * ```
 */
export function toJson64(value: unknown): string {
  return JSON.stringify(
    value,
    (_k, x) =>
      typeof x !== "bigint"
        ? x
        : x >= 0n && x <= BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(x)
        : "0x" + x.toString(16),
  );
}
