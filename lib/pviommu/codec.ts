/**
 * The virtio-iommu request codec: the spec's binary layouts, little-endian, validated.
 * Requests are whole buffers as the driver queues them (device-readable part, then the
 * device-writable tail, and for PROBE the properties before the tail); replies are the
 * device-writable part. 64-bit fields are bigints so nothing is rounded.
 *
 * Layouts (bytes): ATTACH 24, DETACH 24, MAP 40, UNMAP 32, PROBE 72 + probe_size + 4,
 * fault report 24, RESV_MEM property 24 (4 header + 20 value).
 *
 * @module
 */
import { ProbeType, REQ_SIZE, ReqType, type ReqTypeName } from "./spec.ts";
import type { Fault, ResvRegion } from "./iommu.ts";

/** A decoded request. `reserved` is non-zero when any reserved byte of the body was set. */
export type Request =
  | { type: "ATTACH"; domain: number; endpoint: number; flags: number; reserved: number }
  | { type: "DETACH"; domain: number; endpoint: number; reserved: number }
  | {
    type: "MAP";
    domain: number;
    virtStart: bigint;
    virtEnd: bigint;
    physStart: bigint;
    flags: number;
  }
  | { type: "UNMAP"; domain: number; virtStart: bigint; virtEnd: bigint; reserved: number }
  | { type: "PROBE"; endpoint: number; reserved: number; probeSize: number };

/** Why a buffer is not a request. */
export type DecodeError = "truncated" | "oversized" | "unknown-type";

/** The outcome of decoding a buffer. */
export type Decoded =
  | { ok: true; req: Request }
  | { ok: false; error: DecodeError; type: number; message: string };

const TYPE_NAMES: Record<number, ReqTypeName> = {
  1: "ATTACH",
  2: "DETACH",
  3: "MAP",
  4: "UNMAP",
  5: "PROBE",
};

/** The full buffer size of a request of this type (PROBE depends on `probeSize`). */
export function requestSize(type: number, probeSize: number): number | undefined {
  switch (type) {
    case ReqType.ATTACH:
      return REQ_SIZE.ATTACH;
    case ReqType.DETACH:
      return REQ_SIZE.DETACH;
    case ReqType.MAP:
      return REQ_SIZE.MAP;
    case ReqType.UNMAP:
      return REQ_SIZE.UNMAP;
    case ReqType.PROBE:
      return REQ_SIZE.PROBE_READABLE + probeSize + REQ_SIZE.TAIL;
  }
  return undefined;
}

/** The size of the device-writable part of a request (its reply). */
export function replySize(type: number, probeSize: number): number {
  return type === ReqType.PROBE ? probeSize + REQ_SIZE.TAIL : REQ_SIZE.TAIL;
}

function nonZero(b: Uint8Array, from: number, to: number): number {
  for (let i = from; i < to; i++) if (b[i] !== 0) return 1;
  return 0;
}

/**
 * Encodes a request as the driver would queue it: head, body, zeroed writable part.
 *
 * @example
 * ```ts
 * import { encodeRequest } from "./codec.ts";
 * encodeRequest({ type: "ATTACH", domain: 1, endpoint: 8, flags: 0, reserved: 0 }).length; // 24
 * ```
 */
export function encodeRequest(req: Request): Uint8Array {
  const size = requestSize(ReqType[req.type], req.type === "PROBE" ? req.probeSize : 0)!;
  const b = new Uint8Array(size);
  const v = new DataView(b.buffer);
  b[0] = ReqType[req.type];
  switch (req.type) {
    case "ATTACH":
      v.setUint32(4, req.domain, true);
      v.setUint32(8, req.endpoint, true);
      v.setUint32(12, req.flags, true);
      v.setUint32(16, req.reserved, true);
      break;
    case "DETACH":
      v.setUint32(4, req.domain, true);
      v.setUint32(8, req.endpoint, true);
      v.setUint32(12, req.reserved, true);
      break;
    case "MAP":
      v.setUint32(4, req.domain, true);
      v.setBigUint64(8, req.virtStart, true);
      v.setBigUint64(16, req.virtEnd, true);
      v.setBigUint64(24, req.physStart, true);
      v.setUint32(32, req.flags, true);
      break;
    case "UNMAP":
      v.setUint32(4, req.domain, true);
      v.setBigUint64(8, req.virtStart, true);
      v.setBigUint64(16, req.virtEnd, true);
      v.setUint32(24, req.reserved, true);
      break;
    case "PROBE":
      v.setUint32(4, req.endpoint, true);
      v.setUint32(8, req.reserved, true);
      break;
  }
  return b;
}

/**
 * Decodes and validates a request buffer. A buffer shorter than its type's layout is
 * `truncated` (the device cannot find the tail and must not write), a longer one `oversized`.
 *
 * @example
 * ```ts
 * import { decodeRequest, encodeRequest } from "./codec.ts";
 * const d = decodeRequest(encodeRequest({ type: "DETACH", domain: 1, endpoint: 8, reserved: 0 }), 512);
 * d.ok; // true
 * ```
 */
