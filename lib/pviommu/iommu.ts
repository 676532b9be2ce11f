/**
 * The para-virtual IOMMU device model: endpoints, domains, attach/detach, per-domain I/O
 * page tables, MAP/UNMAP/PROBE with the virtio-iommu semantics and status codes, bypass, and
 * page translation through the {@linkcode Iotlb}.
 *
 * Where the spec leaves the status open, this device answers (docs/pviommu.md lists them):
 * - RANGE: IOVA not aligned to the page granularity, outside `input_range`, domain ID outside
 *   `domain_range`, an UNMAP that would split a mapping, a MAP over a RESV_MEM region.
 * - INVAL: reserved bits set (ATTACH, UNMAP), unknown flag bits, overlapping MAP,
 *   `virt_end < virt_start`, MAP/UNMAP on a bypass domain, an ATTACH whose BYPASS flag
 *   disagrees with the domain, DETACH from a domain the endpoint is not attached to, PROBE
 *   buffer too small.
 * - NOENT: unknown endpoint (ATTACH, DETACH, PROBE) or domain (MAP, UNMAP).
 * - UNSUPP: MAP/UNMAP without VIRTIO_IOMMU_F_MAP_UNMAP; ATTACH of an endpoint whose
 *   RESV_MEM regions collide with the domain's mappings; ATTACH_F_BYPASS without
 *   VIRTIO_IOMMU_F_BYPASS_CONFIG.
 * - FAULT: a MAP whose physical range leaves guest-physical memory (bad address).
 * - NOMEM: the mapping or domain limit is reached.
 * - DEVERR: the host backend (e.g. a VFIO container) refused the operation.
 * - IOERR: a request whose size does not match its type (in the codec, {@link ./codec.ts}).
 *
 * @module
 */
import { IoPageTable, type Mapping } from "./io_page_table.ts";
import { Iotlb, type IotlbOptions } from "./iotlb.ts";
import {
  type Access,
  ATTACH_F_BYPASS,
  FaultFlag,
  FaultReason,
  MAP_F_MASK,
  MapFlag,
  ResvSubtype,
  Status,
  type StatusCode,
} from "./spec.ts";

/** A reserved IOVA region reported by PROBE (RESV_MEM), inclusive end. */
export interface ResvRegion {
  subtype: number;
  start: number;
  end: number;
}

/** A fault: what an IOMMU reports on its event queue when it blocks a DMA. */
export interface Fault {
  reason: number;
  /** FaultFlag bits: READ/WRITE and ADDRESS. */
  flags: number;
  endpoint: number;
  address: number;
  /** The domain the endpoint was attached to, or -1. */
  domain: number;
}

/** Something that also programs a host IOMMU for a domain (VFIO type1, or a recorder). */
export interface HostBackend {
  /** Mirrors a new mapping; throws when the host refuses (the request gets DEVERR). */
  map(domain: number, m: Mapping): void;
  /** Mirrors an unmap. */
  unmap(domain: number, m: Mapping): void;
}

/** Device configuration (what virtio_iommu_config and the feature bits would say). */
export interface IommuConfig {
  /** Page granularity in bytes, a power of two (default 4096). */
  pageSize?: number;
  /** IOVA range the device translates (default [0, 2^53 - 1]: JS-exact addresses). */
  inputRange?: { start: number; end: number };
  /** Domain IDs the device accepts (default [0, 2^32 - 1]). */
  domainRange?: { start: number; end: number };
  /** Endpoint IDs that exist, with their reserved regions; absent = every ID exists. */
  endpoints?: { id: number; resv?: ResvRegion[] }[];
  /** Reserved regions of endpoints created on demand (default: the x86 MSI window). */
  defaultResv?: ResvRegion[];
  /** Config field `bypass` (VIRTIO_IOMMU_F_BYPASS_CONFIG): unattached endpoints bypass. */
  bypass?: boolean;
  /** VIRTIO_IOMMU_F_BYPASS_CONFIG offered (ATTACH_F_BYPASS usable); default true. */
  bypassConfig?: boolean;
  /** VIRTIO_IOMMU_F_MAP_UNMAP offered; default true. */
  mapUnmap?: boolean;
  /** VIRTIO_IOMMU_F_MMIO offered; default true. */
  mmio?: boolean;
  /** Size of guest-physical memory; MAPs past it get FAULT. Default: unlimited. */
  guestPhysSize?: number;
  /** Limit on mappings across domains (NOMEM past it); default 1 << 20. */
  maxMappings?: number;
  /** Limit on live domains (NOMEM past it); default 1 << 16. */
  maxDomains?: number;
  /** PROBE buffer size, `probe_size` (default 512). */
  probeSize?: number;
  iotlb?: IotlbOptions;
  backend?: HostBackend;
}

