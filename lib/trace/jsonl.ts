/**
 * The I/O record's JSON-lines form (DESIGN.md): parse one line with validation, format one
 * record. Readers of other formats live beside this file.
 *
 * @module
 */
import { type IoRecord, isIoOp } from "./io_record.ts";
import { checkExtent } from "./limits.ts";

/** A malformed record, with the 1-based line number it came from. */
export class TraceFormatError extends Error {
  override name = "TraceFormatError";
  constructor(readonly line: number, readonly reason: string) {
    super(`line ${line}: ${reason}`);
  }
}

/**
 * Parses one JSON line into an I/O record; throws {@linkcode TraceFormatError} naming the line
 * and what was wrong (including `off`/`len` outside lib/trace/limits.ts). Unknown tags are kept.
 *
 * @example
 * ```ts
 * import { parseRecordLine } from "./jsonl.ts";
 * parseRecordLine('{"ts":0,"op":"R","off":4096,"len":4096}', 1).off; // 4096
 * ```
 */
export function parseRecordLine(text: string, line: number): IoRecord {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new TraceFormatError(line, "not JSON");
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new TraceFormatError(line, "not a JSON object");
  }
  const r = v as Record<string, unknown>;
  if (!isIoOp(r.op)) {
    throw new TraceFormatError(line, `op must be one of R W F T Z, got ${JSON.stringify(r.op)}`);
  }
  if (r.ts === undefined) r.ts = 0;
  if (typeof r.ts !== "number" || !Number.isFinite(r.ts)) {
    throw new TraceFormatError(line, "ts must be a number");
  }
  if (r.off === undefined && r.op === "F") r.off = 0;
  if (r.len === undefined && r.op === "F") r.len = 0;
  checkExtent(r.off as number, r.len as number, line);
  if (r.dev !== undefined && typeof r.dev !== "string") {
    throw new TraceFormatError(line, "dev must be a string");
  }
  return r as IoRecord;
}

/** Formats a record as one JSON line (no newline), fields in the documented order first. */
export function formatRecord(rec: IoRecord): string {
  const { ts, op, off, len, dev, ...tags } = rec;
  const head: Record<string, unknown> = { ts, op, off, len };
  if (dev !== undefined) head.dev = dev;
  return JSON.stringify(Object.assign(head, tags));
}
