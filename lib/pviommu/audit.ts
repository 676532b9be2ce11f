/**
 * The DMA audit: replays attach/detach/map/unmap/DMA events through the device model and
 * reports every violation: requests the device rejects (double maps, partial unmaps, maps
 * over reserved windows), DMA faults (no domain, no mapping, wrong permission), and every
 * use-after-unmap (a DMA to an IOVA its domain had mapped and then unmapped), including
 * those a deferred IOTLB still let through.
 *
 * @module
 */
import { type AuditEvent, mapFlagsOf } from "./audit_event.ts";
import { type Fault, type IommuConfig, isFault, PvIommu } from "./iommu.ts";
import { reasonName } from "./fault_log.ts";
import { FaultFlag, FaultReason, Status, statusName } from "./spec.ts";
import type { IotlbStats } from "./iotlb.ts";

/** One violation found by the audit. */
export interface Violation {
  line: number;
  kind: "request" | "fault" | "use-after-unmap";
  op: AuditEvent["op"];
  endpoint?: number;
  domain?: number;
  iova?: bigint;
  len?: bigint;
  /** Request status name (kind `request`), or fault reason (kind `fault`/`use-after-unmap`). */
  detail: string;
  /** For use-after-unmap: the line of the UNMAP, and whether a stale IOTLB entry served it. */
  unmappedAt?: number;
  served?: boolean;
}

/** What an audit found. */
export interface AuditReport {
  events: number;
  ops: Record<AuditEvent["op"], number>;
  /** Sum of DMA lengths (a number: exact up to 2^53 bytes, then rounded). */
  dmaBytes: number;
  violations: number;
  byKind: Record<Violation["kind"], number>;
  requestErrors: Record<string, number>;
  faults: Record<string, number>;
  useAfterUnmap: number;
  iotlb: IotlbStats;
}

interface Grave {
  start: bigint;
  end: bigint;
  line: number;
}

const MAX_GRAVES = 100_000;

/**
 * Replays events one at a time.
 *
 * @example
 * ```ts
 * import { Auditor } from "./audit.ts";
 * const a = new Auditor();
 * a.apply({ op: "attach", endpoint: 8, domain: 1 }, 1);
 * a.apply({ op: "dma", endpoint: 8, iova: 0x1000n, len: 64n, dir: "read" }, 2); // a violation
 * a.report().violations; // 1
 * ```
 */
export class Auditor {
  readonly iommu: PvIommu;
  readonly #violations: Violation[] = [];
  #events = 0;
  #dmaBytes = 0;
  #ops = { attach: 0, detach: 0, map: 0, unmap: 0, dma: 0 };
  #byKind = { request: 0, fault: 0, "use-after-unmap": 0 };
  #requestErrors: Record<string, number> = {};
  #faults: Record<string, number> = {};
  #graves = new Map<number, Grave[]>();
  #clockNs = 0;
  /** Called with each violation as it is found (streaming output). */
  onViolation: (v: Violation) => void = () => {};
  /** Keep at most this many violations in memory for the report (counts keep going). */
  keep = 10_000;

  constructor(cfg: IommuConfig = {}) {
    const clock = () => this.#clockNs;
    this.iommu = new PvIommu({
      ...cfg,
      iotlb: { ...cfg.iotlb, now: cfg.iotlb?.now ?? clock },
    });
  }

  #add(v: Violation): void {
    this.#byKind[v.kind]++;
    if (this.#violations.length < this.keep) this.#violations.push(v);
    this.onViolation(v);
  }

