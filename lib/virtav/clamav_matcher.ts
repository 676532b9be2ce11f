/**
 * libclamav as virtav's second engine (`virtav scan --engine clamav`): the databases loaded by
 * `cl_load` exactly as clamscan loads `-d` (CL_DB_STDOPT), compiled, and the same units the
 * default engine scans (a file, a memory segment, an executable run) handed to
 * `cl_scanmap_callback` as in-memory maps, with clamscan's raw-only scan options: every parser
 * and heuristic off (FIELD-NOTES.md), `--allmatch` as CL_SCAN_GENERAL_ALLMATCHES. So its answers
 * are clamscan's by construction, the fallback for whatever the default engine lacks and the
 * in-process oracle of the differential tests.
 *
 * libclamav reports which signatures matched a unit, not where: hits carry offset -1.
 *
 * @module
 */
import { clamav, clamavError } from "../ffi/clamav.ts";
import { native } from "../ffi/ffi.ts";
import { check } from "../ffi/errno.ts";
import type { Hit, ScanOptions } from "./matcher.ts";
import type { MappedFile } from "./mapped_file.ts";

const MIB = 2 ** 20;
/** clamscan's `--max-filesize` / `--max-scansize` in the oracle flags (the engine's limit). */
export const CLAMAV_MAX_UNIT = 2000 * MIB;
/** Units above {@link CLAMAV_MAX_UNIT} are scanned in windows this long... */
export const CLAMAV_WINDOW = 1024 * MIB;
/** ...overlapping by this much (a match longer than this across a window edge is missed). */
export const CLAMAV_WINDOW_OVERLAP = 1 * MIB;

// enum cl_engine_field (clamav.h)
const CL_ENGINE_MAX_SCANSIZE = 0, CL_ENGINE_MAX_FILESIZE = 1, CL_ENGINE_DISABLE_CACHE = 25;
const CL_ENGINE_MAX_SCANTIME = 31;
const CL_DB_STDOPT = 0x2 | 0x8 | 0x2000; // PHISHING | PHISHING_URLS | BYTECODE (clamscan's default)
const CL_SCAN_GENERAL_ALLMATCHES = 0x1;
const CL_VIRUS = 1;

/** How large a unit libclamav scans in one piece, and the windows of a larger one. */
export interface ClamavUnitLimits {
  maxUnit: number;
  window: number;
  overlap: number;
}

const DEFAULT_LIMITS: ClamavUnitLimits = {
  maxUnit: CLAMAV_MAX_UNIT,
  window: CLAMAV_WINDOW,
  overlap: CLAMAV_WINDOW_OVERLAP,
};

/** A libclamav load or scan failure, with libclamav's own words. */
export class ClamavError extends Error {
  constructor(what: string, readonly code: number) {
    super(`libclamav: ${what}: ${clamavError(code)}`);
    this.name = "ClamavError";
  }
}

/**
 * A compiled libclamav engine over the given databases.
 *
 * @example
 * ```ts
 * import { ClamavMatcher } from "./clamav_matcher.ts";
 * const m = ClamavMatcher.load(["sigs.ndb"]);
 * console.log(m.scanBuffer(new TextEncoder().encode("xxABCDxx"), { allMatch: true }));
 * m.close();
 * ```
 */
export class ClamavMatcher {
  #engine: Deno.PointerValue;
  #found: string[] = [];
  #callback: Deno.UnsafeCallback<
    { parameters: ["i32", "pointer", "pointer"]; result: "void" }
  >;
  #virname = new BigUint64Array(1);
  #scanned = new BigUint64Array(1);
  bytes = 0;

  private constructor(
    engine: Deno.PointerValue,
    readonly signatures: number,
    readonly clamscanNames: boolean,
    readonly limits: ClamavUnitLimits,
  ) {
    this.#engine = engine;
    // Called by libclamav, synchronously inside the scan call, once per alert.
    this.#callback = new Deno.UnsafeCallback(
      { parameters: ["i32", "pointer", "pointer"], result: "void" } as const,
      (_fd, virname) => {
        if (virname !== null) this.#found.push(this.#name(virname));
      },
    );
    clamav().cl_engine_set_clcb_virus_found(engine, this.#callback.pointer);
  }

  /**
   * `cl_load`s every path (file or directory, as clamscan's `-d`), sets clamscan's oracle
   * limits (max file and scan size 2000 MiB, no scan-time limit) and compiles the engine.
   * A database libclamav refuses is an error naming the path; libclamav's own message (which
   * names the line) is on stderr. `clamscanNames`: keep the `.UNOFFICIAL` libclamav adds to
   * names from unsigned databases (virtav's `--clamscan-names`).
   */
  static load(
    paths: readonly string[],
    clamscanNames = false,
    limits: ClamavUnitLimits = DEFAULT_LIMITS,
  ): ClamavMatcher {
    if (paths.length === 0) {
      throw new Error("--engine clamav needs -d/--database (libclamav has no built-in signatures)");
    }
    const cl = clamav();
    const engine = cl.cl_engine_new();
    if (engine === null) throw new Error("libclamav: cl_engine_new failed");
    try {
      for (
        const [field, v] of [
          [CL_ENGINE_MAX_FILESIZE, CLAMAV_MAX_UNIT],
          [CL_ENGINE_MAX_SCANSIZE, CLAMAV_MAX_UNIT],
          [CL_ENGINE_MAX_SCANTIME, 0],
          // The clean-file cache only skips rescans of identical content; scans are equal without it.
          [CL_ENGINE_DISABLE_CACHE, 1],
        ]
      ) {
        const rc = cl.cl_engine_set_num(engine, field, BigInt(v));
        if (rc !== 0) throw new ClamavError(`cl_engine_set_num(${field})`, rc);
      }
      const signo = new Uint32Array(1);
      for (const p of paths) {
        const rc = cl.cl_load(new TextEncoder().encode(p + "\0"), engine, signo, CL_DB_STDOPT);
        if (rc !== 0) throw new ClamavError(`cannot load ${p}`, rc);
      }
      if (signo[0] === 0) throw new Error(`no signatures in ${paths.join(", ")}`);
      const rc = cl.cl_engine_compile(engine);
      if (rc !== 0) throw new ClamavError("cl_engine_compile", rc);
      return new ClamavMatcher(engine, signo[0], clamscanNames, limits);
    } catch (e) {
      cl.cl_engine_free(engine);
      throw e;
    }
  }

