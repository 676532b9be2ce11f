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
 * Two refinements the PDC paper implies, each an option (named in the filter's `label`, e.g.
 * `pdc(exact,checkpoint,demote)`):
 * - `checkpoint`: the checkpoint writes too — jbd2 writing journaled metadata to its home blocks
 *   — are refused: writes (not reads) into the file system's fixed metadata ranges
 *   (lib/pdc/ext4_metadata.ts).
 * - `demote`: a refused request is not kept out but cached at the policy's eviction end
 *   (`refusal: "demote"`): it displaces at most the block that was about to go anyway, and a
 *   journal block that _is_ read back soon still hits.
 *
 * @module
 */
import type { AdmissionFilter } from "./policy.ts";
import type { IoRecord } from "../trace/io_record.ts";
import type { JournalDetector } from "../pdc/journal_detector.ts";
import { RangeSet } from "../pdc/range_set.ts";
import type { ByteRange } from "../pdc/byte_range.ts";

/** The refinements of {@linkcode pdcAdmission}. */
export interface PdcOptions {
  /** Byte ranges whose writes are checkpoint writes, refused like the journal's. */
  checkpoint?: readonly ByteRange[];
  /** Demote refused requests to the eviction end rather than keep them out. */
  demote?: boolean;
}

/** The PDC filter, with counters of what it kept out. */
export interface PdcAdmission extends AdmissionFilter {
  readonly detector: JournalDetector;
  /** Requests refused (journal accesses) so far. */
  readonly refused: number;
  /** Bytes refused so far. */
  readonly refusedBytes: number;
  /** Of the refused requests, the checkpoint writes. */
  readonly refusedCheckpoint: number;
  /** The checkpoint ranges (option `checkpoint`), or null. */
  readonly checkpoint: RangeSet | null;
  readonly label: string;
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
export function pdcAdmission(detector: JournalDetector, opts: PdcOptions = {}): PdcAdmission {
  let refused = 0;
  let refusedBytes = 0;
  let refusedCheckpoint = 0;
  const checkpoint = opts.checkpoint ? new RangeSet(opts.checkpoint) : null;
  const how = [detector.method === "image" ? "exact" : "heuristic"];
  if (checkpoint) how.push("checkpoint");
  if (opts.demote) how.push("demote");
  return {
    name: "pdc",
    label: `pdc(${how.join(",")})`,
    refusal: opts.demote ? "demote" : "bypass",
    detector,
    checkpoint,
    get refusedCheckpoint() {
      return refusedCheckpoint;
    },
    get refused() {
      return refused;
    },
    get refusedBytes() {
      return refusedBytes;
    },
    admit(req: IoRecord): boolean {
      const journal = detector.observe(req.op, req.off, req.len, req.fua === true, req.dev) ||
        req.class === "journal";
      if (!journal) {
        if (checkpoint === null || req.op === "R" || !checkpoint.overlaps(req.off, req.len)) {
          return true;
        }
        refusedCheckpoint++;
      }
      refused++;
      refusedBytes += req.len;
      return false;
    },
    observe(req: IoRecord): void {
      detector.observe(req.op, req.off, req.len, req.fua === true, req.dev);
    },
  };
}
