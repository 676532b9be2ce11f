/**
 * Tencent Cloud Block Storage traces (CBS, SNIA IOTTA 2018): CSV lines
 * `timestamp,offset,size,ioType,volumeId`, timestamp in seconds, offset and size in 512-byte
 * sectors, ioType 0 = read and 1 = write. `ts` becomes nanoseconds since the first record,
 * `dev` the volume id (files mix thousands of volumes: `--device` keeps one).
 *
 * @module
 */
import type { IoRecord } from "./io_record.ts";
import type { LineParser } from "./line_parser.ts";
import { TraceFormatError } from "./jsonl.ts";
import { checkExtent } from "./limits.ts";

const DIGITS = /^\d+$/;
const FIELDS = { off: "offset (bytes)", len: "size (bytes)" };

/** A parser for Tencent CBS traces. */
export function tencentParser(): LineParser {
  let t0: number | undefined;
  return {
    format: "tencent",
    parse(line: string, n: number): IoRecord | null {
      if (line.trim() === "") return null;
      const f = line.split(",").map((s) => s.trim());
      if (f.length !== 5) {
        throw new TraceFormatError(n, `expected 5 comma-separated fields, got ${f.length}`);
      }
      const [ts, off, size, type, vol] = f;
      if (n === 1 && /time/i.test(ts)) return null; // a header
      for (const [name, v] of [["timestamp", ts], ["offset", off], ["size", size]]) {
        if (!DIGITS.test(v)) throw new TraceFormatError(n, `${name} is not a number: ${v}`);
      }
      if (type !== "0" && type !== "1") {
        throw new TraceFormatError(n, `ioType must be 0 (read) or 1 (write), got ${type}`);
      }
      const s = Number(ts);
      t0 ??= s;
      const rec: IoRecord = {
        ts: (s - t0) * 1e9,
        op: type === "0" ? "R" : "W",
        off: Number(off) * 512,
        len: Number(size) * 512,
        dev: vol,
      };
      checkExtent(rec.off, rec.len, n, FIELDS);
      return rec;
    },
  };
}
