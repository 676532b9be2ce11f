/**
 * What `virtav scan` and `virtav watch` scan: files and directories (like clamscan with its
 * parsers off), whole guest memory (raw image, RAM file or ELF dump, one unit per segment),
 * and only the executable pages a CR3 maps (one unit per virtually contiguous run).
 *
 * @module
 */
import { describeFsError } from "../cli/stream_io.ts";
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { Hit, Matcher, ScanOptions } from "./matcher.ts";
import { MappedFile } from "./mapped_file.ts";
import type { HashSignature } from "./hash_db.ts";
import type { GuestMemory } from "./guest_memory.ts";
import {
  type ExecUnit,
  groupUnits,
  kernelImageBytes,
  unitOffsetToPa,
  walkExecutable,
  type WalkOptions,
  type WalkStats,
} from "./page_walker.ts";

/** clamscan scans nothing in files this small (bytes). */
export const SMALL_FILE = 5;

/** One detection. */
export interface Detection {
  /** The scanned file (or memory source). */
  path: string;
  name: string;
  /**
   * Offset of the match in the scanned unit (file, segment, or executable run); -1 when the
   * engine does not say where (libclamav), and then `unit` says which unit matched.
   */
  offset: number;
  /** Guest-physical address (memory scans). */
  pa?: number;
  /** Guest-virtual address (executable-page scans). */
  va?: bigint;
  /** The unit that matched, when the offset is unknown (memory scans). */
  unit?: { pa?: number; va?: bigint; size: number };
}

/** What a scanner needs of an engine: scan a unit of a mapped file, or a list of chunks. */
export type UnitMatcher = Pick<Matcher, "scanMapped" | "scanChunks">;

/** A file that could not be scanned (the scan goes on). */
export interface ScanProblem {
  path: string;
  message: string;
}

/**
 * Scans with one loaded matcher and the hash signatures.
 *
 * @example
 * ```ts
 * import { Scanner } from "./scanner.ts";
 * // const scanner = new Scanner(matcher, db.hashes, { allMatch: true });
 * // for await (const r of scanner.scanPaths(["/tmp/x"])) console.log(r);
 * ```
 */
export class Scanner {
  readonly #bySize = new Map<number | null, HashSignature[]>();
  /** Allow-list hashes (`.fp`/`.sfp`), by size (null: any). */
  readonly #allowBySize = new Map<number | null, HashSignature[]>();
  files = 0;
  bytes = 0;

  constructor(
    readonly matcher: UnitMatcher,
    hashes: HashSignature[],
    readonly opts: ScanOptions = {},
  ) {
    for (const h of hashes) {
      const by = h.allow ? this.#allowBySize : this.#bySize;
      const list = by.get(h.size) ?? [];
      list.push(h);
      by.set(h.size, list);
    }
  }

