/**
 * A byte range on a disk, as `pdc-filter locate` prints it: `{"off": bytes, "len": bytes}`.
 *
 * @module
 */

/** One contiguous byte range. */
export interface ByteRange {
  off: number;
  len: number;
}

/**
 * Appends `r` to `out`, merging it into the last range when they touch (keeps the order given).
 *
 * @example
 * ```ts
 * import { pushMerged } from "./byte_range.ts";
 * const out = [{ off: 0, len: 4096 }];
 * pushMerged(out, { off: 4096, len: 4096 }); // out is [{ off: 0, len: 8192 }]
 * ```
 */
export function pushMerged(out: ByteRange[], r: ByteRange): void {
  const last = out[out.length - 1];
  if (last !== undefined && last.off + last.len === r.off) last.len += r.len;
  else out.push({ off: r.off, len: r.len });
}

/** Sorts by offset and merges overlapping or touching ranges (a new array). */
export function normalizeRanges(ranges: readonly ByteRange[]): ByteRange[] {
  const sorted = ranges.filter((r) => r.len > 0).map((r) => ({ off: r.off, len: r.len }))
    .sort((a, b) => a.off - b.off);
  const out: ByteRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && r.off <= last.off + last.len) {
      last.len = Math.max(last.len, r.off + r.len - last.off);
    } else out.push(r);
  }
  return out;
}
