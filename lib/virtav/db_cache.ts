/**
 * The compiled-database cache, keyed by the raw bytes of the database files: a run whose
 * databases have not changed maps the cache file and uses it in place (no parsing, no copy of
 * the blob), with what the tools print about it (names, hash signatures, counts).
 *
 * This is virtav's one compiled-signature cache (`sigs`, `scan` and `watch` all use it). File
 * `<cache>/<key>.vdb` (format 8): a 128-byte header ("VAVC", uint32 format, the 32-byte key,
 * uint64 lengths of the JSON metadata {@linkcode CachedMeta}, the names, the blob and the
 * serialised Hyperscan prefilter, the uint64 checksum, zeros), then those four sections, each
 * at a multiple of 64 bytes: the JSON, the names (name_table.ts: offsets then bytes, decoded
 * only when a detection names one), the blob (its u32 tables read in place by
 * native/virtav_match.c), the prefilter (native/virtav_prefilter.c; empty when none
 * can be built, the metadata says why). The checksum is XXH64 (native/virtav_cache.c, a few ms
 * at 55 MiB) of the sections seeded with that of the header: accidental damage anywhere is seen
 * at every start. The key is computed from the source databases' bytes (never read from the
 * file): a file whose stored key, format, lengths (they must tile the file exactly), checksum,
 * metadata, blob or prefilter is off in any way is not used: the database is compiled again and
 * the file replaced. The metadata is checked field by field here; every structure of the blob
 * (native/virtav_match.c `db_validate`, every offset bounds-checked) and the prefilter (its
 * tables: made from this blob, hashed, every index and offset bounds-checked instead of being
 * recomputed; Hyperscan's bytes: their hash, this Hyperscan's version and platform) are
 * checked by the native loader when the matcher is opened, once ({@linkcode openCompiled}: a
 * refusal there compiles again). The checksum only catches accidental damage; the cache
 * directory must be as trusted as the databases themselves. The file is mapped read-only and
 * kept mapped for the process (tools load one database per run); it is replaced by rename,
 * never rewritten in place. `<cache>/<id>.vid` holds the key last computed for sources whose
 * identity (path, size, inode, device, mtime, ctime) hashes to `id`: a start whose sources
 * have not changed reads none of them ({@linkcode loadCompiled}).
 *
 * @module
 */
import { createHash } from "node:crypto";
import { type CompiledDb, COMPILER_VERSION, compileSignatures } from "./compile.ts";
import { hasLogical, Matcher } from "./matcher.ts";
import { native } from "../ffi/ffi.ts";
import { encodeNames, lazyNames } from "./name_table.ts";
import {
  type DatabaseFile,
  type LineError,
  listDatabaseFiles,
  parseDatabaseFiles,
  readDatabaseFiles,
} from "./database.ts";
import type { HashSignature } from "./hash_db.ts";

/** What a scan needs to know about a database besides its compiled form. */
export interface DbSummary {
  bodyCount: number;
  hashes: HashSignature[];
  /** Unusable signatures counted by reason. */
  unsupported: Map<string, number>;
  errors: LineError[];
  /** Body signature ids from unsigned databases (clamscan's `.UNOFFICIAL`). */
  unofficialBody: number[];
}

interface CachedMeta {
  bodyCount: number;
  hashes: HashSignature[];
  unsupported: [string, number][];
  errors: LineError[];
  unofficialBody: number[];
  /** Why there is no prefilter (Hyperscan refused the literals), null when there is one. */
  prefilterNote: string | null;
  /** Whether a name is an `.ldb` subsignature's (the matcher then needs every match). */
  logical: boolean;
}

const MAGIC = 0x43564156; // "VAVC"
/** The cache file's layout version. */
const FORMAT = 8;
/** The header's size; the sections start at multiples of ALIGN (the blob's u32 tables in place). */
const HEAD = 128;
const ALIGN = 64;
/** Where the four u64 section lengths and the u64 checksum lie in the header. */
const LEN_AT = 40;
export const SUM_AT = 72;

