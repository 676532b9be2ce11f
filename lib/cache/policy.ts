/**
 * The one interface every cache policy implements (libCacheSim's shape: a policy is an
 * interchangeable part). The simulator and the live cache layer hold a `CachePolicy` and never
 * branch on which one it is. Keys are block numbers (byte offset / block size); capacity is
 * counted in blocks.
 *
 * @module
 */
import type { IoRecord } from "../trace/io_record.ts";

/** A block replacement policy. */
export interface CachePolicy {
  /** The policy's name as `--policy` spells it, e.g. `lru`, `s3fifo`. */
  readonly name: string;
  /** Capacity in blocks. */
  readonly capacity: number;
  /** Resident blocks now. */
  readonly used: number;
  /**
   * One block access. Returns true on a hit. On a miss the policy decides whether to insert
   * the block (QBic's admission may not), evicting as needed; every evicted block is passed to
   * `onEvict` before `access` returns.
   */
  access(block: number, isWrite: boolean): boolean;
  /** True when the block is resident (no side effects: does not count as an access). */
  has(block: number): boolean;
  /** Drops a block if resident (invalidation); does not call `onEvict`. */
  remove(block: number): void;
  /** Called with each block the policy evicts; the live cache writes dirty ones back. */
  onEvict: (block: number) => void;
  /**
   * Optional: moves a resident block to the eviction end, so that it is the next block evicted
   * (where the policy has one queue) or the next of its queue (ARC, S3-FIFO: see each policy).
   * No effect when the block is not resident. An admission filter that demotes
   * ({@linkcode AdmissionFilter.refusal}) needs it.
   */
  demote?(block: number): void;
}

/** Builds a policy for a capacity in blocks. */
export type PolicyFactory = (capacityBlocks: number) => CachePolicy;

/**
 * An admission filter decides, per request, whether its blocks may enter the cache at all
 * (PDC keeps journal writes out). A request it refuses goes straight to the device, and any
 * cached copy of its blocks is dropped so no stale data is served.
 */
export interface AdmissionFilter {
  readonly name: string;
  /** False keeps this request out of the cache. */
  admit(req: IoRecord): boolean;
  /**
   * Optional: sees, in order, each record the caller does not ask `admit` about (F and T), so a
   * filter that learns from the request stream (the PDC heuristic) knows where flushes fall.
   * The simulator and the live cache layer both call it, identically.
   */
  observe?(req: IoRecord): void;
  /**
   * Optional: what becomes of a request `admit` refused. `"bypass"` (the default): it goes to the
   * device and any cached copy of its blocks is dropped. `"demote"`: its blocks enter the cache
   * as an admitted request's would, then move to the policy's eviction end
   * ({@linkcode CachePolicy.demote}): cached, but the first to go.
   */
  readonly refusal?: "bypass" | "demote";
  /** Optional: how results name the filter with its options, e.g. `pdc(exact,demote)`. */
  readonly label?: string;
}

/** The filter's refusal is a demotion. */
export function demotes(admission: AdmissionFilter | null | undefined): boolean {
  return admission?.refusal === "demote";
}

/** Throws when `admission` demotes and `policy` cannot (the caller's set-up is wrong). */
export function checkDemote(admission: AdmissionFilter | null | undefined, policy: CachePolicy) {
  if (demotes(admission) && typeof policy.demote !== "function") {
    throw new RangeError(`policy ${policy.name} cannot demote (${admission!.label ?? "pdc"})`);
  }
}

/** Admits everything: the default when no `--admit` is given. */
export const admitAll: AdmissionFilter = { name: "all", admit: () => true };
