/**
 * One domain's I/O page table: the mappings created by MAP requests, kept sorted by IOVA.
 * A mapping is the unit the spec's UNMAP works on ("a virtual region created with a single
 * MAP request"), so it is stored whole rather than split into pages; lookups are a binary
 * search. Addresses are 64-bit byte addresses (bigints: virtio-iommu's IOVA space is the whole
 * 64 bits, and the top of it is a normal place to map), `virtEnd` inclusive as on the wire.
 *
 * @module
 */

/** One mapping: IOVA range [virtStart, virtEnd] to physStart, with MAP flags. */
export interface Mapping {
  virtStart: bigint;
  virtEnd: bigint;
  physStart: bigint;
  flags: number;
}

/** The outcome of an UNMAP on the table: the removed mappings, or the one it would split. */
export type UnmapOutcome =
  | { ok: true; removed: Mapping[] }
  | { ok: false; split: Mapping };

/**
 * Sorted, non-overlapping mappings of one domain.
 *
 * @example
 * ```ts
 * import { IoPageTable } from "./io_page_table.ts";
 * const t = new IoPageTable();
 * t.insert({ virtStart: 0x1000n, virtEnd: 0x1fffn, physStart: 0xa000n, flags: 1 });
 * t.find(0x1800n)?.physStart; // 0xa000n
 * ```
 */
export class IoPageTable {
  #maps: Mapping[] = [];

  /** Number of mappings. */
  get size(): number {
    return this.#maps.length;
  }

  /** Every mapping, in IOVA order (a copy). */
  all(): Mapping[] {
    return this.#maps.slice();
  }

  /** Index of the first mapping whose virtEnd >= iova. */
  #lowerBound(iova: bigint): number {
    let lo = 0;
    let hi = this.#maps.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#maps[mid].virtEnd < iova) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The mapping that contains `iova`, if any. */
  find(iova: bigint): Mapping | undefined {
    const m = this.#maps[this.#lowerBound(iova)];
    return m !== undefined && m.virtStart <= iova ? m : undefined;
  }

  /** True when some mapping intersects [start, end]. */
  overlaps(start: bigint, end: bigint): boolean {
    const m = this.#maps[this.#lowerBound(start)];
    return m !== undefined && m.virtStart <= end;
  }

  /** Inserts a mapping; the caller has checked that it overlaps nothing. */
  insert(m: Mapping): void {
    const i = this.#lowerBound(m.virtStart);
    this.#maps.splice(i, 0, m);
  }

  /**
   * The spec's UNMAP on [start, end]: every mapping inside the range goes; a mapping that
   * the range would split fails the whole request and nothing is removed.
   */
  unmap(start: bigint, end: bigint): UnmapOutcome {
    const first = this.#lowerBound(start);
    let last = first;
    while (last < this.#maps.length && this.#maps[last].virtStart <= end) {
      const m = this.#maps[last];
      if (m.virtStart < start || m.virtEnd > end) return { ok: false, split: m };
      last++;
    }
    return { ok: true, removed: this.#maps.splice(first, last - first) };
  }

  /** Removes every mapping. */
  clear(): Mapping[] {
    const all = this.#maps;
    this.#maps = [];
    return all;
  }
}
