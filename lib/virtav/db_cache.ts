/**
 * The compiled-database cache, keyed by the raw bytes of the database files: a run whose
 * databases have not changed reads the files, hashes them and loads the compiled blob with
 * what the tools print about it (names, hash signatures, counts), without parsing any text.
 *
 * This is virtav's one compiled-signature cache (`sigs`, `scan` and `watch` all use it). File
 * `<cache>/<key>.vdb`: "VAVC", uint32 format version, the 32-byte key, uint32 lengths of the
 * JSON, the blob and the prefilter, JSON {@linkcode CachedMeta}, blob, the serialised Hyperscan
 * prefilter (native/virtav_prefilter.c; empty when none can be built, the metadata says why),
 * then the SHA-256 of everything before it. The key is computed from the source databases'
 * bytes (never read from the file): a file whose stored key, format, metadata, blob or
 * prefilter is off in any way is not used: the database is compiled again and the file replaced.
 * The metadata is checked field by field here; every structure of the blob (native/virtav_match.c
 * `db_validate`) and the prefilter (against the literals the blob gives, its own hash, and this
 * Hyperscan's version and platform) are checked by the native loader when the matcher is opened,
 * once ({@linkcode openCompiled}: a refusal there compiles again). The SHA-256 at the end of the file only catches accidental damage to names
 * and signature bytes that are structurally valid; the cache directory must be as trusted as the
 * databases themselves.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { type CompiledDb, COMPILER_VERSION, compileSignatures } from "./compile.ts";
import { Matcher } from "./matcher.ts";
import {
  type DatabaseFile,
  type LineError,
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
  names: string[];
  bodyCount: number;
  hashes: HashSignature[];
  unsupported: [string, number][];
  errors: LineError[];
  unofficialBody: number[];
  /** Why there is no prefilter (Hyperscan refused the literals), null when there is one. */
  prefilterNote: string | null;
}

const MAGIC = 0x43564156; // "VAVC"
/** The cache file's layout version. */
const FORMAT = 5;
const HEAD = 4 + 4 + 32 + 4 + 4 + 4;

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

function sha256(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

const isInt = (v: unknown, lo: number, hi: number) =>
  typeof v === "number" && Number.isInteger(v) && v >= lo && v <= hi;
const isStr = (v: unknown) => typeof v === "string";
const HASH_LEN: Record<string, number> = { md5: 32, sha1: 40, sha256: 64 };

/** Whether the metadata has exactly the shape and ranges the tools rely on. */
function metaOk(m: CachedMeta, blob: Uint8Array, pf: Uint8Array): boolean {
  if (typeof m !== "object" || m === null) return false;
  if (!Array.isArray(m.names) || !m.names.every(isStr)) return false;
  if (!isInt(m.bodyCount, 0, 2 ** 24) || m.names.length !== m.bodyCount) return false;
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
  if ((m.prefilterNote === null) !== (pf.length > 0)) return false;
  // the blob's own count of signatures must be the names'
  if (blob.length < 32) return false;
  const dv = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  return dv.getUint32(8, true) === m.bodyCount;
}

/** The cache file's content if every part of it checks out for `key`, else null. */
function decode(
  file: Uint8Array,
  key: string,
): { meta: CachedMeta; blob: Uint8Array; pf: Uint8Array } | null {
  if (file.length < HEAD + 32) return null;
  const bytes = file.subarray(0, file.length - 32);
  if (sha256(bytes) !== toHex(file.subarray(file.length - 32))) return null;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint32(0, true) !== MAGIC || dv.getUint32(4, true) !== FORMAT) return null;
  if (toHex(bytes.subarray(8, 40)) !== key) return null;
  const n = dv.getUint32(40, true), nb = dv.getUint32(44, true), np = dv.getUint32(48, true);
  if (HEAD + n + nb + np !== bytes.length) return null;
  let meta: CachedMeta;
  try {
    meta = JSON.parse(
      new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(HEAD, HEAD + n)),
    );
  } catch {
    return null;
  }
  // views, not copies (tens of MiB at 100,000 signatures; the native loader copies the blob)
  const blob = bytes.subarray(HEAD + n, HEAD + n + nb), pf = bytes.subarray(HEAD + n + nb);
  return metaOk(meta, blob, pf) ? { meta, blob, pf } : null;
}