  /** Applies one event (its line number names it in violations). */
  apply(ev: AuditEvent, line: number): void {
    this.#events++;
    this.#ops[ev.op]++;
    // Trace time drives the deferred-invalidation clock; without it, one microsecond a line.
    this.#clockNs = ev.ts ?? this.#clockNs + 1000;
    this.iommu.iotlb.tick();
    let status: number = Status.OK;
    switch (ev.op) {
      case "attach":
        status = this.iommu.attach(ev.domain!, ev.endpoint!);
        break;
      case "detach":
        status = this.iommu.detach(ev.domain!, ev.endpoint!);
        break;
      case "map":
        status = this.iommu.map(
          ev.domain!,
          ev.iova!,
          ev.iova! + ev.len! - 1n,
          ev.gpa!,
          mapFlagsOf(ev),
        );
        break;
      case "unmap": {
        const start = ev.iova!;
        const end = ev.iova! + ev.len! - 1n;
        const before = this.iommu.mappings(ev.domain!) ?? [];
        status = this.iommu.unmap(ev.domain!, start, end);
        if (status === Status.OK) {
          let g = this.#graves.get(ev.domain!);
          if (!g) this.#graves.set(ev.domain!, g = []);
          for (const m of before) {
            if (m.virtStart >= start && m.virtEnd <= end) {
              g.push({ start: m.virtStart, end: m.virtEnd, line });
            }
          }
          if (g.length > MAX_GRAVES) g.splice(0, g.length - MAX_GRAVES);
        }
        break;
      }
      case "dma":
        this.#dma(ev, line);
        return;
    }
    if (status !== Status.OK) {
      const name = statusName(status);
      this.#requestErrors[`${ev.op}:${name}`] = (this.#requestErrors[`${ev.op}:${name}`] ?? 0) + 1;
      this.#add({
        line,
        kind: "request",
        op: ev.op,
        endpoint: ev.endpoint,
        domain: ev.domain,
        iova: ev.iova,
        len: ev.len,
        detail: name,
      });
    }
  }

  #grave(domain: number, addr: bigint): Grave | undefined {
    const g = this.#graves.get(domain);
    if (!g) return undefined;
    for (let i = g.length - 1; i >= 0; i--) {
      if (g[i].start <= addr && addr <= g[i].end) return g[i];
    }
    return undefined;
  }

  #dma(ev: AuditEvent, line: number): void {
    const ep = ev.endpoint!;
    const stale0 = this.iommu.iotlb.staleHits;
    // Checked per mapping, not per page: a 1 TiB DMA over one mapping is one page-table walk.
    const fault: Fault | null = this.iommu.check(ep, ev.iova!, ev.len!, ev.dir ?? null);
    this.#dmaBytes += Number(ev.len!);
    const domain = this.iommu.domainOf(ep) ?? -1;
    if (fault) {
      const reason = reasonName(fault.reason);
      const dir = fault.flags & FaultFlag.WRITE
        ? "write"
        : fault.flags & FaultFlag.READ
        ? "read"
        : "";
      const grave = fault.reason === FaultReason.MAPPING
        ? this.#grave(domain, fault.address)
        : undefined;
      // Only a page with no live mapping at all is a use-after-unmap; a live mapping with the
      // wrong permission is a plain fault.
      const unmapped = grave !== undefined && isFault(this.iommu.walk(ep, fault.address, null));
      const key = `${reason}${dir ? ":" + dir : ""}`;
      this.#faults[key] = (this.#faults[key] ?? 0) + 1;
      this.#add({
        line,
        kind: unmapped ? "use-after-unmap" : "fault",
        op: "dma",
        endpoint: ep,
        domain,
        iova: fault.address,
        len: ev.len,
        detail: key,
        ...(unmapped ? { unmappedAt: grave!.line, served: false } : {}),
      });
      return;
    }
    if (this.iommu.iotlb.staleHits > stale0) {
      const grave = this.#grave(domain, ev.iova!);
      this.#add({
        line,
        kind: "use-after-unmap",
        op: "dma",
        endpoint: ep,
        domain,
        iova: ev.iova,
        len: ev.len,
        detail: "stale IOTLB entry",
        unmappedAt: grave?.line,
        served: true,
      });
    }
  }

  /** The violations kept so far. */
  violations(): Violation[] {
    return this.#violations;
  }

  /** The summary so far (flushes a deferred IOTLB first so every window is measured). */
  report(): AuditReport {
    this.iommu.iotlb.flush();
    const byKind = { ...this.#byKind };
    return {
      events: this.#events,
      ops: { ...this.#ops },
      dmaBytes: this.#dmaBytes,
      violations: byKind.request + byKind.fault + byKind["use-after-unmap"],
      byKind,
      requestErrors: { ...this.#requestErrors },
      faults: { ...this.#faults },
      useAfterUnmap: byKind["use-after-unmap"],
      iotlb: this.iommu.iotlb.stats(),
    };
  }
}