  /** Whether the matcher stopped a scan on SIGINT/SIGTERM (virtav's own matcher only). */
  #cancelled(): boolean {
    return (this.matcher as { stats?: { cancelled?: boolean } }).stats?.cancelled === true;
  }

  #hashMatches(data: () => Uint8Array, size: number, allow = false): string[] {
    const by = allow ? this.#allowBySize : this.#bySize;
    const cands = [...(by.get(size) ?? []), ...(by.get(null) ?? [])];
    if (cands.length === 0) return [];
    const bytes = data();
    const digests = new Map<string, string>();
    const out: string[] = [];
    for (const c of cands) {
      let d = digests.get(c.algo);
      if (!d) {
        d = createHash(c.algo).update(bytes).digest("hex");
        digests.set(c.algo, d);
      }
      if (d === c.hash) out.push(c.name);
    }
    return out;
  }

  /**
   * Scans one regular file in place. clamscan matches nothing in a file of 5 bytes or less
   * (its "small data" rule), not even a hash; an empty one it calls "Empty file".
   */
  scanFile(path: string): Detection[] {
    const f = MappedFile.open(path);
    try {
      this.files++;
      if (f.size <= SMALL_FILE) return [];
      this.bytes += f.size;
      const hits: Hit[] = this.matcher.scanMapped(f, 0, f.size, this.opts);
      const dets: Detection[] = hits.map((h) => ({ path, name: h.name, offset: h.offset }));
      if (dets.length === 0 || this.opts.allMatch) {
        for (const name of this.#hashMatches(() => f.read(0, f.size), f.size)) {
          dets.push({ path, name, offset: 0 });
          if (!this.opts.allMatch) break;
        }
      }
      // clamscan (cli_check_fp) drops every detection of a file an allow-list names
      if (dets.length && this.#hashMatches(() => f.read(0, f.size), f.size, true).length) return [];
      return dets;
    } finally {
      f.close();
    }
  }

  /**
   * Scans files and directories, yielding per file. Symlinks named on the command line are
   * followed, those met inside directories are not (clamscan's defaults); a named path that is
   * neither a file nor a directory (a FIFO, a device) is a problem, not silently skipped.
   */
  async *scanPaths(
    paths: string[],
    named = true,
  ): AsyncGenerator<
    { path: string; detections: Detection[]; empty?: boolean } | { problem: ScanProblem } | {
      path: string;
      note: string;
    }
  > {
    for (const p of paths) {
      let st: Deno.FileInfo;
      try {
        st = named ? await Deno.stat(p) : await Deno.lstat(p);
      } catch (e) {
        yield { problem: { path: p, message: describeFsError(e) } };
        continue;
      }
      if (st.isDirectory) {
        const names: string[] = [];
        try {
          for await (const ent of Deno.readDir(p)) names.push(ent.name);
        } catch (e) {
          yield { problem: { path: p, message: (e as Error).message.split(":")[0] } };
          continue;
        }
        names.sort();
        yield* this.scanPaths(names.map((n) => join(p, n)), false);
        if (this.#cancelled()) return;
      } else if (st.isFile) {
        try {
          yield { path: p, detections: this.scanFile(p), empty: st.size === 0 };
        } catch (e) {
          yield { problem: { path: p, message: (e as Error).message } };
        }
      } else if (named) {
        yield { problem: { path: p, message: "not a regular file or directory" } };
      } else if (st.isSymlink) {
        // clamscan does not follow symlinks met in directories, and says so (not an error).
        yield { path: p, note: "Symbolic link" };
      }
    }
  }

  /** Scans all of guest memory, one unit per segment; addresses are guest-physical. */
  scanMemory(mem: GuestMemory, path: string): Detection[] {
    const out: Detection[] = [];
    for (const s of mem.segments) {
      this.bytes += s.size;
      for (const h of this.matcher.scanMapped(mem.file, s.fileOff, s.size, this.opts)) {
        out.push(
          h.offset < 0
            ? { path, name: h.name, offset: -1, unit: { pa: s.pa, size: s.size } }
            : { path, name: h.name, offset: h.offset, pa: s.pa + h.offset },
        );
      }
      if ((out.length && !this.opts.allMatch) || this.#cancelled()) break;
    }
    return out;
  }

  /** Scans the given executable units (from {@linkcode walkExecutable}). */
  scanUnits(mem: GuestMemory, path: string, units: ExecUnit[]): Detection[] {
    const out: Detection[] = [];
    for (const u of units) {
      if (this.#cancelled()) break;
      const chunks = new BigUint64Array(u.chunks.length * 2);
      u.chunks.forEach((c, i) => chunks.set([BigInt(c.pa), BigInt(c.size)], i * 2));
      this.bytes += u.size;
      for (const h of this.matcher.scanChunks(mem.file, mem.segs, chunks, this.opts)) {
        if (h.offset < 0) {
          out.push({
            path,
            name: h.name,
            offset: -1,
            unit: { va: u.va, pa: u.chunks[0].pa, size: u.size },
          });
          continue;
        }
        out.push({
          path,
          name: h.name,
          offset: h.offset,
          pa: unitOffsetToPa(u, h.offset),
          va: u.va + BigInt(h.offset),
        });
      }
    }
    return out;
  }

  /** Walks `cr3` and scans only present, executable pages. */
  scanExecutable(
    mem: GuestMemory,
    path: string,
    cr3: bigint,
    walk: WalkOptions = {},
  ): {
    detections: Detection[];
    stats: WalkStats;
    units: number;
    execBytes: number;
    /** Executable bytes at the kernel image's addresses (none: wrong CR3 or depth). */
    kernelBytes: number;
  } {
    const { runs, stats } = walkExecutable(mem, cr3, walk);
    const units = groupUnits(runs);
    const execBytes = units.reduce((a, u) => a + u.size, 0);
    const detections = this.scanUnits(mem, path, units);
    return {
      detections,
      stats,
      units: units.length,
      execBytes,
      kernelBytes: kernelImageBytes(runs),
    };
  }
}
