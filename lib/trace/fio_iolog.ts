/**
 * fio's iolog, versions 2 and 3 (`write_iolog`, `read_iolog`). The first line is
 * `fio version 2 iolog` or `fio version 3 iolog`; then `FILE ACTION [OFFSET LENGTH]` (v3 puts a
 * millisecond timestamp first). Actions read/write/trim become R/W/T, sync and datasync become
 * F; add/open/close and wait are skipped. `dev` is the file name; v2 records have `ts` 0.
 *
 * @module
 */
import type { IoOp, IoRecord } from "./io_record.ts";
import type { LineParser } from "./line_parser.ts";
import { TraceFormatError } from "./jsonl.ts";
import { checkExtent } from "./limits.ts";

const FIELDS = { off: "offset", len: "length" };

const OPS: Record<string, IoOp> = { read: "R", write: "W", trim: "T", sync: "F", datasync: "F" };
const SKIP = new Set(["add", "open", "close", "wait"]);

/** A parser for fio iolog v2/v3. */
export function fioIologParser(): LineParser {
  let version = 0;
  return {
    format: "fio-iolog",
    parse(line: string, n: number): IoRecord | null {
      const t = line.trim();
      if (t === "") return null;
      if (version === 0) {
        const m = /^fio version (\d+) iolog$/.exec(t);
        if (!m || (m[1] !== "2" && m[1] !== "3")) {
          throw new TraceFormatError(n, "expected 'fio version 2 iolog' or 'fio version 3 iolog'");
        }
        version = Number(m[1]);
        return null;
      }
      const f = t.split(/\s+/);
      let ts = 0;
      if (version === 3) {
        const ms = Number(f.shift());
        if (!Number.isFinite(ms) || ms < 0) throw new TraceFormatError(n, "bad v3 timestamp");
        ts = Math.round(ms * 1e6);
      }
      if (f.length < 2) throw new TraceFormatError(n, "expected FILE ACTION [OFFSET LENGTH]");
      const [file, action] = f;
      if (SKIP.has(action)) return null;
      const op = OPS[action];
      if (op === undefined) {
        throw new TraceFormatError(n, `unknown iolog action ${JSON.stringify(action)}`);
      }
      if (op === "F") return { ts, op, off: 0, len: 0, dev: file };
      if (f.length < 4) throw new TraceFormatError(n, `${action} without OFFSET LENGTH`);
      const off = Number(f[2]), len = Number(f[3]);
      if (!Number.isSafeInteger(off) || off < 0 || !Number.isSafeInteger(len) || len < 0) {
        throw new TraceFormatError(n, `bad offset/length: ${f[2]} ${f[3]}`);
      }
      checkExtent(off, len, n, FIELDS);
      return { ts, op, off, len, dev: file };
    },
  };
}
