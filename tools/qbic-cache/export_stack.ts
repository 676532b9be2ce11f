/**
 * The stack `serve` builds for several exports (`--export NAME=IMAGE`, repeated): QBic's host
 * cache in front of many VMs' disks. Top to bottom, per export and shared:
 *
 *   export meter (per-VM figures) → window of the shared address space (scoped flush, read-only)
 *   → cache: `shared` (one pool, one policy over every VM's blocks) or `static` (one cache per
 *     export, a fixed share each)
 *   → the backing-device latency model (one device, all exports contend for it)
 *   → the images end to end (lib/block/concat_device.ts), each through the daio engine.
 *
 * Blocks are keyed by (export, block) through the export's place in the address space.
 *
 * @module
 */
import type { BlockDevice } from "../../lib/block/block_device.ts";
import { ConcatDevice, type PartIo } from "../../lib/block/concat_device.ts";
import { SliceDevice } from "../../lib/block/slice_device.ts";
import type { CacheMode } from "../../lib/block/cache_layer.ts";
import type { CacheStatsLayer } from "../../lib/block/cache_stats.ts";
import { stackCache } from "./cache_stack.ts";
import { LatencyDevice } from "../../lib/block/latency_device.ts";
import type { LatencyModel } from "../../lib/block/latency_model.ts";
import { ExportLedger, ExportMeter } from "../../lib/block/export_meter.ts";
import { createPolicy } from "../../lib/cache/registry.ts";
import type { CachePolicy } from "../../lib/cache/policy.ts";
import { OwnerQuotaPolicy } from "../../lib/cache/owner_quota.ts";
import type { NbdExport } from "../../lib/nbd/types.ts";

/** How the cache's memory is divided between exports. */
export type Allocation = "shared" | "static";

/** The allocations, as `--allocation` spells them. */
export const ALLOCATIONS: readonly Allocation[] = ["shared", "static"];

/** The most exports one server takes. */
export const MAX_EXPORTS = 64;

/** One `--export NAME=IMAGE[,read-only][,share=P%]`. */
export interface ExportSpec {
  name: string;
  image: string;
  readOnly: boolean;
  /** Fraction of the cache for `static` allocation (undefined: an equal part of the rest). */
  share?: number;
  /** Most of the shared pool this export may hold, as a fraction (`shared` allocation). */
  max?: number;
}

/** A bad `--export` value. */
export class ExportSpecError extends Error {
  override name = "ExportSpecError";
}

/**
 * Parses `NAME=IMAGE[,read-only][,share=25%][,max=50%]`.
 *
 * @example
 * ```ts
 * import { parseExportSpec } from "./export_stack.ts";
 * parseExportSpec("vm1=disk1.img,share=25%"); // { name: "vm1", image: "disk1.img", readOnly: false, share: 0.25 }
 * ```
 */
export function parseExportSpec(text: string): ExportSpec {
  const eq = text.indexOf("=");
  if (eq <= 0) throw new ExportSpecError(`'${text}': expected NAME=IMAGE`);
  const name = text.slice(0, eq);
  if (new TextEncoder().encode(name).length > 4096) {
    throw new ExportSpecError(`'${name.slice(0, 20)}...': an export name is at most 4096 bytes`);
  }
  const [image, ...opts] = text.slice(eq + 1).split(",");
  if (image === "") throw new ExportSpecError(`'${text}': no image after '${name}='`);
  const spec: ExportSpec = { name, image, readOnly: false };
  for (const opt of opts) {
    if (opt === "read-only" || opt === "ro") spec.readOnly = true;
    else if (opt.startsWith("share=")) {
      const m = /^share=(\d+(?:\.\d+)?)%$/.exec(opt);
      const p = m ? Number(m[1]) / 100 : NaN;
      if (!(p > 0 && p <= 1)) {
        throw new ExportSpecError(`${name}: share must be a percentage in (0, 100]: '${opt}'`);
      }
      spec.share = p;
    } else if (opt.startsWith("max=")) {
      const m = /^max=(\d+(?:\.\d+)?)%$/.exec(opt);
      const p = m ? Number(m[1]) / 100 : NaN;
      if (!(p > 0 && p <= 1)) {
        throw new ExportSpecError(`${name}: max must be a percentage in (0, 100]: '${opt}'`);
      }
      spec.max = p;
    } else throw new ExportSpecError(`${name}: unknown export option '${opt}'`);
  }
  return spec;
}

/** `max=` belongs to the shared pool; `share=` to static allocation. */
export function checkSpecsFor(allocation: Allocation, specs: ExportSpec[]): void {
  for (const s of specs) {
    if (allocation === "static" && s.max !== undefined) {
      throw new ExportSpecError(`${s.name}: max= is for --allocation shared (static: share=)`);
    }
    if (allocation === "shared" && s.share !== undefined) {
      throw new ExportSpecError(`${s.name}: share= is for --allocation static (shared: max=)`);
    }
  }
}

