/**
 * blkparse's default text output:
 * `  8,0    3        1     0.000000000   697  Q   W 223490 + 8 [kjournald]`
 * (device, cpu, sequence, seconds, pid, action, RWBS, sector + sectors, [process]).
 * One action is taken as the request stream: the first of Q (queued), D (issued) or C
 * (completed) that appears in the trace; other actions (merges, plugs, messages) are skipped.
 * RWBS: D (discard) -> T, W -> W, R -> R, a bare F (flush, no sectors) -> F; N (none) is skipped.
 * Sectors are 512 bytes. The per-CPU summary that ends blkparse's output is skipped.
 *
 * @module
 */
import type { IoOp, IoRecord } from "./io_record.ts";
import type { LineParser } from "./line_parser.ts";
import { TraceFormatError } from "./jsonl.ts";
import { checkExtent } from "./limits.ts";

const FIELDS = { off: "sector (bytes)", len: "sectors (bytes)" };

const DEV = /^\d+,\d+$/;

/** A parser for blkparse's default output. */
export function blkparseParser(): LineParser {
  let action: string | undefined;
  let summary = false;
  return {
    format: "blkparse",
    parse(line: string, n: number): IoRecord | null {
      const t = line.trim();
      if (t === "" || summary) return null;
      const f = t.split(/\s+/);
      if (!DEV.test(f[0])) {
        if (/^(CPU\d+|Total) \(/.test(t)) {
          summary = true;
          return null;
        }
        throw new TraceFormatError(
          n,
          `not a blkparse event line: ${JSON.stringify(t.slice(0, 60))}`,
        );
      }
      if (f.length < 7) throw new TraceFormatError(n, "too few fields for a blkparse event");
      const act = f[5];
      if (action === undefined && (act === "Q" || act === "D" || act === "C")) action = act;
      if (act !== action) return null;
      const rwbs = f[6];
      const secs = Number(f[3]);
      if (!Number.isFinite(secs)) throw new TraceFormatError(n, `bad time: ${f[3]}`);
      let op: IoOp | null = null;
      if (rwbs.includes("D")) op = "T";
      else if (rwbs.includes("W")) op = "W";
      else if (rwbs.includes("R")) op = "R";
      else if (rwbs.includes("F")) op = "F";
      if (op === null) return null;
      const rec: IoRecord = { ts: Math.round(secs * 1e9), op, off: 0, len: 0, dev: f[0] };
      if (f[8] === "+") {
        const sector = Number(f[7]), count = Number(f[9]);
        if (
          !Number.isSafeInteger(sector) || !Number.isSafeInteger(count) || sector < 0 || count < 0
        ) {
          throw new TraceFormatError(n, `bad sector range: ${f[7]} + ${f[9]}`);
        }
        rec.off = sector * 512;
        rec.len = count * 512;
        checkExtent(rec.off, rec.len, n, FIELDS);
      } else if (op !== "F") {
        // A write with FUA/flush flags but no range is a pure flush (e.g. "FWS").
        if (rwbs.includes("F")) rec.op = "F";
        else return null;
      }
      if (rwbs.includes("F") && rec.op === "W" && rwbs.endsWith("F")) rec.fua = true;
      return rec;
    },
  };
}
