/**
 * Per-block locks of the cache: requests on one block take their turn in arrival order, while
 * requests on other blocks run in parallel. A lock is queued synchronously when a request
 * arrives (so the order is the arrival order, as the policy saw it) and held from when every
 * earlier holder of its blocks has released until the request is done.
 *
 * @module
 */

/** Releases a lock; call exactly once. */
export type Release = () => void;

/**
 * Lock queues keyed by block number.
 *
 * @example
 * ```ts
 * import { BlockLocks } from "./block_locks.ts";
 * const locks = new BlockLocks();
 * const [first, done1] = locks.lock(0, 1); // null: nothing to wait for
 * const [second, done2] = locks.lock(1, 1); // waits for the first holder of block 1
 * done1();
 * await second;
 * done2();
 * ```
 */
export class BlockLocks {
  /** Per block: the promise the last queued holder resolves on release. */
  #tails = new Map<number, Promise<void>>();

  /** Blocks with a lock held or queued. */
  get size(): number {
    return this.#tails.size;
  }

  /** True when a lock on `b` is held or queued. */
  has(b: number): boolean {
    return this.#tails.has(b);
  }

  /**
   * Queues a lock on blocks first..last (and `more`). Returns what to await before the blocks
   * are held (null: held now) and the release.
   */
  lock(first: number, last: number, more?: Iterable<number>): [Promise<unknown> | null, Release] {
    let release!: Release;
    const mine = new Promise<void>((r) => release = r);
    let waits: Promise<void>[] | null = null;
    const take = (b: number) => {
      const prev = this.#tails.get(b);
      if (prev === mine) return;
      if (prev) (waits ??= []).push(prev);
      this.#tails.set(b, mine);
    };
    for (let b = first; b <= last; b++) take(b);
    if (more) { for (const b of more) take(b); }
    const done = () => {
      for (let b = first; b <= last; b++) if (this.#tails.get(b) === mine) this.#tails.delete(b);
      if (more) { for (const b of more) if (this.#tails.get(b) === mine) this.#tails.delete(b); }
      release();
    };
    const w = waits as Promise<void>[] | null;
    return [w === null ? null : w.length === 1 ? w[0] : Promise.all(w), done];
  }

  /** True when any block of first..last has a lock held or queued. */
  anyLocked(first: number, last: number): boolean {
    if (this.#tails.size === 0) return false;
    for (let b = first; b <= last; b++) if (this.#tails.has(b)) return true;
    return false;
  }

  /** Resolves once no lock is held or queued (locks queued meanwhile included). */
  async idle(): Promise<void> {
    while (this.#tails.size > 0) await Promise.all([...this.#tails.values()]);
  }
}
