/**
 * The limits every trace reader enforces (docs/limits.md, "Traces and simulation"), declared
 * once. A record outside them is refused with a TraceFormatError naming the line and the field,
 * in the format's own words ("size", "count=", "sectors").
 *
 * - A request's length is at most {@linkcode MAX_REQUEST_LEN} (4 GiB - 1): the largest a Linux
 *   bio carries (u32 `bi_size`; `blkdiscard` and `fstrim` issue discards of nearly that size)
 *   and what the binary form's u32 field holds. MSR, Alibaba, fio and nbdkit requests are far
 *   smaller (at most a few MiB).
 * - A request starts below and ends at or below {@linkcode MAX_OFFSET_END} (2^53 bytes, 8 PiB):
 *   every byte offset up to it is exact in a double, which is what the records, the column
 *   chunks and the native simulator carry.
 * - A text line is at most {@linkcode MAX_LINE_CHARS} characters, so a file without newlines
 *   cannot grow the reader's buffer without bound.
 * - A device name is at most {@linkcode MAX_DEV_NAME_BYTES} bytes of UTF-8 (binary form).
 *
 * @module
 */
import { TraceFormatError } from "./jsonl.ts";

/** The longest request, in bytes (4 GiB - 1). */
export const MAX_REQUEST_LEN = 0xffffffff;
/** The end (off + len) of every request is at most this many bytes (2^53). */
export const MAX_OFFSET_END = 2 ** 53;
/** The longest line a text reader takes, in UTF-16 code units (1 Mi). */
export const MAX_LINE_CHARS = 1 << 20;
/** The longest device name of the binary form, in bytes. */
export const MAX_DEV_NAME_BYTES = 4096;

/** The field names a format uses for a request's offset and length, as its users know them. */
export interface ExtentFields {
  off: string;
  len: string;
}

const DEFAULT_FIELDS: ExtentFields = { off: "off", len: "len" };

/**
 * Refuses a request whose `off` or `len` is not a whole number in range, or that ends past
 * {@linkcode MAX_OFFSET_END}. `line` is the 1-based line (or record) number.
 */
export function checkExtent(
  off: number,
  len: number,
  line: number,
  fields: ExtentFields = DEFAULT_FIELDS,
): void {
  // Number.isInteger, not isSafeInteger: a large whole number gets the range message below.
  if (!(Number.isInteger(off) && off >= 0)) {
    throw new TraceFormatError(line, `${fields.off} must be a non-negative integer, got ${off}`);
  }
  if (!(Number.isInteger(len) && len >= 0)) {
    throw new TraceFormatError(line, `${fields.len} must be a non-negative integer, got ${len}`);
  }
  if (len > MAX_REQUEST_LEN) {
    throw new TraceFormatError(
      line,
      `${fields.len} ${len} is above the longest request, ${MAX_REQUEST_LEN} bytes (4 GiB - 1)`,
    );
  }
  // MAX - off, not off + len: the sum rounds past 2^53 (2^53 + 1 becomes 2^53).
  if (off >= MAX_OFFSET_END || len > MAX_OFFSET_END - off) {
    throw new TraceFormatError(
      line,
      `${fields.off} ${off} + ${fields.len} ${len} ends past 2^53 bytes (the largest offset)`,
    );
  }
}
