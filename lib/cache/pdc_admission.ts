/**
 * PDC (Pollution Defensive Caching) as an admission filter: the guest file system's journal
 * accesses — written once, rarely read, flush-heavy — are kept out of the host cache. A refused
 * request goes to the device directly and the cache drops any copy of its blocks (the contract
 * of {@linkcode AdmissionFilter}), so journal writes neither evict useful blocks nor leave stale
 * copies behind.
 *
 * A request already tagged `"class": "journal"` (by `pdc-filter classify`) is refused whatever
 * the detector says; otherwise the detector decides: exact ranges from `pdc-filter locate`, or
 * the online heuristic. The heuristic learns from the request order, so its caller must show it
 * every request in trace order: R/W/Z through `admit`, F and T through `observe` (the simulator
 * and the live cache layer both do; `admit` on a flush also works and returns true).
 *
 * @module
 */
import type { AdmissionFilter } from "./policy.ts";
import type { IoRecord } from "../trace/io_record.ts";
import type { JournalDetector } from "../pdc/journal_detector.ts";

/** The PDC filter, with counters of what it kept out. */
export interface PdcAdmission extends AdmissionFilter {
  readonly detector: JournalDetector;
  /** Requests refused (journal accesses) so far. */
  readonly refused: number;
  /** Bytes refused so far. */
  readonly refusedBytes: number;
}

/**
 * Wraps a journal detector as an admission filter.
 *
 * @example
 * ```ts
 * import { pdcAdmission } from "./pdc_admission.ts";
 * import { ExactDetector } from "../pdc/journal_detector.ts";
 * const f = pdcAdmission(new ExactDetector([{ off: 0, len: 1 << 20 }]));
 * f.admit({ ts: 0, op: "W", off: 4096, len: 4096 }); // false: a journal write
 * ```
 */
export function pdcAdmission(detector: JournalDetector): PdcAdmission {
  let refused = 0;
  let refusedBytes = 0;
  return {
    name: "pdc",
    detector,
    get refused() {
      return refused;
    },
    get refusedBytes() {
      return refusedBytes;
    },
    admit(req: IoRecord): boolean {
      const journal = detector.observe(req.op, req.off, req.len, req.fua === true, req.dev) ||
        req.class === "journal";
      if (!journal) return true;
      refused++;
      refusedBytes += req.len;
      return false;
    },
    observe(req: IoRecord): void {
      detector.observe(req.op, req.off, req.len, req.fua === true, req.dev);
    },
  };
}