/** The x86 MSI doorbell window Linux and QEMU reserve (0xfee00000-0xfeefffff). */
export const X86_MSI_WINDOW: ResvRegion = {
  subtype: ResvSubtype.MSI,
  start: 0xfee00000,
  end: 0xfeefffff,
};

interface Domain {
  id: number;
  bypass: boolean;
  endpoints: Set<number>;
  table: IoPageTable;
}

interface Endpoint {
  id: number;
  resv: ResvRegion[];
  domain: Domain | null;
}

/** Result of a PROBE: a status and, when OK, the endpoint's properties. */
export interface ProbeResult {
  status: StatusCode;
  resv: ResvRegion[];
}

/** A successful translation of one page. */
export interface PageTranslation {
  gpa: number;
  /** MAP flags allowed on this page (READ|WRITE|MMIO). */
  flags: number;
}

const MAX_ADDR = Number.MAX_SAFE_INTEGER; // 2^53 - 1

/**
 * The device model.
 *
 * @example
 * ```ts
 * import { PvIommu } from "./iommu.ts";
 * import { MapFlag, Status } from "./spec.ts";
 * const iommu = new PvIommu();
 * iommu.attach(1, 8) === Status.OK;
 * iommu.map(1, 0x1000, 0x1fff, 0xa000, MapFlag.READ) === Status.OK;
 * iommu.translate(8, 0x1234, "read"); // { gpa: 0xa234, flags: 1 }
 * ```
 */
export class PvIommu {
  readonly pageSize: number;
  readonly pageShift: number;
  readonly inputRange: { start: number; end: number };
  readonly domainRange: { start: number; end: number };
  readonly probeSize: number;
  readonly iotlb: Iotlb;
  bypass: boolean;
  readonly #cfg: IommuConfig;
  readonly #domains = new Map<number, Domain>();
  readonly #endpoints = new Map<number, Endpoint>();
  readonly #fixedEndpoints: boolean;
  #mappings = 0;

  constructor(cfg: IommuConfig = {}) {
    this.#cfg = cfg;
    this.pageSize = cfg.pageSize ?? 4096;
    if (this.pageSize < 1 || (this.pageSize & (this.pageSize - 1)) !== 0) {
      throw new RangeError(`page size must be a power of two: ${this.pageSize}`);
    }
    this.pageShift = Math.log2(this.pageSize);
    this.inputRange = cfg.inputRange ?? { start: 0, end: MAX_ADDR };
    this.domainRange = cfg.domainRange ?? { start: 0, end: 0xffffffff };
    this.probeSize = cfg.probeSize ?? 512;
    this.bypass = cfg.bypass ?? false;
    this.iotlb = new Iotlb(cfg.iotlb);
    this.#fixedEndpoints = cfg.endpoints !== undefined;
    for (const e of cfg.endpoints ?? []) {
      this.#endpoints.set(e.id, { id: e.id, resv: e.resv ?? [], domain: null });
    }
  }

  #endpoint(id: number): Endpoint | undefined {
    let ep = this.#endpoints.get(id);
    if (ep === undefined && !this.#fixedEndpoints && isU32(id)) {
      ep = { id, resv: this.#cfg.defaultResv ?? [X86_MSI_WINDOW], domain: null };
      this.#endpoints.set(id, ep);
    }
    return ep;
  }