/** Where compiled databases are cached: `$HVKIT_CACHE/virtav`, else `$XDG_CACHE_HOME` or ~/.cache. */
export function defaultCacheDir(): string {
  const env = Deno.env.get("HVKIT_CACHE");
  if (env) return `${env}/virtav`;
  const xdg = Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME") ?? "."}/.cache`;
  return `${xdg}/hvkit/virtav`;
}

/** The cache key (64 hex digits): compiler version, the EICAR choice, every file's path and bytes. */
export function rawDatabaseKey(files: DatabaseFile[], eicar: boolean): string {
  const h = createHash("sha256");
  h.update(`virtav-cache-${FORMAT}-compiler-${COMPILER_VERSION}\neicar=${eicar}\n`);
  for (const f of files) h.update(f.path).update("\0").update(f.bytes).update("\0");
  return h.digest("hex");
}

const isInt = (v: unknown, lo: number, hi: number) =>
  typeof v === "number" && Number.isInteger(v) && v >= lo && v <= hi;
const isStr = (v: unknown) => typeof v === "string";
const HASH_LEN: Record<string, number> = { md5: 32, sha1: 40, sha256: 64 };

/** Whether the metadata has exactly the shape and ranges the tools rely on. */
function metaOk(m: CachedMeta, names: string[], blob: Uint8Array, pf: Uint8Array): boolean {
  if (typeof m !== "object" || m === null) return false;
  if (!isInt(m.bodyCount, 0, 2 ** 24) || names.length !== m.bodyCount) return false;
  if (!Array.isArray(m.hashes)) return false;
  for (const h of m.hashes) {
    if (typeof h !== "object" || h === null || !isStr(h.name) || !(h.algo in HASH_LEN)) {
      return false;
    }
    if (!isStr(h.hash) || !new RegExp(`^[0-9a-f]{${HASH_LEN[h.algo]}}$`).test(h.hash)) return false;
    if (h.size !== null && !isInt(h.size, 1, 0xfffffffe)) return false;
    if (h.unofficial !== undefined && typeof h.unofficial !== "boolean") return false;
    if (h.allow !== undefined && typeof h.allow !== "boolean") return false;
  }
  if (!Array.isArray(m.unsupported)) return false;
  if (!m.unsupported.every((u) => Array.isArray(u) && isStr(u[0]) && isInt(u[1], 0, 2 ** 31))) {
    return false;
  }
  if (!Array.isArray(m.errors)) return false;
  if (!m.errors.every((e) => isStr(e?.file) && isInt(e?.line, 0, 2 ** 31) && isStr(e?.message))) {
    return false;
  }
  if (!Array.isArray(m.unofficialBody)) return false;
  if (!m.unofficialBody.every((i) => isInt(i, 0, m.bodyCount - 1))) return false;
  if (m.prefilterNote !== null && !isStr(m.prefilterNote)) return false;
  if (typeof m.logical !== "boolean") return false;
  if ((m.prefilterNote === null) !== (pf.length > 0)) return false;
  // the blob's own count of signatures must be the names'
  if (blob.length < 32) return false;
  const dv = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  return dv.getUint32(8, true) === m.bodyCount;
}

/** Where the sections lie, from the lengths in the header; null unless they fill the file exactly. */
function sections(
  dv: DataView,
  size: number,
): { meta: number; names: number; blob: number; pf: number; lens: number[] } | null {
  const lens: number[] = [];
  for (let i = 0; i < 4; i++) {
    const n = dv.getBigUint64(LEN_AT + 8 * i, true);
    if (n > BigInt(size)) return null; // also every absurd 64-bit length
    lens.push(Number(n));
  }
  const meta = HEAD, names = align(meta + lens[0]), blob = align(names + lens[1]);
  const pf = align(blob + lens[2]);
  return pf + lens[3] === size ? { meta, names, blob, pf, lens } : null;
}

const align = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

/**
 * The checksum a cache file carries (at {@linkcode SUM_AT}): XXH64 (native/virtav_cache.c) of
 * everything after the header, seeded with that of the header before the checksum.
 */
export function cacheChecksum(file: Uint8Array): bigint {
  const h = native().vav_hash64(file as Uint8Array<ArrayBuffer>, BigInt(SUM_AT), 0n);
  return BigInt.asUintN(
    64,
    native().vav_hash64(
      file.subarray(HEAD) as Uint8Array<ArrayBuffer>,
      BigInt(file.length - HEAD),
      BigInt.asUintN(64, BigInt(h)),
    ) as bigint,
  );
}