/** Cache blocks per export for `static` allocation: given shares, the rest split evenly. */
export function staticShares(specs: ExportSpec[], totalBlocks: number): number[] {
  const given = specs.reduce((n, s) => n + (s.share ?? 0), 0);
  if (given > 1 + 1e-9) {
    throw new ExportSpecError(`the shares add up to ${Math.round(given * 100)}% (> 100%)`);
  }
  const unset = specs.filter((s) => s.share === undefined).length;
  const each = unset ? (1 - given) / unset : 0;
  return specs.map((s) => {
    const blocks = Math.floor(totalBlocks * (s.share ?? each));
    if (blocks < 1) {
      throw new ExportSpecError(`${s.name}: its share of the cache is less than one block`);
    }
    return blocks;
  });
}

/** Options of {@linkcode buildExportStack}. */
export interface ExportStackOptions {
  cacheSize: number;
  blockSize: number;
  policy: string;
  mode: CacheMode;
  cacheOnRead: boolean;
  allocation: Allocation;
  /** The backing-device model shared by all exports, if any. */
  model?: (size: number) => LatencyModel;
  log: (msg: string) => void;
}

/** The built stack: what the NBD server exports, and what reports read. */
export interface ExportStack {
  exports: NbdExport[];
  ledger: ExportLedger;
  caches: CacheStatsLayer[];
  latency: LatencyDevice | null;
  /** Bytes each export holds in the cache now. */
  bytesCached(): number[];
  /** What reached each export's image. */
  deviceIo(): PartIo[];
  /** Writes back, flushes and closes everything once. */
  close(): Promise<void>;
}

/** The policy of a cache of `blocks` blocks; in a shared pool, `max=` caps become quotas. */
function policyFor(
  specs: ExportSpec[],
  o: ExportStackOptions,
  concat: ConcatDevice,
  blocks: number,
): CachePolicy {
  const p = createPolicy(o.policy, blocks);
  if (o.allocation !== "shared" || !specs.some((s) => s.max !== undefined)) return p;
  const max = specs.map((s) => s.max === undefined ? Infinity : Math.floor(blocks * s.max));
  return new OwnerQuotaPolicy(p, (b) => concat.partAt(b * o.blockSize), max);
}

/** Bytes each export holds: a shared cache's blocks by owner, or each static cache's. */
function bytesCached(
  concat: ConcatDevice,
  caches: CacheStatsLayer[],
  shared: boolean,
  bs: number,
): number[] {
  const out = concat.parts.map(() => 0);
  if (shared) {
    for (const b of caches[0].cache.residentBlockNumbers()) out[concat.partAt(b * bs)] += bs;
  } else caches.forEach((c, i) => out[i] = c.cache.residentBlocks * bs);
  return out;
}

/** Builds the stack over already opened images (one per spec, in order). */
export function buildExportStack(
  specs: ExportSpec[],
  images: BlockDevice[],
  o: ExportStackOptions,
): ExportStack {
  checkSpecsFor(o.allocation, specs);
  const concat = new ConcatDevice(images, "exports");
  const latency = o.model ? new LatencyDevice(concat, o.model(concat.size)) : null;
  const backing: BlockDevice = latency ?? concat;
  const bs = o.blockSize;
  const caches: CacheStatsLayer[] = [];
  const ledger = new ExportLedger(
    specs.map((s) => s.name),
    o.allocation === "shared" ? (_c, block) => concat.partAt(block * bs) : (c) => c,
  );
  const newCache = (inner: BlockDevice, blocks: number, index: number) => {
    const cache = stackCache(inner, {
      policy: policyFor(specs, o, concat, blocks),
      blockSize: bs,
      mode: o.mode,
      cacheOnRead: o.cacheOnRead,
      log: o.log,
      onEvicted: ledger.evictionHook(index),
    });
    caches.push(cache);
    return cache;
  };
  const totalBlocks = Math.floor(o.cacheSize / bs);
  const shared = o.cacheSize > 0 && o.allocation === "shared"
    ? newCache(backing, totalBlocks, 0)
    : null;
  const shares = o.cacheSize > 0 && o.allocation === "static"
    ? staticShares(specs, totalBlocks)
    : [];
  const exports = specs.map((s, i): NbdExport => {
    const part = concat.parts[i];
    const window = (under: BlockDevice) =>
      new SliceDevice(under, {
        name: s.name,
        base: part.base,
        size: part.device.size,
        readOnly: s.readOnly,
      });
    let top: BlockDevice;
    if (shared) top = window(shared);
    else if (shares.length > 0) top = newCache(window(backing), shares[i], i);
    else top = window(backing);
    const counters = shared ?? (shares.length > 0 ? caches[i] : null);
    return {
      name: s.name,
      description: s.image,
      device: new ExportMeter(top, i, ledger, counters?.stats ?? null),
      readOnly: s.readOnly,
    };
  });
  return {
    exports,
    ledger,
    caches,
    latency,
    bytesCached: () => bytesCached(concat, caches, shared !== null, bs),
    deviceIo: () => concat.parts.map((p) => p.io),
    async close() {
      const results = await Promise.allSettled(caches.map((c) => c.close()));
      // A cache closes what is under it; a static cache's window does not own the device.
      if (!shared) await concat.close();
      const bad = results.find((r) => r.status === "rejected") as PromiseRejectedResult | undefined;
      if (bad) throw bad.reason;
    },
  };
}
