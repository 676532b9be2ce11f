/**
 * The shape every text trace reader has: one parser object per stream (it may keep state, such
 * as the first timestamp), fed one line at a time. `parse` returns a record, `null` for a line
 * that is not a request (a header, a reply, a summary), or throws TraceFormatError.
 *
 * @module
 */
import type { IoRecord } from "./io_record.ts";

/** A stateful parser for one text trace format. */
export interface LineParser {
  readonly format: string;
  /** One line (no newline) with its 1-based number. */
  parse(line: string, n: number): IoRecord | null;
}
