/**
 * Compiles body signatures into the flat binary form native/virtav_match.c loads (cached on
 * disk by db_cache.ts, the one compiled-signature cache).
 *
 * Layout (little-endian uint32 words): header [magic "VAV1", version 4, sigs, programs,
 * parts, atoms, pool bytes, 0]; programs [sig, first part, parts, offset kind, base lo/hi,
 * range lo/hi]; parts [first atom, atoms, width, gap min, gap max (~0 = none), key off,
 * key len, anchor off, anchor len, program, lead, trail, edges, head, min end] (lead/trail: the `[x-y]` side
 * bytes outside the part's core, which the offset and the gaps are measured from; edges: the
 * `(B)`/`(L)`/`(W)` checks before and after the core, see hex_signature.ts `edgeCode`; head:
 * the bytes a program's last part needs inside the buffer for a match that runs past its end,
 * 0 for none, and the shortest end clamscan needs in it, see `Part.head`); atoms
 * [kind 0 bytes/1 alt/2 negated alt/3 bytes of one member of an alternative (matched as 0,
 * never cut at the buffer's end), width, alternatives, pool offset]; pool:
 * per alternative the values then the masks.
 *
 * @module
 */
import type { BodySignature } from "./ndb.ts";

/** The compiled database: the blob for the native matcher and the signature names by id. */
export interface CompiledDb {
  blob: Uint8Array;
  names: string[];
  /**
   * The Hyperscan prefilter serialised for this blob (native/virtav_prefilter.c, kept by
   * db_cache.ts); null: none can be built (`prefilterNote` says why); absent: compiled at load.
   */
  prefilter?: Uint8Array | null;
  prefilterNote?: string | null;
}

const MAGIC = 0x31564156;
/** The blob layout's version (native/virtav_match.c refuses any other). */
const BLOB_VERSION = 4;
/** Bump when the blob layout or the compiler's choices change (part of the cache key). */
export const COMPILER_VERSION = 6;
const INF = 0xffffffff;

/**
 * Compiles body signatures (signature id = index in the array).
 *
 * @example
 * ```ts
 * import { compileSignatures } from "./compile.ts";
 * import { parseNdbLine } from "./ndb.ts";
 * const c = compileSignatures([parseNdbLine("T:0:*:00112233")]);
 * console.log(c.names); // ["T"]
 * ```
 */
export function compileSignatures(sigs: BodySignature[]): CompiledDb {
  const progs: number[] = [], parts: number[] = [], atoms: number[] = [], pool: number[] = [];
  let nprogs = 0, nparts = 0, natoms = 0;
  sigs.forEach((sig, sigId) => {
    const offKind = sig.offset.kind === "any" ? 0 : sig.offset.kind === "abs" ? 1 : 2;
    for (const v of sig.variants) {
      // The offset is checked natively against the first part's core (see Part.lead).
      const base = sig.offset.base, range = sig.offset.range;
      const prog = nprogs++;
      progs.push(
        sigId,
        nparts,
        v.parts.length,
        offKind,
        base % 2 ** 32,
        Math.floor(base / 2 ** 32),
        range % 2 ** 32,
        Math.floor(range / 2 ** 32),
      );
      for (const p of v.parts) {
        nparts++;
        const gapMax = p.gapMax < 0 ? INF : p.gapMax;
        if (p.gapMin >= INF || gapMax > INF) throw new Error(`${sig.name}: gap too large`);
        parts.push(
          natoms,
          p.atoms.length,
          p.width,
          p.gapMin,
          gapMax,
          p.keyOff,
          p.keyLen,
          p.anchorOff,
          p.anchorLen,
          prog,
          p.lead,
          p.trail,
          p.edges,
          p.head,
          p.minEnd,
        );
        for (const a of p.atoms) {
          natoms++;
          if (a.kind === "bytes") {
            atoms.push(a.grp ? 3 : 0, a.vals.length, 1, pool.length);
            pool.push(...a.vals, ...a.masks);
          } else {
            atoms.push(a.negate ? 2 : 1, a.width, a.alts.length, pool.length);
            for (const alt of a.alts) pool.push(...alt.vals, ...alt.masks);
          }
        }
      }
    }
  });
  const words = 8 + progs.length + parts.length + atoms.length;
  const blob = new Uint8Array(words * 4 + pool.length);
  const u32 = new Uint32Array(blob.buffer, 0, words);
  u32.set([MAGIC, BLOB_VERSION, sigs.length, nprogs, nparts, natoms, pool.length, 0], 0);
  u32.set(progs, 8);
  u32.set(parts, 8 + progs.length);
  u32.set(atoms, 8 + progs.length + parts.length);
  blob.set(pool, words * 4);
  return { blob, names: sigs.map((s) => s.name) };
}
