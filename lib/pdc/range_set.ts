/**
 * A sorted, merged set of byte ranges with an O(log n) overlap test: the exact journal map
 * that `locate` produces, asked once per I/O request.
 *
 * @module
 */
import { type ByteRange, normalizeRanges } from "./byte_range.ts";

/**
 * Byte ranges to test requests against.
 *
 * @example
 * ```ts
 * import { RangeSet } from "./range_set.ts";
 * const s = new RangeSet([{ off: 4096, len: 8192 }]);
 * s.overlaps(8192, 512); // true
 * s.overlaps(0, 4096); // false
 * ```
 */
export class RangeSet {
  readonly ranges: readonly ByteRange[];
  #starts: Float64Array;
  #ends: Float64Array;

  constructor(ranges: readonly ByteRange[]) {
    for (const r of ranges) {
      if (!Number.isSafeInteger(r.off) || !Number.isSafeInteger(r.len) || r.off < 0 || r.len < 0) {
        throw new RangeError(`bad range ${JSON.stringify(r)}: off and len must be integers >= 0`);
      }
    }
    this.ranges = normalizeRanges(ranges);
    this.#starts = Float64Array.from(this.ranges, (r) => r.off);
    this.#ends = Float64Array.from(this.ranges, (r) => r.off + r.len);
  }

  /** True when [off, off+len) shares at least one byte with a range. */
  overlaps(off: number, len: number): boolean {
    if (len <= 0) return false;
    const starts = this.#starts;
    // Last range starting before the request's end.
    let lo = 0;
    let hi = starts.length;
    const end = off + len;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (starts[mid] < end) lo = mid + 1;
      else hi = mid;
    }
    return lo > 0 && this.#ends[lo - 1] > off;
  }
}