/** The cache file's content if every part of it checks out for `key`, else null. */
function decode(
  file: Uint8Array,
  key: string,
): { meta: CachedMeta; names: string[]; blob: Uint8Array; pf: Uint8Array } | null {
  if (file.length < HEAD) return null;
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  if (dv.getUint32(0, true) !== MAGIC || dv.getUint32(4, true) !== FORMAT) return null;
  if (toHex(file.subarray(8, 40)) !== key) return null;
  for (let i = SUM_AT + 8; i < HEAD; i++) if (file[i] !== 0) return null;
  const at = sections(dv, file.length);
  if (!at || dv.getBigUint64(SUM_AT, true) !== cacheChecksum(file)) return null;
  let meta: CachedMeta;
  try {
    const text = new TextDecoder("utf-8", { fatal: true });
    meta = JSON.parse(text.decode(file.subarray(at.meta, at.meta + at.lens[0])));
  } catch {
    return null;
  }
  if (!isInt(meta?.bodyCount, 0, 2 ** 24)) return null;
  const names = lazyNames(file.subarray(at.names, at.names + at.lens[1]), meta.bodyCount);
  if (!names) return null;
  // views of the mapping, not copies (tens of MiB at 100,000 signatures): the matcher uses the
  // blob in place
  const blob = file.subarray(at.blob, at.blob + at.lens[2]);
  const pf = file.subarray(at.pf, at.pf + at.lens[3]);
  return metaOk(meta, names, blob, pf) ? { meta, names, blob, pf } : null;
}

/**
 * A cache file mapped read-only (native/virtav_cache.c), or null when it cannot be. The bytes
 * are the mapping's own: writing to them faults. `unmap` only while nothing uses them.
 */
function mapFile(path: string): { bytes: Uint8Array; unmap: () => void } | null {
  const out = new BigUint64Array(2);
  if (native().vav_cache_map(new TextEncoder().encode(path + "\0"), out) < 0) return null;
  const ptr = Deno.UnsafePointer.create(out[0]);
  if (ptr === null) return null;
  return {
    bytes: new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(ptr, Number(out[1]))),
    unmap: () => void native().vav_cache_unmap(out[0], out[1]),
  };
}

function toHex(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

function encode(
  key: string,
  meta: CachedMeta,
  names: string[],
  blob: Uint8Array,
  pf: Uint8Array,
): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(meta)), text = encodeNames(names);
  const lens = [json.length, text.length, blob.length, pf.length];
  const metaAt = HEAD, namesAt = align(metaAt + lens[0]), blobAt = align(namesAt + lens[1]);
  const pfAt = align(blobAt + lens[2]);
  const out = new Uint8Array(pfAt + lens[3]);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, MAGIC, true);
  dv.setUint32(4, FORMAT, true);
  for (let i = 0; i < 32; i++) out[8 + i] = parseInt(key.slice(2 * i, 2 * i + 2), 16);
  lens.forEach((n, i) => dv.setBigUint64(LEN_AT + 8 * i, BigInt(n), true));
  out.set(json, metaAt);
  out.set(text, namesAt);
  out.set(blob, blobAt);
  out.set(pf, pfAt);
  dv.setBigUint64(SUM_AT, cacheChecksum(out), true);
  return out;
}

/** The cache file for `key` mapped and checked, as loadCompiled returns it; or whether it is absent or damaged. */
function openCached(file: string, key: string): Loaded | "absent" | "damaged" {
  const mapped = mapFile(file);
  if (!mapped) return "absent";
  let hit = null;
  try {
    hit = decode(mapped.bytes, key);
  } catch { /* a shape metaOk did not foresee: compile again */ }
  if (!hit) {
    mapped.unmap();
    return "damaged";
  }
  const m = hit.meta;
  return {
    summary: {
      bodyCount: m.bodyCount,
      hashes: m.hashes,
      unsupported: new Map(m.unsupported),
      errors: m.errors,
      unofficialBody: m.unofficialBody ?? [],
    },
    compiled: {
      blob: hit.blob,
      mapped: true,
      names: hit.names,
      logical: m.logical,
      prefilter: hit.pf.length ? hit.pf : null,
      prefilterNote: m.prefilterNote,
    },
    cached: true,
  };
}