  /** ATTACH: creates the domain if needed; moves the endpoint from its old domain. */
  attach(domain: number, endpoint: number, flags = 0, reserved = 0): StatusCode {
    if (reserved !== 0) return Status.INVAL;
    if ((flags & ~ATTACH_F_BYPASS) !== 0) return Status.INVAL;
    const wantBypass = (flags & ATTACH_F_BYPASS) !== 0;
    if (wantBypass && this.#cfg.bypassConfig === false) return Status.UNSUPP;
    const ep = this.#endpoint(endpoint);
    if (ep === undefined) return Status.NOENT;
    if (!isU32(domain) || domain < this.domainRange.start || domain > this.domainRange.end) {
      return Status.RANGE;
    }
    let d = this.#domains.get(domain);
    if (d !== undefined && d.bypass !== wantBypass) return Status.INVAL;
    if (ep.domain === d && d !== undefined) return Status.OK;
    if (d !== undefined) {
      for (const r of ep.resv) if (d.table.overlaps(r.start, r.end)) return Status.UNSUPP;
    } else if (this.#domains.size >= (this.#cfg.maxDomains ?? 1 << 16)) {
      return Status.NOMEM;
    }
    if (ep.domain !== null) this.#detach(ep);
    if (d === undefined) {
      d = { id: domain, bypass: wantBypass, endpoints: new Set(), table: new IoPageTable() };
      this.#domains.set(domain, d);
    }
    d.endpoints.add(endpoint);
    ep.domain = d;
    this.iotlb.invalidateEndpoint(endpoint);
    return Status.OK;
  }

  /** DETACH: the endpoint loses the domain's mappings; an empty domain ceases to exist. */
  detach(domain: number, endpoint: number): StatusCode {
    const ep = this.#endpoint(endpoint);
    if (ep === undefined) return Status.NOENT;
    if (ep.domain === null || ep.domain.id !== domain) return Status.INVAL;
    this.#detach(ep);
    return Status.OK;
  }

  #detach(ep: Endpoint): void {
    const d = ep.domain!;
    d.endpoints.delete(ep.id);
    ep.domain = null;
    this.iotlb.invalidateEndpoint(ep.id);
    if (d.endpoints.size === 0) {
      const gone = d.table.clear();
      this.#mappings -= gone.length;
      for (const m of gone) this.#cfg.backend?.unmap(d.id, m);
      this.#domains.delete(d.id);
    }
  }

