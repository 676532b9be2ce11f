/**
 * Several devices laid end to end in one address space, so that one cache (and one modelled
 * backing device) can sit in front of many VMs' disks: a block of export i is block
 * `(base_i + offset) / bs` of the whole, which keys the cache by (export, block) without the
 * cache knowing about exports. Each part starts at a multiple of {@linkcode CONCAT_ALIGN}, so no
 * cache block spans two parts; the gap after a part reads as zeroes and ignores writes (only a
 * cache filling or writing back the last, partial block of a part touches it).
 *
 * Flushes can be scoped: {@linkcode ConcatDevice.flushRange} flushes only the parts a range
 * covers, so one VM's FLUSH never waits on another's disk. Per-part counters say how much I/O
 * each part's device really saw.
 *
 * @module
 */
import {
  type BlockDevice,
  BlockError,
  type BlockSizes,
  checkRange,
  type WriteFlags,
  type ZeroFlags,
} from "./block_device.ts";
import {
  type BlockExtent,
  extentsOf,
  type ExtentSource,
  STATE_HOLE,
  STATE_ZERO,
} from "./extents.ts";

/** Where every part starts: a multiple of this (1 MiB, the largest cache block). */
export const CONCAT_ALIGN = 1 << 20;

/** What reached one part's device. */
export interface PartIo {
  reads: number;
  writes: number;
  readBytes: number;
  writeBytes: number;
  flushes: number;
  errors: number;
}

/** One part: its device and where it starts in the whole. */
export interface ConcatPart {
  readonly device: BlockDevice;
  readonly base: number;
  readonly io: PartIo;
}

/** A device that can flush only the devices under a byte range (see {@linkcode flushRangeOf}). */
export interface RangeFlusher {
  flushRange(offset: number, length: number): Promise<void>;
}

/** Flushes `[offset, offset+length)` of `dev`: only that range when it can, else everything. */
export function flushRangeOf(dev: BlockDevice, offset: number, length: number): Promise<void> {
  const f = (dev as Partial<RangeFlusher>).flushRange;
  return typeof f === "function" ? f.call(dev, offset, length) : dev.flush();
}

const roundUp = (n: number, a: number) => Math.ceil(n / a) * a;

/**
 * Devices end to end.
 *
 * @example
 * ```ts
 * import { MemoryDevice } from "./memory_device.ts";
 * import { ConcatDevice } from "./concat_device.ts";
 * const all = new ConcatDevice([new MemoryDevice(4096), new MemoryDevice(8192)]);
 * all.parts[1].base; // 1048576
 * ```
 */
export class ConcatDevice implements BlockDevice, RangeFlusher, ExtentSource {
  readonly name: string;
  readonly size: number;
  readonly readOnly = false;
  readonly blockSizes: BlockSizes;
  readonly parts: ConcatPart[];

  constructor(devices: BlockDevice[], name = "concat") {
    if (devices.length === 0) throw new BlockError("EINVAL", "concat: no devices");
    let at = 0;
    this.parts = devices.map((device) => {
      const part = {
        device,
        base: at,
        io: { reads: 0, writes: 0, readBytes: 0, writeBytes: 0, flushes: 0, errors: 0 },
      };
      at = roundUp(at + Math.max(device.size, 1), CONCAT_ALIGN);
      return part;
    });
    if (!Number.isSafeInteger(at)) throw new BlockError("EOVERFLOW", "concat: parts too large");
    this.size = at;
    this.name = name;
    this.blockSizes = {
      minimum: Math.max(...devices.map((d) => d.blockSizes.minimum)),
      preferred: Math.max(...devices.map((d) => d.blockSizes.preferred)),
      maximum: Math.min(...devices.map((d) => d.blockSizes.maximum)),
    };
  }

  /** The index of the part holding byte `offset` (the part or the gap after it). */
  partAt(offset: number): number {
    let lo = 0, hi = this.parts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.parts[mid].base <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Splits a range into per-part pieces: [part, offset in part, length, offset in range]. */
  #pieces(offset: number, length: number): [ConcatPart, number, number, number][] {
    checkRange(this, offset, length);
    const out: [ConcatPart, number, number, number][] = [];
    let at = offset;
    const end = offset + length;
    while (at < end) {
      const i = this.partAt(at);
      const p = this.parts[i];
      const next = i + 1 < this.parts.length ? this.parts[i + 1].base : this.size;
      const stop = Math.min(end, next);
      const inPart = Math.min(stop, p.base + p.device.size);
      if (inPart > at) out.push([p, at - p.base, inPart - at, at - offset]);
      at = stop; // the rest up to `stop` is gap
    }
    return out;
  }

  async #each(
    offset: number,
    length: number,
    io: (p: ConcatPart, off: number, len: number, at: number) => Promise<void>,
  ): Promise<void> {
    await Promise.all(
      this.#pieces(offset, length).map(async ([p, off, len, at]) => {
        try {
          await io(p, off, len, at);
        } catch (e) {
          p.io.errors++;
          throw e;
        }
      }),
    );
  }

  read(offset: number, buf: Uint8Array): Promise<void> {
    buf.fill(0); // gaps read as zeroes; parts overwrite their pieces
    return this.#each(offset, buf.length, (p, off, len, at) => {
      p.io.reads++;
      p.io.readBytes += len;
      return p.device.read(off, buf.subarray(at, at + len));
    });
  }

  write(offset: number, data: Uint8Array, flags?: WriteFlags): Promise<void> {
    return this.#each(offset, data.length, (p, off, len, at) => {
      p.io.writes++;
      p.io.writeBytes += len;
      return p.device.write(off, data.subarray(at, at + len), flags);
    });
  }

  trim(offset: number, length: number, flags?: WriteFlags): Promise<void> {
    return this.#each(offset, length, (p, off, len) => p.device.trim(off, len, flags));
  }

  zero(offset: number, length: number, flags?: ZeroFlags): Promise<void> {
    return this.#each(offset, length, (p, off, len) => {
      p.io.writes++;
      p.io.writeBytes += len;
      return p.device.zero(off, len, flags);
    });
  }

  /** The extents of the part (or gap) where `offset` falls; callers ask again from its end. */
  extents(offset: number, length: number): Promise<BlockExtent[]> {
    checkRange(this, offset, length);
    const i = this.partAt(offset);
    const p = this.parts[i];
    const next = i + 1 < this.parts.length ? this.parts[i + 1].base : this.size;
    const partEnd = p.base + p.device.size;
    if (offset < partEnd) {
      return extentsOf(p.device, offset - p.base, Math.min(offset + length, partEnd) - offset);
    }
    const gap = Math.min(offset + length, next) - offset;
    return Promise.resolve([{ length: gap, flags: STATE_HOLE | STATE_ZERO }]);
  }

  flush(): Promise<void> {
    return this.flushRange(0, this.size);
  }

  /** Flushes only the parts that `[offset, offset+length)` touches. */
  async flushRange(offset: number, length: number): Promise<void> {
    const first = this.partAt(offset);
    const last = this.partAt(Math.max(offset, offset + length - 1));
    const flushes: Promise<void>[] = [];
    for (let i = first; i <= last; i++) {
      const p = this.parts[i];
      p.io.flushes++;
      flushes.push(
        p.device.flush().catch((e) => {
          p.io.errors++;
          throw e;
        }),
      );
    }
    await Promise.all(flushes);
  }

  async close(): Promise<void> {
    const results = await Promise.allSettled(this.parts.map((p) => p.device.close()));
    const bad = results.find((r) => r.status === "rejected") as PromiseRejectedResult | undefined;
    if (bad) throw bad.reason;
  }
}
