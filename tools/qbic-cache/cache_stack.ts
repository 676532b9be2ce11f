/**
 * The cache as `serve` stacks it, bottom to top, in nbdkit's filter manner (one job a layer):
 *
 *   CacheLayer        (lib/block/cache_layer.ts)   the policy's block map, locks, write-back
 *   DirtyExtentsLayer (lib/block/dirty_extents.ts) block status: dirty blocks reported as data
 *   CacheStatsLayer   (lib/block/cache_stats.ts)   the figures: requests, blocks, hits
 *
 * The statistics layer is always on: the shutdown table, SIGUSR1, `--stats-interval` and the
 * results store all report the hit ratio, and it costs a few counter increments a request.
 *
 * @module
 */
import type { BlockDevice } from "../../lib/block/block_device.ts";
import { CacheLayer, type CacheLayerOptions } from "../../lib/block/cache_layer.ts";
import { DirtyExtentsLayer } from "../../lib/block/dirty_extents.ts";
import { CacheStatsLayer } from "../../lib/block/cache_stats.ts";

/** Stacks the cache's layers over `inner`; the top holds the figures and the cache itself. */
export function stackCache(inner: BlockDevice, o: CacheLayerOptions): CacheStatsLayer {
  const cache = new CacheLayer(inner, o);
  return new CacheStatsLayer(new DirtyExtentsLayer(cache), cache);
}