  #aligned(x: number): boolean {
    return x % this.pageSize === 0;
  }

  /** MAP [virtStart, virtEnd] (inclusive) to physStart with READ/WRITE/MMIO flags. */
  map(
    domain: number,
    virtStart: number,
    virtEnd: number,
    physStart: number,
    flags: number,
  ): StatusCode {
    if (this.#cfg.mapUnmap === false) return Status.UNSUPP;
    if ((flags & ~MAP_F_MASK) !== 0) return Status.INVAL;
    if ((flags & MapFlag.MMIO) !== 0 && this.#cfg.mmio === false) return Status.INVAL;
    const d = this.#domains.get(domain);
    if (d === undefined) return Status.NOENT;
    if (d.bypass) return Status.INVAL;
    if (virtEnd < virtStart) return Status.INVAL;
    if (
      !this.#aligned(virtStart) || !this.#aligned(physStart) || !this.#aligned(virtEnd + 1) ||
      virtEnd === virtStart
    ) return Status.RANGE;
    if (virtStart < this.inputRange.start || virtEnd > this.inputRange.end) return Status.RANGE;
    const physEnd = physStart + (virtEnd - virtStart);
    if (physEnd > MAX_ADDR) return Status.FAULT;
    const gps = this.#cfg.guestPhysSize;
    if (gps !== undefined && (flags & MapFlag.MMIO) === 0 && physEnd >= gps) return Status.FAULT;
    for (const e of d.endpoints) {
      for (const r of this.#endpoints.get(e)!.resv) {
        if (r.start <= virtEnd && virtStart <= r.end) return Status.RANGE;
      }
    }
    if (d.table.overlaps(virtStart, virtEnd)) return Status.INVAL;
    if (this.#mappings >= (this.#cfg.maxMappings ?? 1 << 20)) return Status.NOMEM;
    const m: Mapping = { virtStart, virtEnd, physStart, flags };
    if (this.#cfg.backend) {
      try {
        this.#cfg.backend.map(domain, m);
      } catch {
        return Status.DEVERR;
      }
    }
    d.table.insert(m);
    this.#mappings++;
    // A fresh mapping must not be shadowed by a stale entry still queued for invalidation.
    this.iotlb.invalidateNow(
      [...d.endpoints],
      virtStart / this.pageSize,
      Math.floor(virtEnd / this.pageSize),
    );
    return Status.OK;
  }

  /** UNMAP [virtStart, virtEnd]: removes every mapping inside; RANGE if one would be split. */
  unmap(domain: number, virtStart: number, virtEnd: number, reserved = 0): StatusCode {
    if (this.#cfg.mapUnmap === false) return Status.UNSUPP;
    if (reserved !== 0) return Status.INVAL;
    const d = this.#domains.get(domain);
    if (d === undefined) return Status.NOENT;
    if (d.bypass) return Status.INVAL;
    if (virtEnd < virtStart) return Status.INVAL;
    const out = d.table.unmap(virtStart, virtEnd);
    if (!out.ok) return Status.RANGE;
    this.#mappings -= out.removed.length;
    const eps = [...d.endpoints];
    for (const m of out.removed) {
      try {
        this.#cfg.backend?.unmap(domain, m);
      } catch { /* the mapping is gone from the model; the host error is reported below */ }
      this.iotlb.invalidateRange(
        eps,
        Math.floor(m.virtStart / this.pageSize),
        Math.floor(m.virtEnd / this.pageSize),
      );
    }
    return Status.OK;
  }

  /** PROBE: the endpoint's RESV_MEM regions, INVAL if they do not fit `probeSize`. */
  probe(endpoint: number, probeSize = this.probeSize): ProbeResult {
    const ep = this.#endpoint(endpoint);
    if (ep === undefined) return { status: Status.NOENT, resv: [] };
    if (ep.resv.length * 24 > probeSize) return { status: Status.INVAL, resv: [] };
    return { status: Status.OK, resv: ep.resv.slice() };
  }

  /** The domain an endpoint is attached to, or null. */
  domainOf(endpoint: number): number | null {
    return this.#endpoints.get(endpoint)?.domain?.id ?? null;
  }

  /** A domain's mappings (a copy), or undefined when it does not exist. */
  mappings(domain: number): Mapping[] | undefined {
    return this.#domains.get(domain)?.table.all();
  }

  /** Live domain IDs. */
  domains(): number[] {
    return [...this.#domains.keys()];
  }

  /** Endpoints attached to a domain. */
  endpointsOf(domain: number): number[] {
    return [...(this.#domains.get(domain)?.endpoints ?? [])];
  }

  /**
   * Walks the I/O page table for one address (no IOTLB): the translation, or the fault an
   * access would raise. `null` access checks presence only.
   */
  walk(endpoint: number, iova: number, access: Access | null): PageTranslation | Fault {
    const ep = this.#endpoints.get(endpoint);
    const d = ep?.domain ?? null;
    const dir = access === "write" ? FaultFlag.WRITE : access === "read" ? FaultFlag.READ : 0;
    if (ep === undefined && this.#fixedEndpoints) {
      return fault(FaultReason.UNKNOWN, dir, endpoint, iova, -1);
    }
    if (d === null) {
      if (this.bypass) return { gpa: iova, flags: MapFlag.READ | MapFlag.WRITE };
      return fault(FaultReason.DOMAIN, dir, endpoint, iova, -1);
    }
    if (d.bypass) return { gpa: iova, flags: MapFlag.READ | MapFlag.WRITE };
    const m = d.table.find(iova);
    const need = access === "write" ? MapFlag.WRITE : access === "read" ? MapFlag.READ : 0;
    if (m === undefined || (m.flags & need) !== need) {
      return fault(FaultReason.MAPPING, dir, endpoint, iova, d.id);
    }
    return { gpa: m.physStart + (iova - m.virtStart), flags: m.flags };
  }

  /**
   * Translates one access through the IOTLB (filling it on a miss), counting hits and
   * misses. Returns the guest-physical address or a fault.
   */
  translate(endpoint: number, iova: number, access: Access): PageTranslation | Fault {
    const tlb = this.iotlb;
    const page = Math.floor(iova / this.pageSize);
    const off = iova - page * this.pageSize;
    const need = access === "write" ? MapFlag.WRITE : MapFlag.READ;
    const i = tlb.lookup(endpoint, page);
    if (i >= 0 && (tlb.perm(i) & need) !== 0) {
      tlb.hits++;
      if (tlb.staleSince(i) !== 0) tlb.staleHits++;
      return { gpa: tlb.gpaPage(i) * this.pageSize + off, flags: tlb.perm(i) };
    }
    tlb.misses++;
    const t = this.walk(endpoint, page * this.pageSize, access);
    if ("reason" in t) {
      t.address = iova;
      return t;
    }
    if ((t.flags & MapFlag.MMIO) === 0) {
      tlb.fill(endpoint, page, t.gpa / this.pageSize, t.flags & (MapFlag.READ | MapFlag.WRITE));
    }
    return { gpa: t.gpa + off, flags: t.flags };
  }
}

function isU32(x: number): boolean {
  return Number.isInteger(x) && x >= 0 && x <= 0xffffffff;
}

function fault(reason: number, dir: number, endpoint: number, address: number, domain: number) {
  return { reason, flags: dir | FaultFlag.ADDRESS, endpoint, address, domain } as Fault;
}

/** True when a translation result is a fault. */
export function isFault(t: PageTranslation | Fault): t is Fault {
  return "reason" in t;
}
