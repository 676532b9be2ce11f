/**
 * The bridge to the native matcher: load a compiled database once, scan buffers, mapped files
 * (no copy) and lists of guest-physical chunks.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { native } from "../ffi/ffi.ts";
import { check } from "../ffi/errno.ts";
import type { CompiledDb } from "./compile.ts";
import type { MappedFile } from "./mapped_file.ts";
import {
  evalLogic,
  parsePcreForm,
  parseSubsigName,
  PCRE_FLAG_BITS,
  type PcreSub,
  PRESENCE_FORM,
} from "./ldb.ts";

/** One detection inside one scanned unit. */
export interface Hit {
  /** Signature id (index into the compiled names). */
  sig: number;
  name: string;
  /** Offset of the match's first byte in the unit. */
  offset: number;
}

/** Counters of a scan (summed over calls). */
export interface ScanStats {
  bytes: number;
  candidates: number;
  partsVerified: number;
  /**
   * Signature variants whose pending partial matches outgrew their tracker in a unit; each was
   * then decided by the exact (slower, bitmap) scan of that unit, so nothing is missed.
   */
  exactFallbacks: number;
  /** Hits beyond the output buffer (not reported). */
  hitsLost: number;
  /** Bytes gathered from discontiguous pages into one buffer before scanning. */
  bytesCopied: number;
  /**
   * Set once a scan stopped early on SIGINT/SIGTERM: its hits are those in the bytes scanned
   * so far (`bytes` counts only those), so the result is partial.
   */
  cancelled: boolean;
}

/** Scan options. */
export interface ScanOptions {
  /** Report every signature that matches, not only the first (clamscan's --allmatch). */
  allMatch?: boolean;
}

const HIT_SIZE = 16;

/** A logical signature with counts: its first subsignature's id, and what to count. */
interface CountedLogical {
  sig: number;
  logic: string;
  name: string;
  /**
   * Per subsignature: its spellings of fixed bytes (counted in the unit's bytes), a PCRE
   * subsignature, or "hit" (whether the body matcher found it).
   */
  forms: (Uint8Array[] | PcreSub | "hit")[];
}

/** clamscan's PCRE flags as native/virtav_pcre.c takes them. */
function pcreFlags(flags: string): number {
  return [...flags].reduce((f, c) => f | (PCRE_FLAG_BITS[c] ?? 0), 0);
}

/** clamscan's CLI_OFF_ANY and CLI_OFF_NONE, which an offset computed in 32 bits may hit. */
const OFF_ANY = 0xffffffff, OFF_NONE = 0xfffffffe;

/** clamscan's default --pcre-max-filesize: PCREs do not run on larger units. */
export const PCRE_MAX_FILESIZE = 100 * 1024 * 1024;

/**
 * Where a PCRE runs in a unit of `len` bytes, as clamscan's cli_pcre_recaloff and
 * cli_pcre_scanbuf place it: the window [start, start + length), anchored at its start (an
 * offset with no shift and no `r`), the latest start a match may have in it (`n,m` without
 * `e`: m); null when it does not run (the offset at or past the end). 32-bit arithmetic as
 * clamscan's: `EOF-n` with n = len + 1 lands on CLI_OFF_ANY and runs over the whole unit.
 */
export function pcreWindow(
  p: PcreSub,
  len: number,
): { start: number; length: number; anchored: boolean; maxStart: number } | null {
  const o = p.offset;
  let at: number, shift: number;
  if (!o || o.kind === "any") [at, shift] = [OFF_ANY, 0];
  else if (o.kind === "abs") [at, shift] = [o.n, o.shift];
  else {
    at = (len - o.n) >>> 0;
    shift = at === OFF_ANY ? 0 : at === OFF_NONE ? 0 : o.shift;
  }
  if (at === OFF_NONE) return null;
  const rolling = p.flags.includes("r"), encompass = p.flags.includes("e");
  const anchored = !rolling && shift === 0 && at !== OFF_ANY;
  if (at === OFF_ANY) at = 0;
  if (at >= len) return null;
  let length = len - at;
  if (encompass && shift !== 0 && shift !== OFF_NONE && at + shift <= len) length = shift;
  const maxStart = !encompass && shift ? shift : Number.MAX_SAFE_INTEGER;
  return { start: at, length, anchored, maxStart };
}