/**
 * How old (seconds) a source's mtime and ctime must be for its identity to be recorded: a file
 * changed later gets a ctime at least this much newer than the one recorded, even with the
 * whole-second ctime Deno reports and the coarse clock file times come from (git's "racily
 * clean" problem).
 */
const SETTLED_SECS = 3;

/**
 * What names the source databases without reading them: each file's path, size, inode, device,
 * mtime and ctime (with the format, compiler and EICAR choice), hashed; null when one cannot be
 * stat'ed. A `<id>.vid` file holds the content key ({@linkcode rawDatabaseKey}) it was last seen
 * with.
 */
async function sourceIdentity(paths: string[], eicar: boolean): Promise<string | null> {
  const h = createHash("sha256");
  h.update(`virtav-id-${FORMAT}-compiler-${COMPILER_VERSION}\neicar=${eicar}\n`);
  for (const p of paths) {
    const st = await Deno.stat(p).catch(() => null);
    if (!st?.mtime || !st.ctime) return null;
    h.update(`${p}\0${st.size}\0${st.ino}\0${st.dev}\0${+st.mtime}\0${+st.ctime}\n`);
  }
  return h.digest("hex");
}

/** Whether every source's mtime and ctime are at least `secs` in the past. */
async function sourcesSettled(paths: string[], secs: number): Promise<boolean> {
  const limit = Date.now() - secs * 1000;
  for (const p of paths) {
    const st = await Deno.stat(p).catch(() => null);
    if (!st?.mtime || !st.ctime || +st.mtime > limit || +st.ctime > limit) return false;
  }
  return true;
}

/** The content key a `.vid` file holds, or null. */
async function readKey(path: string): Promise<string | null> {
  try {
    const t = await Deno.readTextFile(path);
    return /^[0-9a-f]{64}\n$/.test(t) ? t.slice(0, 64) : null;
  } catch {
    return null;
  }
}

