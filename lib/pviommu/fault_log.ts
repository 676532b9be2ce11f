/**
 * The fault log: every DMA the IOMMU blocked, in order, with the virtio-iommu fault fields
 * (reason, flags, endpoint, address) plus the time, the domain and the length of the
 * access. The store keeps it in the `pviommu_faults` table.
 *
 * @module
 */
import type { Fault } from "./iommu.ts";
import { FaultFlag, FaultReason, type FaultReasonName } from "./spec.ts";
import type { TableSpec } from "../results/mod.ts";

/** A logged fault. */
export interface LoggedFault extends Fault {
  /** Time of the fault (ns; trace time in an audit). */
  ts: number;
  /** Length of the blocked access in bytes. */
  len: number;
  /** The IOVA the access started at (the fault address is the first blocked page). */
  iova: bigint;
}

/** The results-store table faults go to. */
export const FAULTS_TABLE: TableSpec = {
  name: "pviommu_faults",
  columns: [
    ["ts", "BIGINT"],
    ["endpoint", "BIGINT"],
    ["domain", "BIGINT"],
    ["reason", "VARCHAR"],
    ["flags", "INTEGER"],
    ["address", "UBIGINT"],
    ["iova", "UBIGINT"],
    ["len", "BIGINT"],
    ["source", "VARCHAR"],
  ],
};

const REASON_NAMES = Object.fromEntries(
  Object.entries(FaultReason).map(([k, v]) => [v, k]),
) as Record<number, FaultReasonName>;

/** The name of a fault reason (`MAPPING`); unknown values read as UNKNOWN, as the spec asks. */
export function reasonName(reason: number): FaultReasonName {
  return REASON_NAMES[reason] ?? "UNKNOWN";
}

/** Formats fault flags: `read`, `write`, `exec`, `+addr`. */
export function faultFlagNames(flags: number): string[] {
  const out: string[] = [];
  if (flags & FaultFlag.READ) out.push("read");
  if (flags & FaultFlag.WRITE) out.push("write");
  if (flags & FaultFlag.EXEC) out.push("exec");
  if (flags & FaultFlag.ADDRESS) out.push("address");
  return out;
}

/**
 * An append-only list of faults with per-reason counts; bounded (the oldest entries are
 * dropped past `limit`, the counts keep going).
 *
 * @example
 * ```ts
 * import { FaultLog } from "./fault_log.ts";
 * const log = new FaultLog();
 * log.add({ reason: 2, flags: 0x102, endpoint: 8, address: 0x5000n, domain: 1, ts: 0, len: 4096, iova: 0x5000n });
 * log.counts.MAPPING; // 1
 * ```
 */
export class FaultLog {
  readonly entries: LoggedFault[] = [];
  readonly counts: Record<FaultReasonName, number> = { UNKNOWN: 0, DOMAIN: 0, MAPPING: 0 };
  dropped = 0;
  constructor(readonly limit = 100_000) {}

  /** Records one fault. */
  add(f: LoggedFault): void {
    this.counts[reasonName(f.reason)]++;
    if (this.entries.length >= this.limit) {
      this.entries.shift();
      this.dropped++;
    }
    this.entries.push(f);
  }

  /** Total faults seen. */
  get total(): number {
    return this.counts.UNKNOWN + this.counts.DOMAIN + this.counts.MAPPING;
  }

  /** Rows for {@linkcode FAULTS_TABLE}. */
  rows(source: string): unknown[][] {
    return this.entries.map((f) => [
      Math.round(f.ts),
      f.endpoint,
      f.domain,
      reasonName(f.reason),
      f.flags,
      f.address,
      f.iova,
      f.len,
      source,
    ]);
  }
}
