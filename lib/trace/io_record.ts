/**
 * The I/O record that tools exchange (DESIGN.md, "Data between tools"): one JSON object a line,
 * `{"ts": ns, "op": "R"|"W"|"F"|"T"|"Z", "off": bytes, "len": bytes, "dev": "name", ...}` plus
 * optional tags.
 *
 * @module
 */

/** Read, Write, Flush, Trim, Zero. */
export type IoOp = "R" | "W" | "F" | "T" | "Z";

/** The classes pdc-filter and friends tag records with. */
export type IoClass = "journal" | "metadata" | "data" | "other";

/** One I/O request. `ts` is nanoseconds (from any fixed origin); `off` and `len` are bytes. */
export interface IoRecord {
  ts: number;
  op: IoOp;
  off: number;
  len: number;
  dev?: string;
  /** Set by a classifier (pdc-filter classify). */
  class?: IoClass;
  /** Set by a cache: every block of the request hit. */
  hit?: boolean;
  /** Write with FUA. */
  fua?: boolean;
  /** Other tags are kept as they are. */
  [tag: string]: unknown;
}

/** True when `op` is one of the five I/O ops. */
export function isIoOp(op: unknown): op is IoOp {
  return op === "R" || op === "W" || op === "F" || op === "T" || op === "Z";
}
