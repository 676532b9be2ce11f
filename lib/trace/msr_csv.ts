/**
 * MSR Cambridge block traces (SNIA IOTTA): CSV lines
 * `Timestamp,Hostname,DiskNumber,Type,Offset,Size,ResponseTime`, the timestamp in Windows
 * FILETIME units (100 ns). `ts` becomes nanoseconds since the first record (FILETIME values do
 * not fit a double exactly), `dev` is `Hostname_DiskNumber`, and the response time is kept as
 * the tag `rt_ns`. A header line naming the columns is skipped.
 *
 * @module
 */
import type { IoRecord } from "./io_record.ts";
import type { LineParser } from "./line_parser.ts";
import { TraceFormatError } from "./jsonl.ts";
import { checkExtent } from "./limits.ts";

const FIELDS = { off: "offset", len: "size" };

const DIGITS = /^\d+$/;

/** A parser for MSR Cambridge CSV. */
export function msrParser(): LineParser {
  let t0: bigint | undefined;
  return {
    format: "msr",
    parse(line: string, n: number): IoRecord | null {
      if (line.trim() === "") return null;
      const f = line.split(",");
      if (f.length !== 7) {
        if (n === 1 && /timestamp/i.test(line)) return null;
        throw new TraceFormatError(n, `expected 7 comma-separated fields, got ${f.length}`);
      }
      if (n === 1 && !DIGITS.test(f[0])) return null; // header
      const [ts, host, disk, type, off, size, rt] = f.map((s) => s.trim());
      if (!DIGITS.test(ts)) throw new TraceFormatError(n, `timestamp is not a number: ${ts}`);
      const t = BigInt(ts);
      if (t0 === undefined) t0 = t;
      const ty = type.toLowerCase();
      if (ty !== "read" && ty !== "write") {
        throw new TraceFormatError(n, `type must be Read or Write, got ${JSON.stringify(type)}`);
      }
      if (!DIGITS.test(off)) throw new TraceFormatError(n, `offset is not a number: ${off}`);
      if (!DIGITS.test(size)) throw new TraceFormatError(n, `size is not a number: ${size}`);
      const rec: IoRecord = {
        ts: Number(t - t0) * 100,
        op: ty === "read" ? "R" : "W",
        off: Number(off),
        len: Number(size),
        dev: `${host}_${disk}`,
      };
      if (DIGITS.test(rt)) rec.rt_ns = Number(rt) * 100;
      checkExtent(rec.off, rec.len, n, FIELDS);
      return rec;
    },
  };
}
