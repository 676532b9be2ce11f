/**
 * The device side of the request queue: takes one request buffer, runs it on the model and
 * returns the bytes the device writes back (empty when the spec says not to write: a
 * buffer too small to hold its tail, or an unknown type).
 *
 * @module
 */
import { decodeRequest, encodeReply, type Request } from "./codec.ts";
import type { PvIommu } from "./iommu.ts";
import { REQ_SIZE, ReqType, Status, type StatusCode } from "./spec.ts";

/** What one request did: its decoded form (if any), status and reply bytes. */
export interface Handled {
  req: Request | null;
  status: StatusCode | null;
  reply: Uint8Array;
  error?: string;
}

/** Runs one decoded request on the model. */
export function execute(iommu: PvIommu, req: Request): { status: StatusCode; reply: Uint8Array } {
  const t = ReqType[req.type];
  const ps = iommu.probeSize;
  let status: StatusCode;
  switch (req.type) {
    case "ATTACH":
      status = iommu.attach(req.domain, req.endpoint, req.flags, req.reserved);
      break;
    case "DETACH":
      status = iommu.detach(req.domain, req.endpoint);
      break;
    case "MAP":
      status = iommu.map(req.domain, req.virtStart, req.virtEnd, req.physStart, req.flags);
      break;
    case "UNMAP":
      status = iommu.unmap(req.domain, req.virtStart, req.virtEnd, req.reserved);
      break;
    case "PROBE": {
      const p = iommu.probe(req.endpoint, req.probeSize);
      return { status: p.status, reply: encodeReply(t, p.status, ps, p.resv) };
    }
  }
  return { status, reply: encodeReply(t, status, ps) };
}

/**
 * Handles one request buffer: decode, execute, reply. Oversized requests get IOERR (the
 * tail is found but the body is not the layout), truncated and unknown ones no reply, and
 * an exception inside the model DEVERR.
 *
 * @example
 * ```ts
 * import { handleRequest } from "./device.ts";
 * import { encodeRequest } from "./codec.ts";
 * import { PvIommu } from "./iommu.ts";
 * const r = handleRequest(new PvIommu(), encodeRequest({ type: "ATTACH", domain: 1, endpoint: 8, flags: 0, reserved: 0 }));
 * r.status; // 0 (OK)
 * ```
 */
export function handleRequest(iommu: PvIommu, buf: Uint8Array): Handled {
  const d = decodeRequest(buf, iommu.probeSize);
  if (!d.ok) {
    if (d.error === "oversized") {
      const reply = new Uint8Array(REQ_SIZE.TAIL);
      reply[0] = Status.IOERR;
      return { req: null, status: Status.IOERR, reply, error: d.message };
    }
    return { req: null, status: null, reply: new Uint8Array(0), error: d.message };
  }
  try {
    const { status, reply } = execute(iommu, d.req);
    return { req: d.req, status, reply };
  } catch (e) {
    const reply = encodeReply(ReqType[d.req.type], Status.DEVERR, iommu.probeSize);
    return { req: d.req, status: Status.DEVERR, reply, error: (e as Error).message };
  }
}