export function decodeRequest(b: Uint8Array, probeSize: number): Decoded {
  if (b.length < 4) {
    return { ok: false, error: "truncated", type: b[0] ?? -1, message: `${b.length}-byte request` };
  }
  const type = b[0];
  const name = TYPE_NAMES[type];
  const size = requestSize(type, probeSize);
  if (name === undefined || size === undefined) {
    return { ok: false, error: "unknown-type", type, message: `unknown request type ${type}` };
  }
  if (b.length < size) {
    return {
      ok: false,
      error: "truncated",
      type,
      message: `${name} request of ${b.length} bytes, needs ${size}`,
    };
  }
  if (b.length > size) {
    return {
      ok: false,
      error: "oversized",
      type,
      message: `${name} request of ${b.length} bytes, expected ${size}`,
    };
  }
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const u32 = (o: number) => v.getUint32(o, true);
  const u64 = (o: number) => v.getBigUint64(o, true);
  let req: Request;
  switch (name) {
    case "ATTACH":
      req = { type: name, domain: u32(4), endpoint: u32(8), flags: u32(12), reserved: u32(16) };
      break;
    case "DETACH":
      req = { type: name, domain: u32(4), endpoint: u32(8), reserved: nonZero(b, 12, 20) };
      break;
    case "MAP":
      req = {
        type: name,
        domain: u32(4),
        virtStart: u64(8),
        virtEnd: u64(16),
        physStart: u64(24),
        flags: u32(32),
      };
      break;
    case "UNMAP":
      req = {
        type: name,
        domain: u32(4),
        virtStart: u64(8),
        virtEnd: u64(16),
        reserved: u32(24),
      };
      break;
    case "PROBE":
      req = { type: name, endpoint: u32(4), reserved: nonZero(b, 8, 72), probeSize };
      break;
  }
  return { ok: true, req };
}

/** Encodes RESV_MEM properties into a `probeSize`-byte properties area (zero-filled). */
export function encodeProperties(resv: ResvRegion[], probeSize: number): Uint8Array {
  const b = new Uint8Array(probeSize);
  const v = new DataView(b.buffer);
  let o = 0;
  for (const r of resv) {
    if (o + REQ_SIZE.RESV_MEM_PROPERTY > probeSize) throw new RangeError("properties too large");
    v.setUint16(o, ProbeType.RESV_MEM, true);
    v.setUint16(o + 2, 20, true);
    b[o + 4] = r.subtype;
    v.setBigUint64(o + 8, BigInt(r.start), true);
    v.setBigUint64(o + 16, BigInt(r.end), true);
    o += REQ_SIZE.RESV_MEM_PROPERTY;
  }
  return b;
}

/**
 * Parses a properties area the way the spec tells a driver to: stop at type 0 or the end,
 * skip unknown types and properties with reserved bits set, step `length + 4` bytes.
 */
export function decodeProperties(b: Uint8Array): ResvRegion[] {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out: ResvRegion[] = [];
  let o = 0;
  while (o + 4 <= b.length) {
    const raw = v.getUint16(o, true);
    const len = v.getUint16(o + 2, true);
    const type = raw & 0xfff;
    if (type === ProbeType.NONE) break;
    if (o + 4 + len > b.length) break;
    if (type === ProbeType.RESV_MEM && (raw & 0xf000) === 0 && len >= 20) {
      out.push({
        subtype: b[o + 4],
        start: v.getBigUint64(o + 8, true),
        end: v.getBigUint64(o + 16, true),
      });
    }
    o += len + 4;
  }
  return out;
}

/** A decoded reply: the status and, for PROBE, the properties. */
export interface Reply {
  status: number;
  resv?: ResvRegion[];
}

/** Encodes a reply (the device-writable part): properties for PROBE, then the tail. */
export function encodeReply(
  type: number,
  status: number,
  probeSize: number,
  resv: ResvRegion[] = [],
) {
  const b = new Uint8Array(replySize(type, probeSize));
  if (type === ReqType.PROBE) b.set(encodeProperties(resv, probeSize));
  b[b.length - REQ_SIZE.TAIL] = status;
  return b;
}

/** Decodes a reply to a request of `type`; an empty reply (used length 0) is null. */
export function decodeReply(type: number, b: Uint8Array, probeSize: number): Reply | null {
  if (b.length === 0) return null;
  if (b.length !== replySize(type, probeSize)) {
    throw new RangeError(`reply of ${b.length} bytes, expected ${replySize(type, probeSize)}`);
  }
  const status = b[b.length - REQ_SIZE.TAIL];
  if (type !== ReqType.PROBE) return { status };
  return { status, resv: decodeProperties(b.subarray(0, probeSize)) };
}

/** Encodes a fault report (struct virtio_iommu_fault, 24 bytes). */
export function encodeFault(f: Pick<Fault, "reason" | "flags" | "endpoint" | "address">) {
  const b = new Uint8Array(REQ_SIZE.FAULT);
  const v = new DataView(b.buffer);
  b[0] = f.reason;
  v.setUint32(4, f.flags, true);
  v.setUint32(8, f.endpoint, true);
  v.setBigUint64(16, BigInt(f.address), true);
  return b;
}

/** Decodes a fault report; a report with `reserved` set is to be ignored (null). */
export function decodeFault(b: Uint8Array) {
  if (b.length < REQ_SIZE.FAULT) throw new RangeError(`fault report of ${b.length} bytes`);
  if (b[1] | b[2] | b[3]) return null;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return {
    reason: b[0],
    flags: v.getUint32(4, true),
    endpoint: v.getUint32(8, true),
    address: v.getBigUint64(16, true),
  };
}