/** Writes by rename (a mapped cache file is never changed under its mapping). */
async function writeAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.${Deno.pid}.tmp`;
  await Deno.writeFile(tmp, bytes);
  await Deno.rename(tmp, path);
}

/** What {@linkcode loadCompiled} gives. */
export interface Loaded {
  summary: DbSummary;
  compiled: CompiledDb;
  cached: boolean;
  /** Why a cache file there was not used and the database was compiled again (one line). */
  cacheNote?: string;
}

/** What {@linkcode openCompiled} gives: the database, its summary and its opened matcher. */
export interface Opened extends Loaded {
  matcher: Matcher;
}

/**
 * {@linkcode loadCompiled} and the matcher opened on it (`adapt` may rename first, e.g. clamscan's
 * names; `prefilter` false, or a function of the body signature count that says false: the
 * matcher without the Hyperscan prefilter, e.g. for small inputs and a large database).
 * A cached entry the native loader refuses (a blob or prefilter that does not check out,
 * or a prefilter another Hyperscan built) is compiled again and the cache file replaced.
 *
 * @example
 * ```ts
 * import { openCompiled } from "./db_cache.ts";
 * const r = await openCompiled(["fixtures/virtav/test.ndb"], { eicar: false, cacheDir: null });
 * console.log(r.matcher.prefilterInfo().state); // "compiled"
 * r.matcher.close();
 * ```
 */
export async function openCompiled(
  paths: string[],
  o: {
    eicar: boolean;
    cacheDir: string | null;
    refresh?: boolean;
    prefilter?: boolean | ((bodyCount: number) => boolean);
  },
  adapt: (
    r: { summary: DbSummary; compiled: CompiledDb },
  ) => { summary: DbSummary; compiled: CompiledDb } = (r) => r,
): Promise<Opened> {
  let r = await loadCompiled(paths, o);
  let a = adapt(r);
  const prefilter = typeof o.prefilter === "function"
    ? o.prefilter(r.summary.bodyCount)
    : o.prefilter;
  let matcher: Matcher;
  try {
    matcher = Matcher.load(a.compiled, { prefilter });
  } catch (e) {
    if (!r.cached) throw e;
    r = await loadCompiled(paths, { ...o, refresh: true });
    r.cacheNote = `the cached compiled database did not load (${
      (e as Error).message
    }): compiled again`;
    a = adapt(r);
    matcher = Matcher.load(a.compiled, { prefilter });
  }
  return {
    summary: a.summary,
    compiled: a.compiled,
    cached: r.cached,
    cacheNote: r.cacheNote,
    matcher,
  };
}

/**
 * Loads databases compiled: from the cache when their bytes are unchanged (no parsing), else
 * parsed, compiled and cached (`cacheDir` null: never cached; `refresh`: compile and replace
 * the cached copy). A cache file that does not check out in every part is compiled again and
 * replaced. Sources whose identity (path, size, inode, device, mtime, ctime) was recorded
 * with a key are not even read: their identity names the cache file; identities are recorded
 * only for files unchanged for `settledSecs` (default 3; tests only change it).
 *
 * @example
 * ```ts
 * import { loadCompiled } from "./db_cache.ts";
 * const r = await loadCompiled(["fixtures/virtav/test.ndb"], { eicar: true, cacheDir: null });
 * console.log(r.summary.bodyCount, r.cached); // 7 false
 * ```
 */
export async function loadCompiled(
  paths: string[],
  o: { eicar: boolean; cacheDir: string | null; refresh?: boolean; settledSecs?: number },
): Promise<Loaded> {
  const dir = o.cacheDir;
  // the fast path: the files' identity names the key, and the sources are not read at all
  const ident = dir ? await sourceIdentity(await listDatabaseFiles(paths), o.eicar) : null;
  if (dir && ident && !o.refresh) {
    const key = await readKey(`${dir}/${ident.slice(0, 32)}.vid`);
    const hit = key && openCached(`${dir}/${key.slice(0, 32)}.vdb`, key);
    if (typeof hit === "object" && hit) return hit;
  }
  const files = await readDatabaseFiles(paths);
  const key = rawDatabaseKey(files, o.eicar);
  const file = dir ? `${dir}/${key.slice(0, 32)}.vdb` : null;
  // (identity recorded only for files old enough that a change cannot keep it, see sourceIdentity)
  const remember = async () => {
    const settled = await sourcesSettled(files.map((f) => f.path), o.settledSecs ?? SETTLED_SECS);
    if (!dir || !ident || !settled) return;
    await writeAtomic(`${dir}/${ident.slice(0, 32)}.vid`, new TextEncoder().encode(key + "\n"));
  };
  let cacheNote: string | undefined;
  if (file && !o.refresh) {
    const hit = openCached(file, key);
    if (typeof hit === "object") {
      await remember().catch(() => {});
      return hit;
    }
    if (hit === "damaged") {
      cacheNote = `the cached compiled database ${file} is damaged: compiled again`;
    }
  }
  const db = await parseDatabaseFiles(files, { eicar: o.eicar });
  const compiled = compileSignatures(db.body);
  const summary: DbSummary = {
    bodyCount: db.body.length,
    hashes: db.hashes,
    unsupported: db.unsupported,
    errors: db.errors,
    unofficialBody: db.unofficialBody,
  };
  if (file) {
    // the Hyperscan prefilter, compiled once here and kept with the blob
    const m = Matcher.load(compiled, { prefilter: true });
    compiled.prefilter = m.serializePrefilter();
    compiled.prefilterNote = compiled.prefilter ? null : m.prefilterNote ?? "no prefilter";
    m.close();
    try {
      await Deno.mkdir(o.cacheDir!, { recursive: true });
      const meta: CachedMeta = {
        bodyCount: db.body.length,
        hashes: db.hashes,
        unsupported: [...db.unsupported],
        errors: db.errors,
        unofficialBody: db.unofficialBody,
        prefilterNote: compiled.prefilterNote ?? null,
        logical: hasLogical(compiled.names),
      };
      await writeAtomic(
        file,
        encode(key, meta, compiled.names, compiled.blob, compiled.prefilter ?? new Uint8Array()),
      );
      await remember();
    } catch { /* a read-only cache is not an error */ }
  }
  return { summary, compiled, cached: false, cacheNote };
}
