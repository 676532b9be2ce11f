/**
 * A layer that makes the device under it as slow as a {@linkcode LatencyModel} says: each
 * request is priced by the model, waits for one of the model's queues to be free, and completes
 * no earlier than its modelled finish time (the real I/O below runs meanwhile, so the model is a
 * floor, not an addition). It sits directly on the image, under the cache, so only what the
 * cache sends down (misses, write-backs, flushes) pays: `serve --backing-latency 100us`.
 *
 * @module
 */
import type { BlockDevice, WriteFlags, ZeroFlags } from "./block_device.ts";
import { PassThroughLayer } from "./pass_through.ts";
import type { LatencyModel, ModelOp } from "./latency_model.ts";
import { type BlockExtent, extentsOf, type ExtentSource } from "./extents.ts";
import { flushRangeOf, type RangeFlusher } from "./concat_device.ts";
import { monotonicNs, sleepUntilNs } from "../ffi/clock.ts";

/** Where the layer reads time and waits: the native clock, or a test's. */
export interface ModelClock {
  nowNs(): number;
  sleepUntilNs(deadlineNs: number): Promise<void>;
}

/** The native monotonic clock with a microsecond sleep (lib/ffi/clock.ts). */
export const NATIVE_CLOCK: ModelClock = { nowNs: monotonicNs, sleepUntilNs };

/** What the modelled device did. */
export interface LatencyStats {
  requests: number;
  bytes: number;
  /** Sum of service times (ns): the device's busy time over all its queues. */
  busyNs: number;
  /** Sum of time spent waiting for a free queue (ns). */
  queueWaitNs: number;
  /** Sum of modelled latencies, arrival to modelled completion (ns). */
  latencyNs: number;
  maxLatencyNs: number;
}

/**
 * The modelled device in front of a real one.
 *
 * @example
 * ```ts
 * import { MemoryDevice } from "./memory_device.ts";
 * import { LatencyDevice } from "./latency_device.ts";
 * import { parseLatencyModel } from "./latency_model.ts";
 * const disk = new MemoryDevice(1 << 20);
 * const slow = new LatencyDevice(disk, parseLatencyModel("100us", disk.size));
 * await slow.read(0, new Uint8Array(4096)); // takes at least 100 us
 * ```
 */
export class LatencyDevice extends PassThroughLayer
  implements BlockDevice, ExtentSource, RangeFlusher {
  readonly stats: LatencyStats = {
    requests: 0,
    bytes: 0,
    busyNs: 0,
    queueWaitNs: 0,
    latencyNs: 0,
    maxLatencyNs: 0,
  };
  /** When each of the model's queues is next free (monotonic ns). */
  readonly #freeAt: Float64Array;

  constructor(
    inner: BlockDevice,
    readonly model: LatencyModel,
    readonly clock: ModelClock = NATIVE_CLOCK,
  ) {
    super(inner);
    this.#freeAt = new Float64Array(model.queues);
  }

  /** Books the request on the earliest free queue; returns its modelled completion time. */
  schedule(op: ModelOp, offset: number, length: number): number {
    const now = this.clock.nowNs();
    const service = this.model.serviceNs(op, offset, length);
    let q = 0;
    for (let i = 1; i < this.#freeAt.length; i++) if (this.#freeAt[i] < this.#freeAt[q]) q = i;
    const start = Math.max(now, this.#freeAt[q]);
    const finish = start + service;
    this.#freeAt[q] = finish;
    const s = this.stats;
    s.requests++;
    s.bytes += op === "flush" ? 0 : length;
    s.busyNs += service;
    s.queueWaitNs += start - now;
    s.latencyNs += finish - now;
    if (finish - now > s.maxLatencyNs) s.maxLatencyNs = finish - now;
    return finish;
  }

  async #timed(op: ModelOp, offset: number, length: number, io: () => Promise<void>) {
    const finish = this.schedule(op, offset, length);
    await Promise.all([io(), this.clock.sleepUntilNs(finish)]);
  }

  read(offset: number, buf: Uint8Array): Promise<void> {
    return this.#timed("read", offset, buf.length, () => this.inner.read(offset, buf));
  }
  write(offset: number, data: Uint8Array, flags?: WriteFlags): Promise<void> {
    return this.#timed("write", offset, data.length, () => this.inner.write(offset, data, flags));
  }
  flush(): Promise<void> {
    return this.#timed("flush", 0, 0, () => this.inner.flush());
  }
  /** A flush of one range (one export's disk): priced as a flush, passed down scoped. */
  flushRange(offset: number, length: number): Promise<void> {
    return this.#timed("flush", 0, 0, () => flushRangeOf(this.inner, offset, length));
  }
  trim(offset: number, length: number, flags?: WriteFlags): Promise<void> {
    return this.#timed("trim", offset, length, () => this.inner.trim(offset, length, flags));
  }
  zero(offset: number, length: number, flags?: ZeroFlags): Promise<void> {
    return this.#timed("zero", offset, length, () => this.inner.zero(offset, length, flags));
  }
  /** Block status is metadata: answered by the device below, not priced. */
  extents(offset: number, length: number): Promise<BlockExtent[]> {
    return extentsOf(this.inner, offset, length);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