/** native/virtav_pcre.c's flag: anchored at the window's start (clamscan's match option). */
const VP_ANCHOR = 256;

/**
 * A PCRE subsignature's matches in `bytes` (libpcre2, as clamscan counts them, in the window
 * its offset gives) and the first's start; none unless its trigger holds over the counts so far
 * (clamscan runs it after the other subsignatures are counted, PCREs in order), nor in a unit
 * above clamscan's PCRE size limit. A pattern libpcre2 refuses matches nothing.
 */
function pcreOccurrences(
  unit: () => Uint8Array,
  p: PcreSub,
  counts: number[],
): { n: number; first: number } {
  if (!evalLogic(p.trigger, counts)) return { n: 0, first: 0 };
  const bytes = unit();
  if (bytes.length > PCRE_MAX_FILESIZE) return { n: 0, first: 0 };
  const w = pcreWindow(p, bytes.length);
  if (!w) return { n: 0, first: 0 };
  const pat = new TextEncoder().encode(p.pattern.split("\0")[0]);
  const first = new BigUint64Array(1);
  const n = Number(
    native().vav_pcre_count(
      pat,
      BigInt(pat.length),
      pcreFlags(p.flags) | (w.anchored ? VP_ANCHOR : 0),
      bytes.subarray(w.start, w.start + w.length),
      BigInt(w.length),
      BigInt(w.maxStart),
      first,
    ),
  );
  return n > 0 ? { n, first: w.start + Number(first[0]) } : { n: 0, first: 0 };
}

/** Where `forms` occur in `bytes`: the number of distinct start offsets, and the first. */
function occurrences(bytes: Uint8Array, forms: Uint8Array[]): { n: number; first: number } {
  const starts = new Set<number>();
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  for (const f of forms) {
    for (let at = buf.indexOf(f); at >= 0; at = buf.indexOf(f, at + 1)) starts.add(at);
  }
  return { n: starts.size, first: starts.size ? Math.min(...starts) : 0 };
}

/**
 * Replaces the hits of `.ldb` subsignatures by the logical signatures they satisfy (evaluated
 * over the whole unit, as clamscan does at the end of a scan; the offset is the earliest
 * subsignature hit's), after the body signatures' hits. Signatures with counts are evaluated
 * from the unit's bytes (every unit: `0<1` holds where nothing matched, as in clamscan); where
 * the bytes are not at hand (`bytes` null) they are not reported.
 */
