/**
 * libCacheSim's csv form of an oracleGeneral trace: what `traceConv ... --output-txt` writes
 * (`time,obj_id,obj_size,next_access_vtime`, no header) and what libCacheSim's csv reader takes
 * with `-t "time-col=1,obj-id-col=2,obj-size-col=3,delimiter=,"` (three columns, or four).
 * Read as oracleGeneral is: a read of obj_size bytes at obj_id x obj_size, ts = time in ns; a
 * header line naming the columns is skipped. Written by `trace convert --to lcs-csv`, one line
 * per block access, next_access_vtime -1 (see oracle_general.ts).
 *
 * @module
 */
import type { IoRecord } from "./io_record.ts";
import type { LineParser } from "./line_parser.ts";
import { TraceFormatError } from "./jsonl.ts";
import { checkExtent } from "./limits.ts";

const DIGITS = /^\d+$/;
const FIELDS = { off: "obj_id * obj_size", len: "obj_size" };

/** A parser for libCacheSim's csv (oracleGeneral's columns). */
export function lcsCsvParser(): LineParser {
  return {
    format: "lcs-csv",
    parse(line: string, n: number): IoRecord | null {
      if (line.trim() === "") return null;
      const f = line.split(",").map((s) => s.trim());
      if (f.length !== 3 && f.length !== 4) {
        throw new TraceFormatError(n, `expected 3 or 4 comma-separated fields, got ${f.length}`);
      }
      if (n === 1 && !DIGITS.test(f[0]) && /time|id/i.test(line)) return null; // a header
      const [time, id, size] = f;
      for (const [name, v] of [["time", time], ["obj_id", id], ["obj_size", size]]) {
        if (!DIGITS.test(v)) throw new TraceFormatError(n, `${name} is not a number: ${v}`);
      }
      if (f.length === 4 && !/^-?\d+$/.test(f[3])) {
        throw new TraceFormatError(n, `next_access_vtime is not a number: ${f[3]}`);
      }
      const obj = Number(id), len = Number(size);
      if (!Number.isSafeInteger(obj)) throw new TraceFormatError(n, `obj_id ${id} is past 2^53`);
      const rec: IoRecord = { ts: Number(time) * 1e9, op: "R", off: obj * len, len };
      checkExtent(rec.off, rec.len, n, FIELDS);
      return rec;
    },
  };
}

/** Formats the block accesses of one request as lcs-csv lines (none for F, T, or length 0). */
export function lcsCsvLines(rec: IoRecord, blockSize: number): string[] {
  if (rec.op === "F" || rec.op === "T" || rec.len === 0) return [];
  const secs = Math.max(0, Math.floor(rec.ts / 1e9));
  const first = Math.floor(rec.off / blockSize);
  const last = Math.floor((rec.off + rec.len - 1) / blockSize);
  const out: string[] = [];
  for (let b = first; b <= last; b++) out.push(`${secs},${b},${blockSize},-1`);
  return out;
}
