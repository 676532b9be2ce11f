/**
 * Compiles body signatures into the flat binary form native/virtav_match.c loads, and caches
 * it on disk keyed by the database's content, so a large database is parsed once.
 *
 * Layout (little-endian uint32 words): header [magic "VAV1", version 2, sigs, programs,
 * parts, atoms, pool bytes, 0]; programs [sig, first part, parts, offset kind, base lo/hi,
 * range lo/hi]; parts [first atom, atoms, width, gap min, gap max (~0 = none), key off,
 * key len, anchor off, anchor len, program, lead, trail] (lead/trail: the `[x-y]` side
 * bytes outside the part's core, which the offset and the gaps are measured from); atoms [kind 0 bytes/1 alt/2 negated alt, width,
 * alternatives, pool offset]; pool: per alternative the values then the masks.
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { BodySignature } from "./ndb.ts";
import type { Database } from "./database.ts";

/** The compiled database: the blob for the native matcher and the signature names by id. */
export interface CompiledDb {
  blob: Uint8Array;
  names: string[];
}

const MAGIC = 0x31564156;
/** Bump when the blob layout or the compiler's choices change (part of the cache key). */
export const COMPILER_VERSION = 2;
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
        );
        for (const a of p.atoms) {
          natoms++;
          if (a.kind === "bytes") {
            atoms.push(0, a.vals.length, 1, pool.length);
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
  u32.set([MAGIC, 2, sigs.length, nprogs, nparts, natoms, pool.length, 0], 0);
  u32.set(progs, 8);
  u32.set(parts, 8 + progs.length);
  u32.set(atoms, 8 + progs.length + parts.length);
  blob.set(pool, words * 4);
  return { blob, names: sigs.map((s) => s.name) };
}

/** Where compiled databases are cached: `$HVKIT_CACHE/virtav`, else `$XDG_CACHE_HOME` or ~/.cache. */
export function defaultCacheDir(): string {
  const env = Deno.env.get("HVKIT_CACHE");
  if (env) return `${env}/virtav`;
  const xdg = Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME") ?? "."}/.cache`;
  return `${xdg}/hvkit/virtav`;
}

/** The cache key of a database: its content and the compiler version. */
export function databaseKey(db: Database): string {
  const h = createHash("sha256");
  h.update(`virtav-compiler-${COMPILER_VERSION}\n`);
  for (const part of db.digestInput) h.update(part).update("\0");
  return h.digest("hex").slice(0, 32);
}

/**
 * Compiles a database, or loads its compiled form from the cache (`cacheDir` null: no cache).
 * Returns whether the cache answered.
 */
export async function compileCached(
  db: Database,
  cacheDir: string | null,
): Promise<CompiledDb & { cached: boolean }> {
  const key = databaseKey(db);
  const file = cacheDir ? `${cacheDir}/${key}.vdb` : null;
  if (file) {
    try {
      const bytes = await Deno.readFile(file);
      const nameLen = new DataView(bytes.buffer).getUint32(0, true);
      const names = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + nameLen)));
      if (Array.isArray(names) && names.length === db.body.length) {
        return { blob: bytes.slice(4 + nameLen), names, cached: true };
      }
    } catch { /* absent or damaged: compile again */ }
  }
  const c = compileSignatures(db.body);
  if (file) {
    try {
      await Deno.mkdir(cacheDir!, { recursive: true });
      const nameBytes = new TextEncoder().encode(JSON.stringify(c.names));
      const out = new Uint8Array(4 + nameBytes.length + c.blob.length);
      new DataView(out.buffer).setUint32(0, nameBytes.length, true);
      out.set(nameBytes, 4);
      out.set(c.blob, 4 + nameBytes.length);
      const tmp = `${file}.${Deno.pid}.tmp`;
      await Deno.writeFile(tmp, out);
      await Deno.rename(tmp, file);
    } catch { /* a read-only cache is not an error */ }
  }
  return { ...c, cached: false };
}
