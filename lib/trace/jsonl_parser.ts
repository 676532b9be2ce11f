/**
 * The JSON-lines reader as a LineParser (blank lines are skipped).
 *
 * @module
 */
import type { LineParser } from "./line_parser.ts";
import { parseRecordLine } from "./jsonl.ts";

/** A parser for hvkit's JSON-lines records. */
export function jsonlParser(): LineParser {
  return {
    format: "jsonl",
    parse: (line, n) => line.trim() === "" ? null : parseRecordLine(line, n),
  };
}
