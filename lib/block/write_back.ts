/**
 * The cache's dirty set and write-back: when written bytes reach the device below. Per mode
 * (lib/block/cache_layer.ts says what each promises): `writethrough` writes to the device
 * before the reply; `writeback` and `unsafe` keep writes in the block map's entries (dirty)
 * and write them back when the block is evicted, on FLUSH (`writeback` only) and on close;
 * a FUA write goes to the device before the reply. Flushes coalesce adjacent dirty blocks into
 * one device write (at most {@linkcode MAX_RUN} blocks), and can be scoped to one byte range
 * (one export of many behind a shared cache).
 *
 * @module
 */
import type { BlockDevice, ZeroFlags } from "./block_device.ts";
import type { BlockLocks } from "./block_locks.ts";
import type { BlockMap, Entry } from "./block_map.ts";
import { flushRangeOf } from "./concat_device.ts";

/** The most blocks one coalesced write-back writes. */
export const MAX_RUN = 256;

/** Counts of write-backs (the statistics layer shows them). */
export interface WriteBackEvents {
  /** Dirty blocks written back (on eviction, flush or close). */
  writebacks: number;
  writebackErrors: number;
}

/** A byte range and its blocks, for a scoped flush. */
export interface FlushScope {
  first: number;
  last: number;
  offset: number;
  length: number;
}

/** The dirty entries of a block map and the writes that clean them. */
export class WriteBack {
  #dirty = new Set<Entry>();

  constructor(
    readonly inner: BlockDevice,
    readonly map: BlockMap,
    readonly locks: BlockLocks,
    readonly writethrough: boolean,
    readonly events: WriteBackEvents,
    readonly log: (msg: string) => void,
  ) {}

  /** Dirty entries held. */
  get count(): number {
    return this.#dirty.size;
  }

  setDirty(e: Entry, dirty: boolean): void {
    if (e.dirty === dirty) return;
    e.dirty = dirty;
    if (dirty) this.#dirty.add(e);
    else this.#dirty.delete(e);
  }

  /** Writes an evicted entry back if dirty (BlockMap's settle); false keeps it for a retry. */
  async settle(e: Entry): Promise<boolean> {
    try {
      if (e.dirty) {
        await this.inner.write(e.block * this.map.bs, e.data);
        this.setDirty(e, false);
        this.events.writebacks++;
      }
      return true;
    } catch (err) {
      // Kept dirty and reachable: the next FLUSH retries and reports the failure.
      this.events.writebackErrors++;
      this.log(`write-back of block ${e.block} failed: ${(err as Error).message}`);
      return false;
    }
  }

  /** Copies `data` into the entries of first..last (those that exist and are usable). */
  copyIn(first: number, last: number, offset: number, data: Uint8Array, dirty: boolean): void {
    const bs = this.map.bs;
    const end = offset + data.length;
    for (let b = first; b <= last; b++) {
      const e = this.map.entry(b);
      if (!e) continue;
      const s = Math.max(offset, b * bs);
      const t = Math.min(end, (b + 1) * bs);
      if (!e.valid) {
        if (t - s < e.data.length) continue; // partial over an unfilled entry: filled first
        e.valid = true;
      }
      e.data.set(data.subarray(s - offset, t - offset), s - b * bs);
      if (dirty) this.setDirty(e, true);
    }
  }

  /** Fills unfilled entries of the (partially covered) edge blocks from the device. */
  async fillEdges(first: number, last: number, offset: number, length: number): Promise<void> {
    for (const b of first === last ? [first] : [first, last]) {
      const e = this.map.entry(b);
      if (e && !e.valid && !this.map.covers(b, offset, length)) {
        await this.inner.read(b * this.map.bs, e.data);
        e.valid = true;
      }
    }
  }

  /**
   * A write to blocks first..last, holding their locks: into the entries and, as the mode and
   * `fua` say, to the device.
   */
  async write(first: number, last: number, offset: number, data: Uint8Array, fua: boolean) {
    const map = this.map;
    await this.fillEdges(first, last, offset, data.length);
    if (this.writethrough) {
      try {
        await this.inner.write(offset, data, { fua: fua });
      } catch (e) {
        // The image did not take it: make the cached copies refill from the image.
        for (let b = first; b <= last; b++) {
          const en = map.entry(b);
          if (en) en.valid = false;
        }
        throw e;
      }
      this.copyIn(first, last, offset, data, false);
      return;
    }
    if (fua) {
      // Durable before the reply: the bytes go to the device with FUA; blocks wholly
      // overwritten are then clean, partially written ones keep their dirty state.
      await this.inner.write(offset, data, { fua: true });
      const wasDirty: boolean[] = [];
      for (let b = first; b <= last; b++) wasDirty.push(map.entry(b)?.dirty === true);
      this.copyIn(first, last, offset, data, false);
      for (let b = first; b <= last; b++) {
        const e = map.entry(b);
        if (e) this.setDirty(e, wasDirty[b - first] && !map.covers(b, offset, data.length));
      }
      return;
    }
    this.copyIn(first, last, offset, data, true);
    // Blocks with no entry go to the device, in runs.
    const bs = map.bs;
    const end = offset + data.length;
    let b = first;
    while (b <= last) {
      if (map.entry(b)?.valid) {
        b++;
        continue;
      }
      let z = b;
      while (z + 1 <= last && !map.entry(z + 1)?.valid) z++;
      const s = Math.max(offset, b * bs);
      const t = Math.min(end, (z + 1) * bs);
      await this.inner.write(s, data.subarray(s - offset, t - offset));
      b = z + 1;
    }
  }