function logicalHits(
  hits: Hit[],
  names: string[],
  counted: CountedLogical[],
  bytes: (() => Uint8Array) | null,
): Hit[] {
  const body: Hit[] = [];
  const groups = new Map<number, { matched: number[]; offset: number; sig: number }>();
  // subsignatures of counted signatures found by the body matcher: first id -> index -> offset
  const found = new Map<number, Map<number, number>>();
  for (const h of hits) {
    const sub = parseSubsigName(h.name);
    if (!sub) {
      body.push(h);
      continue;
    }
    if (sub.forms.length) {
      if (sub.forms[0] !== PRESENCE_FORM) continue;
      const m = found.get(h.sig - sub.index) ?? new Map<number, number>();
      m.set(sub.index, Math.min(m.get(sub.index) ?? h.offset, h.offset));
      found.set(h.sig - sub.index, m);
      continue;
    }
    const first = h.sig - sub.index;
    const g = groups.get(first) ??
      { matched: new Array(sub.count).fill(0), offset: h.offset, sig: first };
    g.matched[sub.index] = 1;
    g.offset = Math.min(g.offset, h.offset);
    groups.set(first, g);
  }
  const logical: Hit[] = [];
  for (const g of groups.values()) {
    const sub = parseSubsigName(names[g.sig])!;
    if (evalLogic(sub.logic, g.matched)) {
      logical.push({ sig: g.sig, name: sub.name, offset: g.offset });
    }
  }
  if (counted.length && bytes) {
    // the unit's bytes are read only when something is counted or a PCRE's trigger holds
    let b: Uint8Array | null = null;
    const unit = () => (b ??= bytes());
    for (const c of counted) {
      const occ = c.forms.map((f, j) => {
        if (Array.isArray(f)) return occurrences(unit(), f);
        const at = f === "hit" ? found.get(c.sig)?.get(j) : undefined;
        return at === undefined ? { n: 0, first: 0 } : { n: 1, first: at };
      });
      const counts = occ.map((o) => o.n);
      c.forms.forEach((f, j) => {
        if (!Array.isArray(f) && f !== "hit") {
          counts[j] = (occ[j] = pcreOccurrences(unit, f, counts)).n;
        }
      });
      if (evalLogic(c.logic, occ.map((o) => o.n))) {
        const found = occ.filter((o) => o.n).map((o) => o.first);
        logical.push({ sig: c.sig, name: c.name, offset: found.length ? Math.min(...found) : 0 });
      }
    }
  }
  logical.sort((a, b) => a.sig - b.sig);
  return [...body, ...logical];
}

const HIT_CAP = 4096;

/** Whether a name is an `.ldb` subsignature's (ldb.ts `subsigName`). */
export function hasLogical(names: string[]): boolean {
  return names.some((n) => parseSubsigName(n) !== null);
}

/** What the Hyperscan prefilter took over (native/virtav_prefilter.c). */
export interface PrefilterInfo {
  /** "compiled" now, "attached" from a serialised copy (the cache), or "off". */
  state: "off" | "compiled" | "attached";
  /** Signature variants found through the prefilter, and those left on the key loop. */
  programsPrefiltered: number;
  programsKeyLoop: number;
  /** Signatures all of whose variants are prefiltered, and those with one on the key loop. */
  sigsPrefiltered: number;
  sigsKeyLoop: number;
  literals: number;
  /** The prefilter's tables (Hyperscan's database and the sampler's) and Hyperscan's scratch size. */
  databaseBytes: number;
  scratchBytes: number;
}

/**
 * Whether the Hyperscan prefilter is used: yes unless `HVKIT_VIRTAV_PREFILTER=off` (for
 * comparisons: every signature then runs on the key loop alone).
 */
export function prefilterEnabled(): boolean {
  return Deno.env.get("HVKIT_VIRTAV_PREFILTER") !== "off";
}

const MSG_CAP = 512;
/** vav_db_load_pf's flags (native/virtav.h): VAV_PF_ON, VAV_DB_IN_PLACE. */
const PF_ON = 1, DB_IN_PLACE = 2;

/**
 * A loaded signature set in the native matcher.
 *
 * @example
 * ```ts
 * import { Matcher } from "./matcher.ts";
 * import { compileSignatures } from "./compile.ts";
 * import { parseNdbLine } from "./ndb.ts";
 * const m = Matcher.load(compileSignatures([parseNdbLine("T:0:*:41424344")]));
 * console.log(m.scanBuffer(new TextEncoder().encode("xxABCDxx"))); // [{ sig: 0, name: "T", offset: 2 }]
 * m.close();
 * ```
 */
export class Matcher {
  readonly stats: ScanStats = {
    bytes: 0,
    candidates: 0,
    partsVerified: 0,
    exactFallbacks: 0,
    hitsLost: 0,
    bytesCopied: 0,
    cancelled: false,
  };
  #out = new Uint8Array(HIT_SIZE * HIT_CAP);
  #st = new BigUint64Array(8);

