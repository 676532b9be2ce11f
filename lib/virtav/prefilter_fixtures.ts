/**
 * Test fixtures for the Hyperscan prefilter's serialised form (native/virtav_prefilter.c): a copy
 * made to look built by another Hyperscan, with the prefilter's own hash of Hyperscan's bytes
 * kept right, so that only Hyperscan's version or platform check can refuse it.
 *
 * @module
 */

/** The header before Hyperscan's own bytes (native/virtav_prefilter.c `PF_HEAD`). */
const PF_HEAD = 48;

/** The 64-bit hash the prefilter keeps of Hyperscan's bytes (`bytes_hash`). */
export function hyperscanBytesHash(p: Uint8Array): bigint {
  const M = (1n << 64n) - 1n;
  let h = (0x9E3779B97F4A7C15n ^ BigInt(p.length)) & M;
  const dv = new DataView(p.buffer, p.byteOffset, p.byteLength);
  let i = 0;
  for (; i + 8 <= p.length; i += 8) {
    h = ((h ^ dv.getBigUint64(i, true)) * 0xff51afd7ed558ccdn) & M;
    h ^= h >> 32n;
  }
  for (; i < p.length; i++) h = ((h ^ BigInt(p[i])) * 0x100000001b3n) & M;
  return h ^ (h >> 29n);
}

/**
 * A serialised prefilter made to look built by Hyperscan 5.3 (`version`) or for another CPU
 * (`platform`: a feature bit flipped). Hyperscan's header: magic, version (major << 24 |
 * minor << 16 | patch << 8), length, then the platform's 64-bit feature word.
 *
 * @example
 * ```ts
 * import { fromOtherHyperscan } from "./prefilter_fixtures.ts";
 * // const old = fromOtherHyperscan(matcher.serializePrefilter()!, "version");
 * ```
 */
export function fromOtherHyperscan(ser: Uint8Array, what: "version" | "platform"): Uint8Array {
  const out = ser.slice();
  const dv = new DataView(out.buffer);
  if (what === "version") dv.setUint32(PF_HEAD + 4, 0x05030000, true);
  else out[PF_HEAD + 12] ^= 1;
  const hsLen = Number(dv.getBigUint64(24, true)); // Hyperscan's bytes, then the tables
  dv.setBigUint64(32, hyperscanBytesHash(out.subarray(PF_HEAD, PF_HEAD + hsLen)), true);
  return out;
}
