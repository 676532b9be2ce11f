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
  /**
   * The blob is a read-only mapping of the cache file kept for the process (db_cache.ts): the
   * native matcher uses it in place instead of a copy.
   */
  mapped?: boolean;
  /** Whether a name is an `.ldb` subsignature's (absent: the matcher looks at every name). */
  logical?: boolean;
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
export const COMPILER_VERSION = 10;
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
  const b = new BlobBuilder();
  sigs.forEach((sig, sigId) => {
    for (const v of sig.variants) b.program(sig, sigId, v);
  });
  return { blob: b.finish(sigs.length), names: sigs.map((s) => s.name) };
}

type Variant = BodySignature["variants"][number];
type VariantPart = Variant["parts"][number];
type PartAtom = VariantPart["atoms"][number];

/** The blob's tables as they fill, in the order the native loader reads them. */
class BlobBuilder {
  progs: number[] = [];
  parts: number[] = [];
  atoms: number[] = [];
  /** Bytes and masks, every table's variable part. */
  pool: number[] = [];
  nprogs = 0;
  nparts = 0;
  natoms = 0;
  cparts: number[] = [];
  cunits: number[] = [];
  cmembers: number[] = [];
  cpartIds = new Map<ClamPart, number>();

  /** One variant of a signature: its program row, then its parts. */
  program(sig: BodySignature, sigId: number, v: Variant): void {
    const offKind = sig.offset.kind === "any" ? 0 : sig.offset.kind === "abs" ? 1 : 2;
    // The offset is checked natively against the first part's core (see Part.lead).
    const base = sig.offset.base, range = sig.offset.range;
    const prog = this.nprogs++;
    this.progs.push(
      sigId,
      this.nparts,
      v.parts.length,
      offKind,
      base % 2 ** 32,
      Math.floor(base / 2 ** 32),
      range % 2 ** 32,
      Math.floor(range / 2 ** 32),
    );
    for (const p of v.parts) this.part(sig.name, p, prog);
  }

  part(name: string, p: VariantPart, prog: number): void {
    this.nparts++;
    const gapMax = p.gapMax < 0 ? INF : p.gapMax;
    if (p.gapMin >= INF || gapMax > INF) throw new Error(`${name}: gap too large`);
    this.parts.push(
      this.natoms,
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
      p.clam ? this.clamId(p.clam) : INF,
      p.trigOff,
    );
    for (const a of p.atoms) this.atom(a);
  }

  atom(a: PartAtom): void {
    this.natoms++;
    if (a.kind === "bytes") {
      this.atoms.push(a.grp ? 3 : 0, a.vals.length, 1, this.pool.length);
      this.pool.push(...a.vals, ...a.masks);
    } else {
      this.atoms.push(a.negate ? 2 : 1, a.width, a.alts.length, this.pool.length);
      for (const alt of a.alts) this.pool.push(...alt.vals, ...alt.masks);
    }
  }

  /** The un-expanded part clamscan's own search checks, once per part (shared by variants). */
  clamId(cp: ClamPart): number {
    let id = this.cpartIds.get(cp);
    if (id !== undefined) return id;
    id = this.cpartIds.size;
    this.cpartIds.set(cp, id);
    const side = (c: ClamPart["lch"]) =>
      c ? [c.val | c.mask << 8 | 1 << 16, c.min, c.max] : [0, 0, 0];
    this.cparts.push(
      this.cunits.length / 4,
      cp.units.length,
      cp.ppos,
      cp.depth,
      cp.len1,
      cp.plen1,
      cp.edges,
    );
    this.cparts.push(...side(cp.lch), ...side(cp.rch));
    for (const u of cp.units) {
      if (u.k === "byte") this.cunits.push(0, u.val | u.mask << 8, 0, 0);
      else if (u.k === "cls") {
        this.cunits.push(u.cls === "L" ? 3 : u.cls === "B" ? 4 : 5, u.negate ? 1 : 0, 0, 0);
      } else {
        this.cunits.push(u.k === "alt" ? 1 : 2, u.k === "alt" && u.negate ? 1 : 0);
        this.cunits.push(this.cmembers.length / 3, u.members.length);
        for (const m of u.members) {
          this.cmembers.push(m.vals.length, "unique" in m && m.unique ? 1 : 0, this.pool.length);
          this.pool.push(...m.vals, ...m.masks);
        }
      }
    }
    return id;
  }

  /** The header, the tables as u32 words, then the pool's bytes. */
  finish(nsigs: number): Uint8Array {
    const header = [MAGIC, BLOB_VERSION, nsigs, this.nprogs, this.nparts, this.natoms];
    header.push(this.pool.length, this.cpartIds.size, this.cunits.length / 4);
    header.push(this.cmembers.length / 3, 0, 0);
    const tables = [
      header,
      this.progs,
      this.parts,
      this.atoms,
      this.cparts,
      this.cunits,
      this.cmembers,
    ];
    const words = tables.reduce((n, t) => n + t.length, 0);
    const blob = new Uint8Array(words * 4 + this.pool.length);
    const u32 = new Uint32Array(blob.buffer, 0, words);
    let at = 0;
    for (const t of tables) {
      u32.set(t, at);
      at += t.length;
    }
    blob.set(this.pool, words * 4);
    return blob;
  }
}
