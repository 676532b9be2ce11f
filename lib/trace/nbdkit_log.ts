/**
 * nbdkit's log filter output (`nbdkit --filter=log ... logfile=FILE`): one line per request,
 * `2024-01-02 03:04:05.678901 connection=1 Write id=3 offset=0x1000 count=0x200 fua=0 ...`, and
 * one per reply (`... connection=1 ...Write id=3 return=0 (Success)`). Requests Read, Write,
 * Flush, Trim and Zero become records (`dev` is `conn<N>`, `fua=1` sets `fua`); replies,
 * connection events and other requests (Cache, Extents, BlockStatus) are skipped. `ts` is
 * nanoseconds from the start of the first request's second (wall-clock ns do not fit a double).
 *
 * @module
 */
import type { IoOp, IoRecord } from "./io_record.ts";
import type { LineParser } from "./line_parser.ts";
import { TraceFormatError } from "./jsonl.ts";
import { checkExtent } from "./limits.ts";

const FIELDS = { off: "offset=", len: "count=" };

const LINE = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)(?:\.(\d{1,9}))? (.*)$/;
const OPS: Record<string, IoOp> = { Read: "R", Write: "W", Flush: "F", Trim: "T", Zero: "Z" };

/** A parser for nbdkit's log filter. */
export function nbdkitLogParser(): LineParser {
  let t0: number | undefined;
  return {
    format: "nbdkit-log",
    parse(line: string, n: number): IoRecord | null {
      if (line.trim() === "") return null;
      const m = LINE.exec(line);
      if (!m) throw new TraceFormatError(n, "not an nbdkit log line (no timestamp)");
      const ms = Date.parse(`${m[1]}T${m[2]}Z`);
      if (Number.isNaN(ms)) throw new TraceFormatError(n, `bad timestamp ${m[1]} ${m[2]}`);
      const frac = m[3] ? Number(m[3].padEnd(9, "0")) : 0;
      const words = m[4].split(" ");
      let i = 0, conn = "";
      if (words[0].startsWith("connection=")) {
        conn = words[0].slice(11);
        i = 1;
      }
      const op = OPS[words[i]];
      if (op === undefined) return null; // replies ("...Read"), Connect, Cache, Extents, ...
      const kv: Record<string, string> = {};
      for (const w of words.slice(i + 1)) {
        const e = w.indexOf("=");
        if (e > 0) kv[w.slice(0, e)] = w.slice(e + 1);
      }
      if ("return" in kv) return null;
      const num = (k: string): number => {
        const v = kv[k];
        if (v === undefined) return 0;
        const x = Number(v);
        if (!Number.isSafeInteger(x) || x < 0) throw new TraceFormatError(n, `bad ${k}=${v}`);
        return x;
      };
      if (op !== "F" && !("offset" in kv && "count" in kv)) {
        throw new TraceFormatError(n, `${words[i]} without offset= and count=`);
      }
      t0 ??= ms;
      const rec: IoRecord = {
        ts: (ms - t0) * 1e6 + frac,
        op,
        off: num("offset"),
        len: num("count"),
      };
      checkExtent(rec.off, rec.len, n, FIELDS);
      if (conn) rec.dev = `conn${conn}`;
      if (kv.fua === "1") rec.fua = true;
      return rec;
    },
  };
}