  /** Why the prefilter is not in use or was rebuilt (one line), or null. */
  prefilterNote: string | null = null;

  private constructor(readonly handle: number, readonly names: string[], logical?: boolean) {
    this.#logical = logical ?? hasLogical(names);
    if (!this.#logical) return;
    const hex = (h: string) => Uint8Array.from(h.match(/../g)!.map((x) => parseInt(x, 16)));
    names.forEach((n, id) => {
      const sub = parseSubsigName(n);
      if (!sub || sub.index !== 0 || !sub.forms.length) return;
      const forms = Array.from(
        { length: sub.count },
        (_, j) => {
          const fs = parseSubsigName(names[id + j])!.forms;
          if (fs[0] === PRESENCE_FORM) return "hit" as const;
          return parsePcreForm(fs[0]) ?? fs.map(hex);
        },
      );
      this.#counted.push({ sig: id, logic: sub.logic, name: sub.name, forms });
    });
  }

  /**
   * Makes native scans stop within ~1 MiB of input when SIGINT or SIGTERM arrives (the signal
   * still reaches the handlers installed before, e.g. lib/cli's withRun); `stats.cancelled`
   * then says the result is partial. Call once before scanning.
   */
  static interruptible(): void {
    native().vav_cancel_reset();
  }

  /**
   * Loads a compiled database into the native matcher, with the Hyperscan prefilter unless
   * {@linkcode prefilterEnabled} says no: `c.prefilter` attached (refused with an error when it
   * is not this database's or does not fit this Hyperscan), null to go without, absent to
   * compile it now. `o.prefilter` false: without it (every signature on the key loop).
   */
  static load(c: CompiledDb, o: { prefilter?: boolean } = {}): Matcher {
    const on = (o.prefilter ?? prefilterEnabled()) && c.prefilter !== null;
    const pf = on && c.prefilter ? c.prefilter : null;
    const msg = new Uint8Array(MSG_CAP);
    const rc = native().vav_db_load_pf(
      c.blob as Uint8Array<ArrayBuffer>,
      BigInt(c.blob.length),
      pf as Uint8Array<ArrayBuffer> | null,
      BigInt(pf?.length ?? 0),
      (on ? PF_ON : 0) | (c.mapped ? DB_IN_PLACE : 0),
      msg,
      MSG_CAP,
    );
    const n = msg.indexOf(0);
    const note = new TextDecoder().decode(msg.subarray(0, n < 0 ? MSG_CAP : n));
    const h = check(
      rc,
      pf
        ? `loading the compiled database with its cached prefilter${note ? ` (${note})` : ""}`
        : "loading the compiled database",
    );
    const m = new Matcher(h, c.names, c.logical);
    m.prefilterNote = note || (c.prefilter === null ? c.prefilterNote ?? null : null);
    return m;
  }

  /** What the prefilter took over, and its memory. */
  prefilterInfo(): PrefilterInfo {
    const info = new BigUint64Array(8);
    check(native().vav_pf_info(this.handle, info), "prefilter info");
    const n = [...info].map(Number);
    const idx = this.info();
    const state = (["off", "compiled", "attached"] as const)[n[0]] ?? "off";
    return {
      state,
      programsPrefiltered: n[1],
      programsKeyLoop: state === "off" ? idx.programs : n[2],
      sigsPrefiltered: n[3],
      sigsKeyLoop: state === "off" ? idx.sigs : n[4],
      literals: n[5],
      databaseBytes: n[6],
      scratchBytes: n[7],
    };
  }

  /** The prefilter serialised (for the cache), or null when there is none. */
  serializePrefilter(): Uint8Array | null {
    const n = check(native().vav_pf_serialize(this.handle, null, 0n), "prefilter size");
    if (n === 0) return null;
    const out = new Uint8Array(n);
    check(native().vav_pf_serialize(this.handle, out, BigInt(n)), "prefilter serialisation");
    return out;
  }

  /** Sizes of the loaded index: signatures, programs (variants), parts, anchors. */
  info(): {
    sigs: number;
    programs: number;
    parts: number;
    anchors4: number;
    anchors2: number;
    indexBytes: number;
  } {
    const info = new BigUint64Array(8);
    check(native().vav_db_info(this.handle, info), "database info");
    const n = [...info].map(Number);
    return {
      sigs: n[0],
      programs: n[1],
      parts: n[2],
      anchors4: n[3],
      anchors2: n[4],
      indexBytes: n[5],
    };
  }

  /** Whether the database holds `.ldb` subsignatures (then every match is needed). */
  readonly #logical: boolean;
  /** `.ldb` signatures with counts, evaluated from a unit's bytes. */
  readonly #counted: CountedLogical[] = [];

  #flags(o: ScanOptions): number {
    return o.allMatch || this.#logical ? 1 : 0;
  }

