/**
 * Constants of the virtio-iommu device (virtio specification, "IOMMU device"; Linux's
 * include/uapi/linux/virtio_iommu.h, definition v0.12): request types, status codes, MAP and
 * ATTACH flags, PROBE properties and fault reasons. Values are the wire values.
 *
 * @module
 */

/** Request types (`virtio_iommu_req_head.type`). */
export const ReqType = { ATTACH: 1, DETACH: 2, MAP: 3, UNMAP: 4, PROBE: 5 } as const;
/** A request type's name. */
export type ReqTypeName = keyof typeof ReqType;

/** Status codes (`virtio_iommu_req_tail.status`). */
export const Status = {
  OK: 0,
  IOERR: 1,
  UNSUPP: 2,
  DEVERR: 3,
  INVAL: 4,
  RANGE: 5,
  NOENT: 6,
  FAULT: 7,
  NOMEM: 8,
} as const;
/** A status code's name. */
export type StatusName = keyof typeof Status;
/** A status code's value. */
export type StatusCode = (typeof Status)[StatusName];

const STATUS_NAMES = Object.fromEntries(
  Object.entries(Status).map(([k, v]) => [v, k]),
) as Record<number, StatusName>;

/** The name of a status code (`INVAL`), or `S_<n>` for a value the spec does not define. */
export function statusName(code: number): string {
  return STATUS_NAMES[code] ?? `S_${code}`;
}

/** MAP flags: READ and WRITE are protections, MMIO is a memory type. */
export const MapFlag = { READ: 1, WRITE: 2, MMIO: 4 } as const;
/** Every MAP flag bit this device recognizes. */
export const MAP_F_MASK = MapFlag.READ | MapFlag.WRITE | MapFlag.MMIO;

/** ATTACH flag: the domain is a bypass domain (needs VIRTIO_IOMMU_F_BYPASS_CONFIG). */
export const ATTACH_F_BYPASS = 1;

/** PROBE property types and RESV_MEM subtypes. */
export const ProbeType = { NONE: 0, RESV_MEM: 1 } as const;
/** RESV_MEM subtypes: a reserved window, or an MSI doorbell. */
export const ResvSubtype = { RESERVED: 0, MSI: 1 } as const;

/** Fault reasons (`virtio_iommu_fault.reason`). */
export const FaultReason = { UNKNOWN: 0, DOMAIN: 1, MAPPING: 2 } as const;
/** A fault reason's name. */
export type FaultReasonName = keyof typeof FaultReason;

/** Fault flags: the access that faulted, and whether `address` is valid. */
export const FaultFlag = { READ: 1, WRITE: 2, EXEC: 4, ADDRESS: 0x100 } as const;

/** Feature bits the device may offer. */
export const Feature = {
  INPUT_RANGE: 0,
  DOMAIN_RANGE: 1,
  MAP_UNMAP: 2,
  BYPASS: 3,
  PROBE: 4,
  MMIO: 5,
  BYPASS_CONFIG: 6,
} as const;

/** Wire sizes of the fixed-size requests, head and tail included. */
export const REQ_SIZE = {
  ATTACH: 24,
  DETACH: 24,
  MAP: 40,
  UNMAP: 32,
  /** head + endpoint + reserved[64]; the properties and tail follow. */
  PROBE_READABLE: 72,
  TAIL: 4,
  FAULT: 24,
  RESV_MEM_PROPERTY: 24,
} as const;

/** Access direction of a DMA: the device reads guest memory, or writes it. */
export type Access = "read" | "write";

/** Formats MAP flags as `["read","write"]`. */
export function flagNames(flags: number): string[] {
  const out: string[] = [];
  if (flags & MapFlag.READ) out.push("read");
  if (flags & MapFlag.WRITE) out.push("write");
  if (flags & MapFlag.MMIO) out.push("mmio");
  return out;
}
