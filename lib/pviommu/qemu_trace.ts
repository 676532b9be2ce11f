/**
 * Imports QEMU's intel-iommu trace events (`-trace 'vtd_*'`, log backend, QEMU 7.2) as audit
 * events. The emulated VT-d never sees the guest's MAP: the guest writes its I/O page tables
 * in memory. What QEMU sees, and this importer turns into events:
 *
 * - `vtd_iotlb_page_update sid S iova I slpte P domain D`: a page walk found a present PTE:
 *   `attach` (first time S is seen in D), `map` of that 4 KiB page to `P & ~0xfff` with the
 *   PTE's read/write bits (once per live translation), then a `dma` of one byte at I.
 * - `vtd_iotlb_page_hit ...`: a translation served from QEMU's IOTLB: a `dma` at I.
 * - `vtd_inv_desc_iotlb_pages domain D addr A mask M`: page-selective invalidation:
 *   `unmap` of 2^M pages at A (with caching-mode=on Linux also invalidates after a map;
 *   unmapping nothing is OK in virtio-iommu terms).
 * - `vtd_inv_desc_iotlb_domain`, `vtd_inv_desc_iotlb_global`: `unmap` of the whole domain(s).
 *
 * The trace has neither the direction nor the length of a DMA: imported DMAs have no `dir`
 * and a length of 1, so the audit checks that a mapping exists, not its permission.
 * A line prefix `PID@SECONDS.MICROS:` (`-msg timestamp=on`) becomes the event time, in ns
 * since the whole second of the first timestamped line (wall-clock ns since 1970 would not
 * fit a JSON number exactly).
 *
 * @module
 */
import type { AuditEvent } from "./audit_event.ts";

const PS = 4096n;
// Unmap length of a whole-domain invalidation: VT-d addresses are at most 57 bits.
const WHOLE = BigInt(Number.MAX_SAFE_INTEGER);

const RE = {
  prefix: /^(?:\d+@(\d+)\.(\d+):)?\s*(vtd_\w+)\s+(.*)$/,
  page: /sid 0x([0-9a-f]+) iova 0x([0-9a-f]+) slpte 0x([0-9a-f]+) domain 0x([0-9a-f]+)/,
  invPages: /domain 0x([0-9a-f]+) addr 0x([0-9a-f]+) mask 0x([0-9a-f]+)/,
  invDomain: /domain 0x([0-9a-f]+)/,
};

/** Counters of an import. */
export interface ImportStats {
  lines: number;
  used: number;
  skipped: number;
}

/**
 * Converts intel-iommu trace lines to audit events, keeping the state it needs (which
 * endpoints are in which domain, which pages have a live translation).
 *
 * @example
 * ```ts
 * import { VtdTraceImporter } from "./qemu_trace.ts";
 * const imp = new VtdTraceImporter();
 * imp.line("vtd_iotlb_page_update IOTLB page update sid 0x18 iova 0xfffff002 slpte 0x2aa2003 domain 0x5");
 * // [attach, map, dma]
 * ```
 */
export class VtdTraceImporter {
  readonly stats: ImportStats = { lines: 0, used: 0, skipped: 0 };
  #epDomain = new Map<number, number>();
  #live = new Map<number, Map<number, bigint>>(); // domain -> page -> slpte
  #domains = new Set<number>();
  #baseSec: number | null = null;

  /** The audit events one trace line stands for (often none). */
  line(text: string): AuditEvent[] {
    this.stats.lines++;
    const m = RE.prefix.exec(text.trim());
    if (!m) {
      this.stats.skipped++;
      return [];
    }
    let ts: number | undefined;
    if (m[1] !== undefined) {
      const sec = Number(m[1]);
      this.#baseSec ??= sec;
      ts = (sec - this.#baseSec) * 1e9 + Number(m[2].padEnd(6, "0")) * 1e3;
    }
    const name = m[3];
    const rest = m[4];
    const out = this.#event(name, rest, ts);
    if (out.length) this.stats.used++;
    else this.stats.skipped++;
    return out;
  }

  #event(name: string, rest: string, ts: number | undefined): AuditEvent[] {
    const t = ts !== undefined ? { ts } : {};
    if (name === "vtd_iotlb_page_update" || name === "vtd_iotlb_page_hit") {
      const p = RE.page.exec(rest);
      if (!p) return [];
      const sid = parseInt(p[1], 16);
      // 64-bit fields: read exactly (a PTE's high bits would round a number's low bits).
      const iova = BigInt("0x" + p[2]);
      const slpte = BigInt("0x" + p[3]);
      const domain = parseInt(p[4], 16);
      const out: AuditEvent[] = [];
      if (this.#epDomain.get(sid) !== domain) {
        this.#epDomain.set(sid, domain);
        out.push({ op: "attach", endpoint: sid, domain, ...t });
      }
      this.#domains.add(domain);
      const page = Number(iova / PS);
      let live = this.#live.get(domain);
      if (!live) this.#live.set(domain, live = new Map());
      if (name === "vtd_iotlb_page_update" && live.get(page) !== slpte) {
        if (live.has(page)) {
          out.push({ op: "unmap", domain, iova: BigInt(page) * PS, len: PS, ...t });
        }
        live.set(page, slpte);
        const flags = [...(slpte & 1n ? ["read"] : []), ...(slpte & 2n ? ["write"] : [])];
        // Bits 12..51 of a second-level PTE hold the page frame.
        const gpa = (slpte / PS) % (1n << 40n) * PS;
        out.push({
          op: "map",
          domain,
          iova: BigInt(page) * PS,
          len: PS,
          gpa,
          flags,
          ...t,
        });
      }
      out.push({ op: "dma", endpoint: sid, iova, len: 1n, ...t });
      return out;
    }
    if (name === "vtd_inv_desc_iotlb_pages") {
      const p = RE.invPages.exec(rest);
      if (!p) return [];
      const domain = parseInt(p[1], 16);
      if (!this.#domains.has(domain)) return []; // no endpoint of it translated yet
      const first = BigInt("0x" + p[2]) / PS;
      const mask = parseInt(p[3], 16);
      if (mask > 52) return []; // past any VT-d address width: not a real invalidation
      const pages = 1n << BigInt(mask);
      const live = this.#live.get(domain);
      // Drop the live pages in range: by key when the range is larger than what is live.
      if (live) {
        const lo = Number(first), hi = Number(first + pages); // exact: < 2^53 pages
        if (hi - lo <= live.size) { for (let pg = lo; pg < hi; pg++) live.delete(pg); }
        else for (const pg of live.keys()) if (pg >= lo && pg < hi) live.delete(pg);
      }
      return [{ op: "unmap", domain, iova: first * PS, len: pages * PS, ...t }];
    }
    if (name === "vtd_inv_desc_iotlb_domain") {
      const p = RE.invDomain.exec(rest);
      if (!p) return [];
      const domain = parseInt(p[1], 16);
      if (!this.#domains.has(domain)) return [];
      this.#live.delete(domain);
      return [{ op: "unmap", domain, iova: 0n, len: WHOLE, ...t }];
    }
    if (name === "vtd_inv_desc_iotlb_global") {
      const out: AuditEvent[] = [];
      for (const d of this.#domains) {
        out.push({ op: "unmap", domain: d, iova: 0n, len: WHOLE, ...t });
      }
      this.#live.clear();
      return out;
    }
    return [];
  }
}
