/**
 * The base of a layer that describes itself as the device under it: name, size, read-only flag
 * and block sizes are the inner device's. A layer extends it and overrides the requests it
 * changes (lib/block/latency_device.ts, lib/block/export_meter.ts).
 *
 * @module
 */
import type { BlockDevice, BlockSizes } from "./block_device.ts";

/** Describes itself as `inner` does. */
export abstract class PassThroughLayer {
  constructor(readonly inner: BlockDevice) {}

  get name(): string {
    return this.inner.name;
  }
  get size(): number {
    return this.inner.size;
  }
  get readOnly(): boolean {
    return this.inner.readOnly;
  }
  get blockSizes(): BlockSizes {
    return this.inner.blockSizes;
  }
}
