/**
 * Scores one journal detector against another on the same trace: the heuristic against the
 * exact ranges, as `pdc-filter eval` reports it. Counted over data-carrying requests (R, W, Z,
 * T); flushes are fed to both detectors but not scored.
 *
 * @module
 */
import type { JournalDetector } from "./journal_detector.ts";

/** Confusion counts, by requests and by bytes, with precision and recall. */
export interface EvalResult {
  requests: number;
  /** Journal by the reference (exact) method. */
  journal: number;
  truePositive: number;
  falsePositive: number;
  falseNegative: number;
  /** Writes only: the requests an admission filter would keep out. */
  journalWrites: number;
  truePositiveWrites: number;
  falsePositiveWrites: number;
  bytesJournal: number;
  bytesTruePositive: number;
  bytesFalsePositive: number;
  /** tp / (tp + fp); 1 when nothing was predicted. */
  precision: number;
  /** tp / (tp + fn); 1 when there was nothing to find. */
  recall: number;
  /** The same over bytes. */
  bytePrecision: number;
  byteRecall: number;
  /** Writes only. */
  writePrecision: number;
  writeRecall: number;
}

const ratio = (a: number, b: number) => (b === 0 ? 1 : a / b);

/**
 * Accumulates a comparison request by request.
 *
 * @example
 * ```ts
 * import { Evaluator } from "./evaluate.ts";
 * import { ExactDetector } from "./journal_detector.ts";
 * const ev = new Evaluator(new ExactDetector([{ off: 0, len: 8192 }]), new ExactDetector([]));
 * ev.step("W", 0, 4096, false);
 * ev.result().recall; // 0
 * ```
 */
export class Evaluator {
  #c = {
    requests: 0,
    journal: 0,
    tp: 0,
    fp: 0,
    jw: 0,
    tpw: 0,
    fpw: 0,
    bj: 0,
    btp: 0,
    bfp: 0,
  };
  constructor(readonly reference: JournalDetector, readonly candidate: JournalDetector) {}

  /** One request; returns [reference, candidate] answers. */
  step(op: string, off: number, len: number, fua: boolean, dev?: string): [boolean, boolean] {
    const ref = this.reference.observe(op, off, len, fua, dev);
    const got = this.candidate.observe(op, off, len, fua, dev);
    if (op === "F") return [ref, got];
    const c = this.#c;
    const isWrite = op === "W" || op === "Z";
    c.requests++;
    if (ref) {
      c.journal++;
      c.bj += len;
      if (isWrite) c.jw++;
    }
    if (got) {
      if (ref) {
        c.tp++;
        c.btp += len;
        if (isWrite) c.tpw++;
      } else {
        c.fp++;
        c.bfp += len;
        if (isWrite) c.fpw++;
      }
    }
    return [ref, got];
  }

  result(): EvalResult {
    const c = this.#c;
    return {
      requests: c.requests,
      journal: c.journal,
      truePositive: c.tp,
      falsePositive: c.fp,
      falseNegative: c.journal - c.tp,
      journalWrites: c.jw,
      truePositiveWrites: c.tpw,
      falsePositiveWrites: c.fpw,
      bytesJournal: c.bj,
      bytesTruePositive: c.btp,
      bytesFalsePositive: c.bfp,
      precision: ratio(c.tp, c.tp + c.fp),
      recall: ratio(c.tp, c.journal),
      bytePrecision: ratio(c.btp, c.btp + c.bfp),
      byteRecall: ratio(c.btp, c.bj),
      writePrecision: ratio(c.tpw, c.tpw + c.fpw),
      writeRecall: ratio(c.tpw, c.jw),
    };
  }
}
