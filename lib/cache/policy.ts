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
}

/** Admits everything: the default when no `--admit` is given. */
export const admitAll: AdmissionFilter = { name: "all", admit: () => true };
