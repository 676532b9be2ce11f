/**
 * How a caching layer tells the layer above whether a request hit, without changing the
 * {@linkcode BlockDevice} interface: it sets `lastHit` synchronously when the request is issued
 * (before its first await), so the caller reads it right after calling.
 *
 * @module
 */

/** A layer that reports per-request hits. */
export interface HitSource {
  /** Every block of the request issued last hit; undefined for requests that are not looked up. */
  readonly lastHit: boolean | undefined;
}

/** True when `dev` reports hits. */
export function isHitSource(dev: unknown): dev is HitSource {
  return typeof dev === "object" && dev !== null && "lastHit" in dev;
}
