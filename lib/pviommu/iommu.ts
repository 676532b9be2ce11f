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
 * - FAULT: a MAP whose physical range leaves guest-physical memory (bad address) or wraps
 *   past 2^64.
 * - NOMEM: the mapping or domain limit is reached.
 * - DEVERR: the host backend (e.g. a VFIO container) refused the operation.
 * - IOERR: a request whose size does not match its type (in the codec, {@link ./codec.ts}).
 *
 * Addresses and lengths are 64-bit (bigints; the methods also take exact integer numbers):
 * the IOVA space is [0, 2^64 - 1] as virtio-iommu's `input_range` allows. IOTLB page numbers
 * stay numbers, exact because a page is at least 4 KiB (2^64 / 2^12 < 2^53).
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
  start: bigint;
  end: bigint;
}

/** A 64-bit address or length: a bigint, or a number that is an exact integer. */
export type Addr = bigint | number;

/** The last address of the 64-bit IOVA space. */
export const U64_MAX: bigint = (1n << 64n) - 1n;

/** A fault: what an IOMMU reports on its event queue when it blocks a DMA. */
export interface Fault {
  reason: number;
  /** FaultFlag bits: READ/WRITE and ADDRESS. */
  flags: number;
  endpoint: number;
  address: bigint;
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
  /** Page granularity in bytes, a power of two from 4 KiB to 1 GiB (default 4096). */
  pageSize?: number;
  /** IOVA range the device translates (default [0, 2^64 - 1]: the whole space). */
  inputRange?: { start: bigint; end: bigint };
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
  start: 0xfee00000n,
  end: 0xfeefffffn,
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

/** A page-table walk's answer for one address: where it goes, and how far that holds. */
export interface Walked {
  gpa: bigint;
  /** MAP flags (READ|WRITE|MMIO); READ|WRITE in a bypass domain. */
  flags: number;
  /** The last IOVA translated the same way (the mapping's end; U64_MAX under bypass). */
  until: bigint;
}

/** One piece of a checked access: `len` bytes at IOVA `iova` are guest-physical `gpa`. */
export interface Run {
  iova: bigint;
  gpa: bigint;
  len: bigint;
  flags: number;
}

/** Smallest and largest page sizes: pages of 4 KiB keep IOTLB page numbers exact numbers. */
export const MIN_PAGE_SIZE = 4096;
export const MAX_PAGE_SIZE = 1 << 30;

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
 * iommu.check(8, 0xfffff000n, 4096n, "read"); // a MAPPING fault at 0xfffff000n
 * ```
 */
export class PvIommu {
  readonly pageSize: number;
  readonly pageShift: number;
  readonly #shift: bigint;
  readonly #pageMask: bigint;
  readonly #guestPhysSize: bigint | undefined;
  readonly inputRange: { start: bigint; end: bigint };
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
    if (
      !Number.isInteger(this.pageSize) || this.pageSize < MIN_PAGE_SIZE ||
      this.pageSize > MAX_PAGE_SIZE || (this.pageSize & (this.pageSize - 1)) !== 0
    ) {
      throw new RangeError(
        `page size must be a power of two from ${MIN_PAGE_SIZE} to ${MAX_PAGE_SIZE}: ${this.pageSize}`,
      );
    }
    this.pageShift = Math.log2(this.pageSize);
    this.#shift = BigInt(this.pageShift);
    this.#pageMask = (1n << this.#shift) - 1n;
    this.#guestPhysSize = cfg.guestPhysSize === undefined ? undefined : BigInt(cfg.guestPhysSize);
    this.inputRange = cfg.inputRange ?? { start: 0n, end: U64_MAX };
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

  #aligned(x: bigint): boolean {
    return (x & this.#pageMask) === 0n;
  }

  /** MAP [virtStart, virtEnd] (inclusive) to physStart with READ/WRITE/MMIO flags. */
  map(domain: number, start: Addr, end: Addr, phys: Addr, flags: number): StatusCode {
    const virtStart = big(start), virtEnd = big(end), physStart = big(phys);
    if (this.#cfg.mapUnmap === false) return Status.UNSUPP;
    if ((flags & ~MAP_F_MASK) !== 0) return Status.INVAL;
    if ((flags & MapFlag.MMIO) !== 0 && this.#cfg.mmio === false) return Status.INVAL;
    const d = this.#domains.get(domain);
    if (d === undefined) return Status.NOENT;
    if (d.bypass) return Status.INVAL;
    if (virtEnd < virtStart) return Status.INVAL;
    if (
      !this.#aligned(virtStart) || !this.#aligned(physStart) || !this.#aligned(virtEnd + 1n) ||
      virtEnd === virtStart
    ) return Status.RANGE;
    if (virtStart < this.inputRange.start || virtEnd > this.inputRange.end) return Status.RANGE;
    if (virtStart < 0n || virtEnd > U64_MAX) return Status.RANGE;
    const physEnd = physStart + (virtEnd - virtStart);
    if (physStart < 0n || physEnd > U64_MAX) return Status.FAULT;
    const gps = this.#guestPhysSize;
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
    this.iotlb.invalidateNow([...d.endpoints], this.#page(virtStart), this.#page(virtEnd));
    return Status.OK;
  }

  /** UNMAP [virtStart, virtEnd]: removes every mapping inside; RANGE if one would be split. */
  unmap(domain: number, start: Addr, end: Addr, reserved = 0): StatusCode {
    const virtStart = big(start), virtEnd = big(end);
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
      this.iotlb.invalidateRange(eps, this.#page(m.virtStart), this.#page(m.virtEnd));
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

  /** The page number of an address (exact: pages are at least 4 KiB). */
  #page(a: bigint): number {
    return Number(a >> this.#shift);
  }

  /**
   * Walks the I/O page table for one address (no IOTLB): the translation and how far it
   * holds, or the fault an access would raise. `null` access checks presence only.
   */
  walk(endpoint: number, address: Addr, access: Access | null): Walked | Fault {
    const iova = big(address);
    const ep = this.#endpoints.get(endpoint);
    const d = ep?.domain ?? null;
    const dir = access === "write" ? FaultFlag.WRITE : access === "read" ? FaultFlag.READ : 0;
    if (ep === undefined && this.#fixedEndpoints) {
      return fault(FaultReason.UNKNOWN, dir, endpoint, iova, -1);
    }
    if (d === null) {
      if (this.bypass) return { gpa: iova, flags: MapFlag.READ | MapFlag.WRITE, until: U64_MAX };
      return fault(FaultReason.DOMAIN, dir, endpoint, iova, -1);
    }
    if (d.bypass) return { gpa: iova, flags: MapFlag.READ | MapFlag.WRITE, until: U64_MAX };
    const m = d.table.find(iova);
    const need = access === "write" ? MapFlag.WRITE : access === "read" ? MapFlag.READ : 0;
    if (m === undefined || (m.flags & need) !== need) {
      return fault(FaultReason.MAPPING, dir, endpoint, iova, d.id);
    }
    return { gpa: m.physStart + (iova - m.virtStart), flags: m.flags, until: m.virtEnd };
  }

  /**
   * Translates one access through the IOTLB (filling it on a miss), counting hits and
   * misses. Returns the guest-physical address or a fault. The page-sized fast path for
   * numbers (exact integers); {@linkcode PvIommu.check} takes any 64-bit access.
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
    const t = this.walk(endpoint, BigInt(page) << this.#shift, access);
    if (isFault(t)) {
      t.address = BigInt(iova);
      return t;
    }
    if ((t.flags & MapFlag.MMIO) === 0) {
      tlb.fill(endpoint, page, this.#page(t.gpa), t.flags & (MapFlag.READ | MapFlag.WRITE));
    }
    return { gpa: Number(t.gpa) + off, flags: t.flags };
  }

  /**
   * Checks one access of `length` bytes at `address` (anywhere in the 64-bit space; one that
   * would wrap past 2^64 - 1 faults as UNKNOWN at its start) and, when `runs` is given, lists
   * where its bytes are. Returns null when every byte is allowed, else the fault at the first blocked byte
   * (the access's start, or the start of its first blocked page).
   *
   * The cost is per mapping, not per page: a page that hits in the IOTLB is served from it
   * (so a stale entry in deferred mode still serves, as hardware would), and a miss walks the
   * page table once for the whole stretch of the access inside that mapping. For the IOTLB's
   * counters and contents that stretch counts as if walked page by page: each page already
   * cached is a hit, each other page a miss and filled; a stretch longer than the IOTLB
   * counts its cached pages by one scan of the IOTLB and fills only its last `entries`
   * pages (what page-by-page filling would leave). A null `access` checks presence only,
   * without the IOTLB.
   */
  check(
    endpoint: number,
    address: Addr,
    length: Addr,
    access: Access | null,
    runs?: Run[],
  ): Fault | null {
    const iova = big(address), len = big(length);
    if (len <= 0n) return null;
    const dir = access === "write" ? FaultFlag.WRITE : access === "read" ? FaultFlag.READ : 0;
    if (iova < 0n || iova + len - 1n > U64_MAX) {
      return fault(FaultReason.UNKNOWN, dir, endpoint, iova, this.domainOf(endpoint) ?? -1);
    }
    const tlb = this.iotlb;
    const shift = this.#shift;
    const need = access === "write" ? MapFlag.WRITE : MapFlag.READ;
    const end = iova + len; // exclusive; at most 2^64
    let a = iova;
    while (a < end) {
      const page = a >> shift;
      const pn = Number(page);
      if (access !== null) {
        const i = tlb.lookup(endpoint, pn);
        if (i >= 0 && (tlb.perm(i) & need) !== 0) {
          tlb.hits++;
          if (tlb.staleSince(i) !== 0) tlb.staleHits++;
          const next = (page + 1n) << shift;
          const n = (next < end ? next : end) - a;
          const gpa = (BigInt(tlb.gpaPage(i)) << shift) + (a - (page << shift));
          runs?.push({ iova: a, gpa, len: n, flags: tlb.perm(i) });
          a += n;
          continue;
        }
        tlb.misses++;
      }
      const w = this.walk(endpoint, a, access);
      if (isFault(w)) return w;
      const stop = w.until + 1n < end ? w.until + 1n : end;
      runs?.push({ iova: a, gpa: w.gpa, len: stop - a, flags: w.flags });
      if (access !== null && (w.flags & MapFlag.MMIO) === 0) {
        this.#account(endpoint, pn, Number((stop - 1n) >> shift), w.gpa >> shift, w.flags);
      }
      a = stop;
    }
    return null;
  }

  /**
   * IOTLB bookkeeping for pages [first, last] of one walked stretch (first already counted
   * a miss): see {@linkcode PvIommu.check}. `gpaFirst` is the first page's guest page.
   */
  #account(ep: number, first: number, last: number, gpaFirst: bigint, flags: number): void {
    const tlb = this.iotlb;
    const perm = flags & (MapFlag.READ | MapFlag.WRITE);
    const g0 = Number(gpaFirst);
    const entries = tlb.mask + 1;
    if (last - first + 1 <= entries) {
      tlb.fill(ep, first, g0, perm);
      for (let p = first + 1; p <= last; p++) {
        if (tlb.lookup(ep, p) >= 0) tlb.hits++;
        else {
          tlb.misses++;
          tlb.fill(ep, p, g0 + (p - first), perm);
        }
      }
      return;
    }
    const cached = tlb.countRange(ep, first + 1, last);
    tlb.hits += cached;
    tlb.misses += last - first - cached;
    for (let p = last - entries + 1; p <= last; p++) tlb.fill(ep, p, g0 + (p - first), perm);
  }
}

/** An address or length as a bigint; a number must be an exact integer. */
function big(x: Addr): bigint {
  return typeof x === "bigint" ? x : BigInt(x);
}

function isU32(x: number): boolean {
  return Number.isInteger(x) && x >= 0 && x <= 0xffffffff;
}

function fault(reason: number, dir: number, endpoint: number, address: bigint, domain: number) {
  return { reason, flags: dir | FaultFlag.ADDRESS, endpoint, address, domain } as Fault;
}

/** True when a translation result is a fault. */
export function isFault(t: PageTranslation | Walked | Fault): t is Fault {
  return "reason" in t;
}