  /** A signature name as virtav prints it: clamscan's `.UNOFFICIAL` only with `clamscanNames`. */
  #name(p: NonNullable<Deno.PointerValue>): string {
    const n = Deno.UnsafePointerView.getCString(p);
    return this.clamscanNames ? n : n.replace(/\.UNOFFICIAL$/, "");
  }

  /** Scans `len` bytes at `ptr` as one unit (in windows above `limits.maxUnit`). */
  #scanPointer(ptr: Deno.PointerValue, len: number, name: string, o: ScanOptions): Hit[] {
    const names = new Set<string>();
    const { maxUnit, window, overlap } = this.limits;
    if (len <= maxUnit) this.#scanOne(ptr, len, name, o, names);
    else {
      const step = window - overlap;
      for (let off = 0; off < len; off += step) {
        const n = Math.min(window, len - off);
        this.#scanOne(Deno.UnsafePointer.offset(ptr!, off), n, name, o, names);
        if ((names.size && !o.allMatch) || off + n >= len) break;
      }
    }
    this.bytes += len;
    return [...names].map((n) => ({ sig: -1, name: n, offset: -1 }));
  }

  #scanOne(
    ptr: Deno.PointerValue,
    len: number,
    name: string,
    o: ScanOptions,
    names: Set<string>,
  ): void {
    if (len === 0) return;
    const cl = clamav();
    const map = cl.cl_fmap_open_memory(ptr, BigInt(len));
    if (map === null) throw new Error(`libclamav: cannot map ${name} (${len} bytes)`);
    // struct cl_scan_options { general, parse, heuristic, mail, dev }: parsers and heuristics off.
    const opts = new Uint32Array([o.allMatch ? CL_SCAN_GENERAL_ALLMATCHES : 0, 0, 0, 0, 0]);
    this.#found = [];
    this.#virname[0] = 0n;
    let rc: number;
    try {
      rc = cl.cl_scanmap_callback(
        map,
        new TextEncoder().encode(name + "\0"),
        this.#virname,
        this.#scanned,
        this.#engine,
        opts,
        null,
      );
    } finally {
      cl.cl_fmap_close(map);
    }
    if (rc !== 0 && rc !== CL_VIRUS) throw new ClamavError(`scan of ${name}`, rc);
    for (const n of this.#found) names.add(n);
    if (rc === CL_VIRUS && this.#found.length === 0 && this.#virname[0] !== 0n) {
      const p = Deno.UnsafePointer.create(this.#virname[0]);
      if (p !== null) names.add(this.#name(p));
    }
  }

  /** Scans a buffer as one unit. */
  scanBuffer(buf: Uint8Array, o: ScanOptions = {}, name = "buffer"): Hit[] {
    if (buf.length === 0) return [];
    return this.#scanPointer(
      Deno.UnsafePointer.of(buf as Uint8Array<ArrayBuffer>),
      buf.length,
      name,
      o,
    );
  }

  /** Scans `[off, off + len)` of a mapped file in place, as one unit. */
  scanMapped(file: MappedFile, off: number, len: number, o: ScanOptions = {}): Hit[] {
    if (len === 0) return [];
    const ptr = native().vav_map_ptr(file.handle, BigInt(off), BigInt(len));
    if (ptr === null) throw new Error(`${file.path}: [${off}, +${len}) is outside the file`);
    return this.#scanPointer(ptr, len, file.path, o);
  }

  /**
   * Scans guest-physical chunks `[pa, len]` as one unit, in order: in place when they are one
   * chunk, else gathered into one buffer first (as the default engine does).
   */
  scanChunks(
    file: MappedFile,
    segs: BigUint64Array,
    chunks: BigUint64Array,
    o: ScanOptions = {},
  ): Hit[] {
    if (chunks.length === 2) {
      const pa = chunks[0], len = chunks[1];
      for (let i = 0; i < segs.length; i += 3) {
        if (pa >= segs[i] && pa - segs[i] < segs[i + 2] && len <= segs[i + 2] - (pa - segs[i])) {
          return this.scanMapped(file, Number(segs[i + 1] + pa - segs[i]), Number(len), o);
        }
      }
      throw new Error(`${file.path}: pa 0x${pa.toString(16)} +${len} is outside guest RAM`);
    }
    let total = 0n;
    for (let i = 1; i < chunks.length; i += 2) total += chunks[i];
    const buf = new Uint8Array(Number(total));
    check(
      native().vav_map_gather(
        file.handle,
        segs,
        segs.length / 3,
        chunks,
        chunks.length / 2,
        buf,
        total,
      ),
      `gathering pages of ${file.path}`,
    );
    return this.#scanPointer(Deno.UnsafePointer.of(buf), buf.length, file.path, o);
  }

  /** Frees the engine and the callback. */
  close(): void {
    if (this.#engine !== null) clamav().cl_engine_free(this.#engine);
    this.#engine = null;
    this.#callback.close();
  }
}
