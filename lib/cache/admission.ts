/**
 * The admission registry: `--admit NAME` on `qbic-cache sim` and `qbic-cache serve` resolves
 * here. An admission filter decides per request whether its blocks may enter the cache; a
 * refused request goes to the device and any cached copy of its blocks is dropped
 * (lib/cache/policy.ts, {@linkcode AdmissionFilter}).
 *
 * Names:
 * - `all` — admit everything ({@linkcode admitAll}, the default).
 * - `pdc` — Pollution Defensive Caching: keep the guest file system's journal out of the cache.
 *   With `image` (a raw ext2/3/4 or XFS image, as `pdc-filter locate` reads it) or `ranges`
 *   (byte ranges, e.g. from `pdc-filter locate -o`), the journal is known exactly; with
 *   neither, the online heuristic learns it from the request stream (`heuristic: true` forces
 *   the heuristic even when an image is given). Requests tagged `"class": "journal"` are refused
 *   in every mode. `checkpoint: true` refuses the checkpoint writes too (writes into the ext4
 *   image's fixed metadata, located in `image`, or given as `checkpointRanges`); `demote: true`
 *   caches refused requests at the eviction end instead of keeping them out
 *   (lib/cache/pdc_admission.ts).
 *
 * Callers: pass every request to `admit` in trace order, flushes included — the heuristic
 * learns from where flushes fall. `createAdmission` returns a Promise when it must read an
 * image; `await` its result in every case.
 *
 * @example
 * ```ts
 * import { createAdmission } from "./admission.ts";
 * const exact = await createAdmission("pdc", { image: "guest.img" });
 * const online = await createAdmission("pdc");
 * const none = await createAdmission("all");
 * ```
 *
 * @module
 */
import { type AdmissionFilter, admitAll } from "./policy.ts";
import { pdcAdmission } from "./pdc_admission.ts";
import { ExactDetector } from "../pdc/journal_detector.ts";
import { HeuristicDetector, type HeuristicOptions } from "../pdc/heuristic_detector.ts";
import { locateJournalInFile } from "../pdc/locate.ts";
import { locateExt4MetadataInFile } from "../pdc/ext4_metadata.ts";
import type { ByteRange } from "../pdc/byte_range.ts";
import { UnknownAdmissionError } from "./errors.ts";

/** The names `--admit` accepts. */
export const ADMISSION_NAMES = ["all", "pdc"] as const;

/** One of {@linkcode ADMISSION_NAMES}. */
export type AdmissionName = typeof ADMISSION_NAMES[number];

/** Options of `createAdmission`; only `pdc` reads them. */
export interface AdmissionOptions {
  /** A raw disk image whose journal `pdc` locates exactly. */
  image?: string;
  /** Journal byte ranges given directly (wins over `image`). */
  ranges?: ByteRange[];
  /** Use the online heuristic even when `image` or `ranges` is given. */
  heuristic?: boolean;
  /** Tunables of the heuristic. */
  heuristicOptions?: HeuristicOptions;
  /** Also refuse checkpoint writes: writes into the fixed metadata of `image` (ext2/3/4). */
  checkpoint?: boolean;
  /** The checkpoint ranges given directly (wins over locating them in `image`). */
  checkpointRanges?: ByteRange[];
  /** Cache refused requests at the policy's eviction end rather than keep them out. */
  demote?: boolean;
}

function refinements(opts: AdmissionOptions, checkpoint: ByteRange[] | undefined) {
  return { checkpoint: opts.checkpoint ? checkpoint : undefined, demote: opts.demote === true };
}

export { UnknownAdmissionError };

/**
 * Builds the admission filter `name`. Throws {@linkcode UnknownAdmissionError} for an unknown
 * name; rejects with the locate error (unknown file system, truncated image) for a bad image.
 */
export function createAdmission(
  name: string,
  opts: AdmissionOptions = {},
): AdmissionFilter | Promise<AdmissionFilter> {
  switch (name) {
    case "all":
      return admitAll;
    case "pdc": {
      const heuristic = opts.heuristic || (opts.ranges === undefined && opts.image === undefined);
      const needImage = (!heuristic && opts.ranges === undefined) ||
        (opts.checkpoint === true && opts.checkpointRanges === undefined);
      if (!needImage) {
        const detector = heuristic
          ? new HeuristicDetector(opts.heuristicOptions)
          : new ExactDetector(opts.ranges!);
        return pdcAdmission(detector, refinements(opts, opts.checkpointRanges));
      }
      if (opts.image === undefined) {
        return Promise.reject(new Error("pdc: checkpoint ranges need the image (or the ranges)"));
      }
      return (async () => {
        let detector: HeuristicDetector | ExactDetector;
        if (heuristic) detector = new HeuristicDetector(opts.heuristicOptions);
        else if (opts.ranges !== undefined) detector = new ExactDetector(opts.ranges);
        else {
          const loc = await locateJournalInFile(opts.image!);
          if (loc.journal !== "internal" && loc.journal !== "device") {
            throw new Error(
              `${opts.image}: no journal in the image (${loc.journal}); use the heuristic instead`,
            );
          }
          detector = new ExactDetector(loc.ranges);
        }
        const cp = opts.checkpoint
          ? opts.checkpointRanges ?? (await locateExt4MetadataInFile(opts.image!)).ranges
          : undefined;
        return pdcAdmission(detector, refinements(opts, cp));
      })();
    }
    default:
      throw new UnknownAdmissionError(name, ADMISSION_NAMES);
  }
}