  #collect(
    rc: number | bigint,
    what: string,
    o: ScanOptions,
    bytes: (() => Uint8Array) | null,
  ): Hit[] {
    const n = check(rc, what);
    const dv = new DataView(this.#out.buffer);
    const hits: Hit[] = [];
    for (let i = 0; i < n; i++) {
      const sig = dv.getUint32(i * HIT_SIZE, true);
      hits.push({
        sig,
        name: this.names[sig],
        offset: Number(dv.getBigUint64(i * HIT_SIZE + 8, true)),
      });
    }
    const s = this.#st;
    this.stats.bytes += Number(s[0]);
    this.stats.candidates += Number(s[1]);
    this.stats.partsVerified += Number(s[2]);
    this.stats.exactFallbacks += Number(s[3]);
    this.stats.hitsLost += Number(s[4]);
    this.stats.bytesCopied += Number(s[5]);
    if (s[7]) this.stats.cancelled = true;
    s.fill(0n);
    if (!this.#logical) return hits;
    const out = logicalHits(hits, this.names, this.#counted, bytes);
    return o.allMatch ? out : out.slice(0, 1);
  }

  /** Scans a buffer as one unit (offsets and `EOF-n` relative to it). */
  scanBuffer(buf: Uint8Array, o: ScanOptions = {}): Hit[] {
    const rc = native().vav_scan_buf(
      this.handle,
      buf as Uint8Array<ArrayBuffer>,
      BigInt(buf.length),
      this.#flags(o),
      this.#out,
      HIT_CAP,
      this.#st,
    );
    return this.#collect(rc, "scan", o, () => buf);
  }

  /** Scans `[off, off + len)` of a mapped file in place, as one unit. */
  scanMapped(file: MappedFile, off: number, len: number, o: ScanOptions = {}): Hit[] {
    const rc = native().vav_map_scan(
      this.handle,
      file.handle,
      BigInt(off),
      BigInt(len),
      this.#flags(o),
      this.#out,
      HIT_CAP,
      this.#st,
    );
    return this.#collect(rc, `scan of ${file.path}`, o, () => file.read(off, len));
  }

  /**
   * Scans guest-physical chunks `[pa, len]` as one unit, in order (one chunk: in place;
   * several: gathered into one buffer). `segs` translate guest-physical to file offsets.
   */
  scanChunks(
    file: MappedFile,
    segs: BigUint64Array,
    chunks: BigUint64Array,
    o: ScanOptions = {},
  ): Hit[] {
    const rc = native().vav_map_scan_chunks(
      this.handle,
      file.handle,
      segs,
      segs.length / 3,
      chunks,
      chunks.length / 2,
      this.#flags(o),
      this.#out,
      HIT_CAP,
      this.#st,
    );
    // signatures with counts or a PCRE need the unit's bytes: gathered again, only then
    const gathered = () => {
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
      return buf;
    };
    return this.#collect(rc, `scan of ${file.path}`, o, gathered);
  }

  /** Frees the native database. */
  close(): void {
    native().vav_db_free(this.handle);
  }
}
