/**
 * The one interface both journal classifiers implement: the exact one (ranges from `locate`)
 * and the online heuristic. A detector sees every request of one stream in order, flushes
 * included, and answers whether it is a journal access. Primitive arguments keep the hot loop
 * free of allocation (the binary trace reader calls it directly).
 *
 * @module
 */
import { RangeSet } from "./range_set.ts";
import type { ByteRange } from "./byte_range.ts";

/** How a class was decided, as `classify` writes it in `classBy`. */
export type DetectorMethod = "image" | "heuristic";

/** Decides, request by request, whether an access is to the file system's journal. */
export interface JournalDetector {
  readonly method: DetectorMethod;
  /**
   * One request, in trace order. `op` is R W F T Z; `fua` is the write's FUA flag; `dev`
   * separates devices in a mixed trace. Returns true for a journal access (flushes: false).
   */
  observe(op: string, off: number, len: number, fua: boolean, dev?: string): boolean;
}

/**
 * The exact detector: a request is a journal access when it overlaps the journal's ranges.
 *
 * @example
 * ```ts
 * import { ExactDetector } from "./journal_detector.ts";
 * const d = new ExactDetector([{ off: 1 << 20, len: 1 << 22 }]);
 * d.observe("W", 1 << 20, 4096, false); // true
 * ```
 */
export class ExactDetector implements JournalDetector {
  readonly method = "image" as const;
  readonly set: RangeSet;
  constructor(ranges: readonly ByteRange[]) {
    this.set = new RangeSet(ranges);
  }
  observe(op: string, off: number, len: number): boolean {
    return op !== "F" && this.set.overlaps(off, len);
  }
}
