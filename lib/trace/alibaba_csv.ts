/**
 * Alibaba Cloud block traces (alibaba-block-traces, 2020): CSV lines
 * `device_id,opcode,offset,length,timestamp`, opcode `R` or `W`, offset and length in bytes,
 * timestamp in microseconds. `ts` becomes nanoseconds since the first record, `dev` the
 * device id (files mix about a thousand volumes: `--device` keeps one).
 *
 * @module
 */
import type { IoRecord } from "./io_record.ts";
import type { LineParser } from "./line_parser.ts";
import { TraceFormatError } from "./jsonl.ts";
import { checkExtent } from "./limits.ts";

const DIGITS = /^\d+$/;
const FIELDS = { off: "offset", len: "length" };

/** A parser for Alibaba block traces. */
export function alibabaParser(): LineParser {
  let t0: number | undefined;
  return {
    format: "alibaba",
    parse(line: string, n: number): IoRecord | null {
      if (line.trim() === "") return null;
      const f = line.split(",").map((s) => s.trim());
      if (f.length !== 5) {
        throw new TraceFormatError(n, `expected 5 comma-separated fields, got ${f.length}`);
      }
      const [dev, opcode, off, len, ts] = f;
      if (n === 1 && !DIGITS.test(ts) && /time/i.test(ts)) return null; // a header
      if (opcode !== "R" && opcode !== "W") {
        throw new TraceFormatError(n, `opcode must be R or W, got ${JSON.stringify(opcode)}`);
      }
      for (const [name, v] of [["offset", off], ["length", len], ["timestamp", ts]]) {
        if (!DIGITS.test(v)) throw new TraceFormatError(n, `${name} is not a number: ${v}`);
      }
      const us = Number(ts);
      t0 ??= us;
      const rec: IoRecord = {
        ts: (us - t0) * 1000,
        op: opcode,
        off: Number(off),
        len: Number(len),
        dev,
      };
      checkExtent(rec.off, rec.len, n, FIELDS);
      return rec;
    },
  };
}
