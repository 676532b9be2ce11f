/**
 * The compiled-database cache, keyed by the raw bytes of the database files: a run whose
 * databases have not changed reads the files, hashes them and loads the compiled blob with
 * what the tools print about it (names, hash signatures, counts), without parsing any text.
 *
 * File `<cache>/<key>.vdb`: "VAVC", uint32 JSON length, JSON {@linkcode CachedMeta}, blob.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { type CompiledDb, COMPILER_VERSION, compileSignatures } from "./compile.ts";
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
  /** SHA-256 of the blob: a damaged pool byte would otherwise change a signature silently. */
  blobSha256: string;
  names: string[];
  bodyCount: number;
  hashes: HashSignature[];
  unsupported: [string, number][];
  errors: LineError[];
  unofficialBody: number[];
}

const MAGIC = 0x43564156; // "VAVC"

/** The cache key: compiler version, the EICAR choice, and every file's path and bytes. */
export function rawDatabaseKey(files: DatabaseFile[], eicar: boolean): string {
  const h = createHash("sha256");
  h.update(`virtav-cache-3-compiler-${COMPILER_VERSION}\neicar=${eicar}\n`);
  for (const f of files) h.update(f.path).update("\0").update(f.bytes).update("\0");
  return h.digest("hex").slice(0, 32);
}

function sha256(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

function decode(bytes: Uint8Array): { meta: CachedMeta; blob: Uint8Array } | null {
  if (bytes.length < 8) return null;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint32(0, true) !== MAGIC) return null;
  const n = dv.getUint32(4, true);
  if (8 + n > bytes.length) return null;
  const meta = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as CachedMeta;
  if (!Array.isArray(meta.names) || !Array.isArray(meta.hashes)) return null;
  const blob = bytes.slice(8 + n);
  if (sha256(blob) !== meta.blobSha256) return null;
  return { meta, blob };
}

function encode(meta: CachedMeta, blob: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(meta));
  const out = new Uint8Array(8 + json.length + blob.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, MAGIC, true);
  dv.setUint32(4, json.length, true);
  out.set(json, 8);
  out.set(blob, 8 + json.length);
  return out;
}

/**
 * Loads databases compiled: from the cache when their bytes are unchanged (no parsing), else
 * parsed, compiled and cached (`cacheDir` null: never cached; `refresh`: compile and replace
 * the cached copy). A damaged cache file is recompiled; the native loader validates the blob
 * again (a blob it refuses: call again with `refresh`).
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
  const file = o.cacheDir ? `${o.cacheDir}/${rawDatabaseKey(files, o.eicar)}.vdb` : null;
  if (file && !o.refresh) {
    try {
      const hit = decode(await Deno.readFile(file));
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
          compiled: { blob: hit.blob, names: m.names },
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
    try {
      await Deno.mkdir(o.cacheDir!, { recursive: true });
      const meta: CachedMeta = {
        blobSha256: sha256(compiled.blob),
        names: compiled.names,
        bodyCount: db.body.length,
        hashes: db.hashes,
        unsupported: [...db.unsupported],
        errors: db.errors,
        unofficialBody: db.unofficialBody,
      };
      const tmp = `${file}.${Deno.pid}.tmp`;
      await Deno.writeFile(tmp, encode(meta, compiled.blob));
      await Deno.rename(tmp, file);
    } catch { /* a read-only cache is not an error */ }
  }
  return { summary, compiled, cached: false };
}
