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
 *   in every mode.
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
      if (opts.heuristic || (opts.ranges === undefined && opts.image === undefined)) {
        return pdcAdmission(new HeuristicDetector(opts.heuristicOptions));
      }
      if (opts.ranges !== undefined) return pdcAdmission(new ExactDetector(opts.ranges));
      return locateJournalInFile(opts.image!).then((loc) => {
        if (loc.journal !== "internal" && loc.journal !== "device") {
          throw new Error(
            `${opts.image}: no journal in the image (${loc.journal}); use the heuristic instead`,
          );
        }
        return pdcAdmission(new ExactDetector(loc.ranges));
      });
    }
    default:
      throw new UnknownAdmissionError(name, ADMISSION_NAMES);
  }
}