/** A file's bytes read into one buffer of its size (Deno.readFile grows its buffer as it reads:
 * several times the CPU on a cache file of tens of MiB). */
async function readWhole(path: string): Promise<Uint8Array> {
  using f = await Deno.open(path);
  const out = new Uint8Array((await f.stat()).size);
  let at = 0;
  while (at < out.length) {
    const n = await f.read(out.subarray(at));
    if (n === null) return out.subarray(0, at);
    at += n;
  }
  return out;
}

function toHex(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

function encode(key: string, meta: CachedMeta, blob: Uint8Array, pf: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(meta));
  const out = new Uint8Array(HEAD + json.length + blob.length + pf.length + 32);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, MAGIC, true);
  dv.setUint32(4, FORMAT, true);
  for (let i = 0; i < 32; i++) out[8 + i] = parseInt(key.slice(2 * i, 2 * i + 2), 16);
  dv.setUint32(40, json.length, true);
  dv.setUint32(44, blob.length, true);
  dv.setUint32(48, pf.length, true);
  out.set(json, HEAD);
  out.set(blob, HEAD + json.length);
  out.set(pf, HEAD + json.length + blob.length);
  const end = HEAD + json.length + blob.length + pf.length;
  out.set(createHash("sha256").update(out.subarray(0, end)).digest(), end);
  return out;
}

/** What {@linkcode openCompiled} gives: the database, its summary and its opened matcher. */
export interface Opened {
  summary: DbSummary;
  compiled: CompiledDb;
  cached: boolean;
  matcher: Matcher;
}

/**
 * {@linkcode loadCompiled} and the matcher opened on it (`adapt` may rename first, e.g. clamscan's
 * names). A cached entry the native loader refuses (a blob or prefilter that does not check out,
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
  o: { eicar: boolean; cacheDir: string | null; refresh?: boolean },
  adapt: (
    r: { summary: DbSummary; compiled: CompiledDb },
  ) => { summary: DbSummary; compiled: CompiledDb } = (r) => r,
): Promise<Opened> {
  let r = await loadCompiled(paths, o);
  let a = adapt(r);
  let matcher: Matcher;
  try {
    matcher = Matcher.load(a.compiled);
  } catch (e) {
    if (!r.cached) throw e;
    r = await loadCompiled(paths, { ...o, refresh: true });
    a = adapt(r);
    matcher = Matcher.load(a.compiled);
  }
  return { summary: a.summary, compiled: a.compiled, cached: r.cached, matcher };
}

/**
 * Loads databases compiled: from the cache when their bytes are unchanged (no parsing), else
 * parsed, compiled and cached (`cacheDir` null: never cached; `refresh`: compile and replace
 * the cached copy). A cache file that does not check out in every part is compiled again and
 * replaced.
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
  o: { eicar: boolean; cacheDir: string | null; refresh?: boolean },
): Promise<{ summary: DbSummary; compiled: CompiledDb; cached: boolean }> {
  const files = await readDatabaseFiles(paths);
  const key = rawDatabaseKey(files, o.eicar);
  const file = o.cacheDir ? `${o.cacheDir}/${key.slice(0, 32)}.vdb` : null;
  if (file && !o.refresh) {
    try {
      const hit = decode(await readWhole(file), key);
      if (hit) {
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
            names: m.names,
            prefilter: hit.pf.length ? hit.pf : null,
            prefilterNote: m.prefilterNote,
          },
          cached: true,
        };
      }
    } catch { /* absent or damaged: compile again */ }
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
        names: compiled.names,
        bodyCount: db.body.length,
        hashes: db.hashes,
        unsupported: [...db.unsupported],
        errors: db.errors,
        unofficialBody: db.unofficialBody,
        prefilterNote: compiled.prefilterNote ?? null,
      };
      const tmp = `${file}.${Deno.pid}.tmp`;
      await Deno.writeFile(
        tmp,
        encode(key, meta, compiled.blob, compiled.prefilter ?? new Uint8Array()),
      );
      await Deno.rename(tmp, file);
    } catch { /* a read-only cache is not an error */ }
  }
  return { summary, compiled, cached: false };
}
