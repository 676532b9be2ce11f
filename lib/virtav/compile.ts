/**
 * Compiles body signatures into the flat binary form native/virtav_match.c loads (cached on
 * disk by db_cache.ts, the one compiled-signature cache).
 *
 * Layout (little-endian uint32 words): header [magic "VAV1", version 5, sigs, programs,
 * parts, atoms, pool bytes, clamscan parts, their units, their members, 0, 0]; programs [sig,
 * first part, parts, offset kind, base lo/hi, range lo/hi]; parts [first atom, atoms, width, gap
 * min, gap max (~0 = none), key off, key len, anchor off, anchor len, program, lead, trail, edges,
 * head, min end, clamscan part (~0 = none), entry offset] (lead/trail: the `[x-y]` side
 * bytes outside the part's core, which the offset and the gaps are measured from; edges: the
 * `(B)`/`(L)`/`(W)` checks before and after the core, see hex_signature.ts `edgeCode`; head:
 * the bytes a program's last part needs inside the buffer for a match that runs past its end,
 * 0 for none, and the shortest end clamscan needs in it, see `Part.head`); atoms
 * [kind 0 bytes/1 alt/2 negated alt/3 bytes of one member of an alternative (matched as 0,
 * never cut at the buffer's end), width, alternatives, pool offset]; clamscan parts (the
 * un-expanded part clamscan searches from its entry, hex_signature.ts `ClamPart`) [first unit,
 * units, entry unit, trie depth, shortest length from the entry, shortest length before it,
 * edges, left side byte (value | mask << 8 | 1 << 16, 0 for none), its min, max, right side byte,
 * min, max]; units [kind 0 byte/1 fixed alternative/2 generic alternative/3 (L)/4 (B)/5 (W),
 * value | mask << 8 for a byte else 1 when negated, first member, members]; members [length,
 * unique, pool offset]; pool: per alternative (and member) the values then the masks.
 *
 * @module
 */
import type { ClamPart } from "./hex_signature.ts";
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
const BLOB_VERSION = 5;
/** Bump when the blob layout or the compiler's choices change (part of the cache key). */
export const COMPILER_VERSION = 7;
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
  const cparts: number[] = [], cunits: number[] = [], cmembers: number[] = [];
  const cpartIds = new Map<ClamPart, number>();
  const clamId = (cp: ClamPart): number => {
    let id = cpartIds.get(cp);
    if (id !== undefined) return id;
    id = cpartIds.size;
    cpartIds.set(cp, id);
    const side = (c: ClamPart["lch"]) =>
      c ? [c.val | c.mask << 8 | 1 << 16, c.min, c.max] : [0, 0, 0];
    cparts.push(cunits.length / 4, cp.units.length, cp.ppos, cp.depth, cp.len1, cp.plen1, cp.edges);
    cparts.push(...side(cp.lch), ...side(cp.rch));
    for (const u of cp.units) {
      if (u.k === "byte") cunits.push(0, u.val | u.mask << 8, 0, 0);
      else if (u.k === "cls") {
        cunits.push(u.cls === "L" ? 3 : u.cls === "B" ? 4 : 5, u.negate ? 1 : 0, 0, 0);
      } else {
        cunits.push(u.k === "alt" ? 1 : 2, u.k === "alt" && u.negate ? 1 : 0);
        cunits.push(cmembers.length / 3, u.members.length);
        for (const m of u.members) {
          cmembers.push(m.vals.length, "unique" in m && m.unique ? 1 : 0, pool.length);
          pool.push(...m.vals, ...m.masks);
        }
      }
    }
    return id;
  };
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
          p.clam ? clamId(p.clam) : INF,
          p.trigOff,
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
  const header = [MAGIC, BLOB_VERSION, sigs.length, nprogs, nparts, natoms, pool.length];
  header.push(cpartIds.size, cunits.length / 4, cmembers.length / 3, 0, 0);
  const tables = [header, progs, parts, atoms, cparts, cunits, cmembers];
  const words = tables.reduce((n, t) => n + t.length, 0);
  const blob = new Uint8Array(words * 4 + pool.length);
  const u32 = new Uint32Array(blob.buffer, 0, words);
  let at = 0;
  for (const t of tables) {
    u32.set(t, at);
    at += t.length;
  }
  blob.set(pool, words * 4);
  return { blob, names: sigs.map((s) => s.name) };
}
