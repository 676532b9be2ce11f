/**
 * An open-addressing hash index from block numbers to node slots, in typed arrays. The keys live
 * in the caller's node pool (`keys[slot]`), so the table itself is one Int32Array of `slot + 1`
 * (0 = empty): 4 bytes per table entry, with the table at 2x..4x the number of slots. Linear
 * probing with backward-shift deletion (no tombstones), Fibonacci hashing of the 53-bit key.
 *
 * @module
 */

/** Hashes a non-negative integer key (< 2^53) to `bits` bits. */
export function hashKey(key: number, shift: number): number {
  const lo = key | 0;
  const hi = (key / 4294967296) | 0;
  return Math.imul(lo ^ Math.imul(hi, 0x85ebca6b), 0x9e3779b1) >>> shift;
}

/** Maps keys to slots of a node pool whose keys are in `keys`. */
export class BlockIndex {
  readonly table: Int32Array;
  readonly mask: number;
  readonly shift: number;
  size = 0;

  /** `maxEntries` is the most slots ever indexed at once; `keys` holds each slot's key. */
  constructor(maxEntries: number, readonly keys: Float64Array) {
    let bits = 4;
    while ((1 << bits) < maxEntries * 2) bits++;
    this.table = new Int32Array(1 << bits);
    this.mask = (1 << bits) - 1;
    this.shift = 32 - bits;
  }

  /** The slot holding `key`, or -1. */
  get(key: number): number {
    const table = this.table, keys = this.keys, mask = this.mask;
    let h = hashKey(key, this.shift);
    for (;;) {
      const e = table[h];
      if (e === 0) return -1;
      if (keys[e - 1] === key) return e - 1;
      h = (h + 1) & mask;
    }
  }

  /** Indexes `slot` under `keys[slot]` (the key must not be present). */
  insert(slot: number): void {
    const table = this.table, mask = this.mask;
    let h = hashKey(this.keys[slot], this.shift);
    while (table[h] !== 0) h = (h + 1) & mask;
    table[h] = slot + 1;
    this.size++;
  }

  /** Removes the entry for `key` if present; returns its slot or -1. */
  delete(key: number): number {
    const table = this.table, keys = this.keys, mask = this.mask, shift = this.shift;
    let h = hashKey(key, shift);
    for (;;) {
      const e = table[h];
      if (e === 0) return -1;
      if (keys[e - 1] === key) break;
      h = (h + 1) & mask;
    }
    const slot = table[h] - 1;
    // Backward-shift: pull later entries of the probe run into the hole when allowed.
    let hole = h;
    let j = h;
    for (;;) {
      j = (j + 1) & mask;
      const e = table[j];
      if (e === 0) break;
      const home = hashKey(keys[e - 1], shift);
      // Move e if its home is not in (hole, j] (cyclically).
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        table[hole] = e;
        hole = j;
      }
    }
    table[hole] = 0;
    this.size--;
    return slot;
  }

  /** Drops every entry. */
  clear(): void {
    this.table.fill(0);
    this.size = 0;
  }
}