  /**
   * The fast path of a write (write-back, no FUA): when every block is resident, unlocked and
   * filled or fully overwritten, copies `data` in (dirty) now and returns true.
   */
  tryWrite(first: number, last: number, offset: number, data: Uint8Array, fua: boolean) {
    if (this.writethrough || fua || this.locks.anyLocked(first, last)) return false;
    const map = this.map;
    for (let b = first; b <= last; b++) {
      const e = map.resident.get(b);
      if (e === undefined || !(e.valid || map.covers(b, offset, data.length))) return false;
    }
    this.copyIn(first, last, offset, data, true);
    return true;
  }

  /** Write-zeroes, holding the locks: on the device, then in the entries (zeroed = clean). */
  async zero(first: number, last: number, offset: number, length: number, flags: ZeroFlags) {
    const map = this.map;
    const bs = map.bs;
    await this.fillEdges(first, last, offset, length);
    await this.inner.zero(offset, length, flags);
    const end = offset + length;
    for (let b = first; b <= last; b++) {
      const e = map.entry(b);
      if (!e) continue;
      const s0 = Math.max(offset, b * bs) - b * bs;
      const t0 = Math.min(end, (b + 1) * bs) - b * bs;
      if (!e.valid) {
        if (t0 - s0 < e.data.length) continue;
        e.valid = true;
      }
      e.data.fill(0, s0, t0);
      // Wholly zeroed blocks now match the device.
      if (map.covers(b, offset, length)) this.setDirty(e, false);
    }
  }

  /** A trim, holding the locks: dirty data wholly inside it need not be written back. */
  trim(first: number, last: number, offset: number, length: number, fua: boolean) {
    for (let b = first; b <= last; b++) {
      const e = this.map.entry(b);
      if (e && this.map.covers(b, offset, length)) this.setDirty(e, false);
    }
    return this.inner.trim(offset, length, { fua });
  }

  /**
   * Writes every dirty block (of `scope`, if given) back in runs of adjacent blocks, then
   * flushes the device (only what is below `scope`, if given). Locks the blocks first, so it
   * comes after every request queued before it.
   */
  writeBackAll(flushDevice: boolean, scope?: FlushScope): Promise<void> {
    let dirty = [...this.#dirty];
    if (scope) dirty = dirty.filter((e) => e.block >= scope.first && e.block <= scope.last);
    const blocks = [...new Set(dirty.map((e) => e.block))].sort((a, b) => a - b);
    const [wait, release] = blocks.length > 0 ? this.locks.lock(1, 0, blocks) : [null, () => {}];
    return (async () => {
      try {
        if (wait) await wait;
        await this.#writeRuns(blocks);
        if (flushDevice) {
          await (scope ? flushRangeOf(this.inner, scope.offset, scope.length) : this.inner.flush());
        }
      } finally {
        release();
      }
    })();
  }

  /** Writes the dirty ones of `blocks` (sorted, locked) back, adjacent blocks in one write. */
  async #writeRuns(blocks: number[]): Promise<void> {
    const map = this.map;
    let i = 0;
    while (i < blocks.length) {
      const e = map.entry(blocks[i]);
      if (!e?.dirty) {
        i++;
        continue;
      }
      const run: Entry[] = [e];
      while (i + run.length < blocks.length) {
        const nb = blocks[i + run.length];
        const ne = map.entry(nb);
        if (nb !== e.block + run.length || !ne?.dirty || run.length >= MAX_RUN) break;
        run.push(ne);
      }
      let buf: Uint8Array;
      if (run.length === 1) buf = e.data;
      else {
        buf = new Uint8Array(run.reduce((n, r) => n + r.data.length, 0));
        let at = 0;
        for (const r of run) {
          buf.set(r.data, at);
          at += r.data.length;
        }
      }
      await this.inner.write(e.block * map.bs, buf);
      for (const r of run) {
        this.setDirty(r, false);
        this.events.writebacks++;
        if (map.resident.get(r.block) !== r) map.forget(r);
      }
      i += run.length;
    }
  }

  /** Byte ranges of dirty blocks inside [offset, end), sorted, adjacent blocks merged. */
  dirtyRanges(offset: number, end: number): [number, number][] {
    if (this.#dirty.size === 0) return [];
    const map = this.map;
    const bs = map.bs;
    const first = Math.floor(offset / bs);
    const last = Math.floor((end - 1) / bs);
    const blocks: number[] = [];
    if (last - first + 1 <= this.#dirty.size) {
      for (let b = first; b <= last; b++) {
        const e = map.entry(b);
        if (e?.dirty || map.resident.get(b)?.dirty) blocks.push(b);
      }
    } else {
      for (const e of this.#dirty) if (e.block >= first && e.block <= last) blocks.push(e.block);
      blocks.sort((a, b) => a - b);
    }
    const out: [number, number][] = [];
    for (const b of blocks) {
      const s = Math.max(offset, b * bs);
      const t = Math.min(end, (b + 1) * bs);
      const prev = out[out.length - 1];
      if (prev && prev[1] >= s) prev[1] = Math.max(prev[1], t);
      else out.push([s, t]);
    }
    return out;
  }
}
