/**
 * The audit trace format: one JSON object a line,
 * `{"op": "attach"|"detach"|"map"|"unmap"|"dma", "endpoint", "domain", "iova", "len",
 *   "gpa", "flags": ["read","write","mmio"], "dir": "read"|"write", "ts"}`.
 * Addresses and lengths are 64-bit: numbers (up to 2^53 - 1, where JSON numbers stop being
 * exact), or decimal or hex strings (`"0xfffffffffffff000"`) for any value; `iova + len` (and
 * `gpa + len`) may reach 2^64, not pass it. `dir` may be absent on a DMA
 * whose direction the source did not record (QEMU's intel-iommu traces): only the presence
 * of a mapping is checked then.
 *
 * @module
 */
import { MapFlag } from "./spec.ts";

/** One audit event. */
export interface AuditEvent {
  op: "attach" | "detach" | "map" | "unmap" | "dma";
  endpoint?: number;
  domain?: number;
  iova?: bigint;
  len?: bigint;
  gpa?: bigint;
  flags?: string[];
  dir?: "read" | "write";
  /** Time in ns (optional; the line number orders events). */
  ts?: number;
}

/** A line that is not an audit event. */
export class AuditFormatError extends Error {
  override name = "AuditFormatError";
}

const OPS = new Set(["attach", "detach", "map", "unmap", "dma"]);
const NEEDS: Record<string, string[]> = {
  attach: ["endpoint", "domain"],
  detach: ["endpoint", "domain"],
  map: ["domain", "iova", "len", "gpa"],
  unmap: ["domain", "iova", "len"],
  dma: ["endpoint", "iova", "len"],
};

const TWO_64 = 1n << 64n;

/** A 64-bit field: a JSON number up to 2^53 - 1, or a decimal or hex string up to 2^64. */
function u64(v: unknown, field: string, line: number): bigint {
  let n: bigint;
  if (typeof v === "number") {
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new AuditFormatError(
        `line ${line}: ${field} out of range: ${v}` +
          (v > Number.MAX_SAFE_INTEGER ? " (past 2^53 - 1 write it as a hex string)" : ""),
      );
    }
    n = BigInt(v);
  } else if (typeof v === "string" && /^(0x[0-9a-f]+|\d+)$/i.test(v)) {
    n = v.length <= 66 ? BigInt(v) : TWO_64 + 1n;
  } else throw new AuditFormatError(`line ${line}: ${field} must be a number or hex string`);
  // A length may be the whole space (2^64: an UNMAP of everything); an address is below it.
  if (n > TWO_64 || (n === TWO_64 && field !== "len")) {
    throw new AuditFormatError(`line ${line}: ${field} out of range: ${v}`);
  }
  return n;
}

function num(v: unknown, field: string, line: number): number {
  let n: number;
  if (typeof v === "number") n = v;
  else if (typeof v === "string" && /^(0x[0-9a-f]+|\d+)$/i.test(v)) n = Number(v);
  else throw new AuditFormatError(`line ${line}: ${field} must be a number or hex string`);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new AuditFormatError(`line ${line}: ${field} out of range: ${v}`);
  }
  return n;
}

/**
 * Parses one line. Throws {@linkcode AuditFormatError} naming the line and the field.
 *
 * @example
 * ```ts
 * import { parseAuditLine } from "./audit_event.ts";
 * parseAuditLine('{"op":"dma","endpoint":8,"iova":"0xfffffffffffff000","len":512,"dir":"read"}', 1);
 * ```
 */
export function parseAuditLine(text: string, line: number): AuditEvent {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    throw new AuditFormatError(`line ${line}: not JSON`);
  }
  if (typeof o !== "object" || o === null || Array.isArray(o)) {
    throw new AuditFormatError(`line ${line}: not a JSON object`);
  }
  const r = o as Record<string, unknown>;
  if (typeof r.op !== "string" || !OPS.has(r.op)) {
    throw new AuditFormatError(`line ${line}: op must be attach, detach, map, unmap or dma`);
  }
  const ev: AuditEvent = { op: r.op as AuditEvent["op"] };
  for (const f of NEEDS[r.op]) {
    if (r[f] === undefined) throw new AuditFormatError(`line ${line}: ${r.op} needs ${f}`);
  }
  for (const f of ["endpoint", "domain", "ts"] as const) {
    if (r[f] !== undefined) ev[f] = num(r[f], f, line);
  }
  for (const f of ["iova", "len", "gpa"] as const) {
    if (r[f] !== undefined) ev[f] = u64(r[f], f, line);
  }
  if ((ev.op === "map" || ev.op === "unmap" || ev.op === "dma") && ev.len === 0n) {
    throw new AuditFormatError(`line ${line}: len must be at least 1`);
  }
  for (const f of ["iova", "gpa"] as const) {
    if (ev[f] !== undefined && ev.len !== undefined && ev[f]! + ev.len > TWO_64) {
      throw new AuditFormatError(`line ${line}: ${f} + len past 2^64: ${r[f]} + ${r.len}`);
    }
  }
  if (r.flags !== undefined) {
    if (!Array.isArray(r.flags) || r.flags.some((f) => !["read", "write", "mmio"].includes(f))) {
      throw new AuditFormatError(`line ${line}: flags must be a list of read, write, mmio`);
    }
    ev.flags = r.flags as string[];
  }
  if (r.dir !== undefined) {
    if (r.dir !== "read" && r.dir !== "write") {
      throw new AuditFormatError(`line ${line}: dir must be read or write`);
    }
    ev.dir = r.dir;
  }
  return ev;
}

/** MAP flag bits of an event's `flags` (default read+write). */
export function mapFlagsOf(ev: AuditEvent): number {
  const f = ev.flags ?? ["read", "write"];
  return (f.includes("read") ? MapFlag.READ : 0) | (f.includes("write") ? MapFlag.WRITE : 0) |
    (f.includes("mmio") ? MapFlag.MMIO : 0);
}

/** Formats an event as one JSON line, addresses in hex. */
export function formatAuditEvent(ev: AuditEvent): string {
  const o: Record<string, unknown> = { op: ev.op };
  if (ev.ts !== undefined) o.ts = ev.ts;
  if (ev.endpoint !== undefined) o.endpoint = ev.endpoint;
  if (ev.domain !== undefined) o.domain = ev.domain;
  if (ev.iova !== undefined) o.iova = "0x" + ev.iova.toString(16);
  if (ev.len !== undefined) {
    o.len = ev.len <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(ev.len) : "0x" + ev.len.toString(16);
  }
  if (ev.gpa !== undefined) o.gpa = "0x" + ev.gpa.toString(16);
  if (ev.flags !== undefined) o.flags = ev.flags;
  if (ev.dir !== undefined) o.dir = ev.dir;
  return JSON.stringify(o);
}
