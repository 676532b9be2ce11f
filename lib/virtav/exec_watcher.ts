/**
 * Incremental scanning of a running guest's executable pages: walk a CR3, hash every 4 KiB
 * page of every executable run (native, in place), and rescan only the runs holding a page
 * that is new or changed since the last pass. A run is rescanned whole, so a signature that
 * spans pages is still seen.
 *
 * @module
 */
import { native } from "../ffi/ffi.ts";
import { check } from "../ffi/errno.ts";
import type { GuestMemory } from "./guest_memory.ts";
import {
  type ExecUnit,
  groupUnits,
  walkExecutable,
  type WalkOptions,
  type WalkStats,
} from "./page_walker.ts";
import type { Detection, Scanner } from "./scanner.ts";

/** What one pass over one CR3 did. */
export interface PassResult {
  detections: Detection[];
  units: number;
  execBytes: number;
  pagesHashed: number;
  unitsRescanned: number;
  bytesRescanned: number;
  walk: WalkStats;
}

function unitKey(u: ExecUnit): string {
  return `${u.va.toString(16)}:${
    u.chunks.map((c) => `${c.pa.toString(16)}+${c.size.toString(16)}`).join(",")
  }`;
}

/**
 * Keeps the page hashes of each CR3's executable runs between passes.
 *
 * @example
 * ```ts
 * import { ExecWatcher } from "./exec_watcher.ts";
 * // const w = new ExecWatcher(scanner, mem, "guest.ram");
 * // const first = w.pass(cr3); const again = w.pass(cr3); // again.unitsRescanned === 0 if idle
 * ```
 */
export class ExecWatcher {
  /** Per CR3: unit key → page hashes. */
  #seen = new Map<bigint, Map<string, BigUint64Array>>();

  constructor(readonly scanner: Scanner, readonly mem: GuestMemory, readonly path: string) {}

  /** CR3s with state kept. */
  get cr3s(): bigint[] {
    return [...this.#seen.keys()];
  }

  /** Forgets a CR3 (its process is gone). */
  forget(cr3: bigint): void {
    this.#seen.delete(cr3);
  }

  /** Walks `cr3`, hashes its executable pages, rescans new or changed runs. */
  pass(cr3: bigint, walk: WalkOptions = {}): PassResult {
    const { runs, stats } = walkExecutable(this.mem, cr3, walk);
    const units = groupUnits(runs);
    let npages = 0;
    for (const u of units) npages += u.size / 4096;
    const pages = new BigUint64Array(npages);
    let k = 0;
    for (const u of units) {
      for (const c of u.chunks) {
        for (let o = 0; o < c.size; o += 4096) pages[k++] = BigInt(c.pa + o);
      }
    }
    const hashes = new BigUint64Array(npages);
    check(
      native().vav_map_hash_pages(
        this.mem.file.handle,
        this.mem.segs,
        this.mem.segs.length / 3,
        pages,
        npages,
        hashes,
      ),
      "hashing pages",
    );
    const prev = this.#seen.get(cr3) ?? new Map<string, BigUint64Array>();
    const next = new Map<string, BigUint64Array>();
    const changed: ExecUnit[] = [];
    k = 0;
    for (const u of units) {
      const n = u.size / 4096;
      const h = hashes.slice(k, k + n);
      k += n;
      const key = unitKey(u);
      const old = prev.get(key);
      if (!old || old.length !== h.length || old.some((v, i) => v !== h[i])) changed.push(u);
      next.set(key, h);
    }
    this.#seen.set(cr3, next);
    const detections = this.scanner.scanUnits(this.mem, this.path, changed);
    return {
      detections,
      units: units.length,
      execBytes: npages * 4096,
      pagesHashed: npages,
      unitsRescanned: changed.length,
      bytesRescanned: changed.reduce((a, u) => a + u.size, 0),
      walk: stats,
    };
  }
}
