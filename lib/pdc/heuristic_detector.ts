/**
 * PDC's online journal detector, needing no image. A journal (jbd2, the XFS log) is a region
 * written sequentially and circularly, each write once per pass, whose transactions end in a
 * commit record that is forced to media: a write with FUA, or — where the device has no FUA, as
 * under virtio-blk — a write sandwiched between two FLUSHes. It is not read back while the file
 * system is mounted.
 *
 * The detector follows sequential write streams (a write starting where an earlier write of the
 * stream ended, other I/O interleaved). A stream earns a *commit* when one of its continuing
 * writes has FUA or sits between two flushes. A stream with `confirmCommits` commits and no
 * read inside it becomes a journal region; from then on every write inside the region or
 * continuing it is a journal write. A stream that grows into a region's start (the journal
 * wrapping around, or the journal superblock just before the log) joins the region.
 * Writes of a stream before it is confirmed are classed `other` — the price of deciding
 * online; `pdc-filter eval` measures it.
 *
 * @module
 */
import type { DetectorMethod, JournalDetector } from "./journal_detector.ts";

/** Tunables of the heuristic. */
export interface HeuristicOptions {
  /** Commits a stream needs before it is taken as a journal (default 2). */
  confirmCommits?: number;
  /** Candidate streams remembered per device, oldest dropped first (default 4096). */
  maxStreams?: number;
}

interface Stream {
  lo: number;
  hi: number;
  commits: number;
  readBack: boolean;
  confirmed: boolean;
}

class DeviceState {
  /** Candidate and confirmed streams by the offset where their next write would start. */
  tails = new Map<number, Stream>();
  regions: Stream[] = [];
  /** Streams with at least one commit that are not regions yet: reads are checked against them. */
  promising: Stream[] = [];
  prevWasFlush = false;
  pendingCommit: Stream | null = null;
}

/**
 * The online heuristic detector.
 *
 * @example
 * ```ts
 * import { HeuristicDetector } from "./heuristic_detector.ts";
 * const d = new HeuristicDetector();
 * for (let i = 0; i < 4; i++) {
 *   d.observe("W", 8192 * i, 4096, false); // a log block
 *   d.observe("F", 0, 0, false);
 *   d.observe("W", 8192 * i + 4096, 4096, false); // its commit record, between flushes
 *   d.observe("F", 0, 0, false);
 * }
 * d.observe("W", 8192 * 4, 4096, false); // true: the stream is now a journal region
 * ```
 */
export class HeuristicDetector implements JournalDetector {
  readonly method: DetectorMethod = "heuristic";
  readonly #confirm: number;
  readonly #maxStreams: number;
  #devs = new Map<string, DeviceState>();
  #last: DeviceState | null = null;
  #lastDev: string | undefined = undefined;

  constructor(opts: HeuristicOptions = {}) {
    this.#confirm = opts.confirmCommits ?? 2;
    this.#maxStreams = opts.maxStreams ?? 4096;
    if (!(this.#confirm >= 1)) throw new RangeError("confirmCommits must be >= 1");
  }

  /** The journal regions learned so far for a device (byte ranges). */
  regions(dev = ""): { off: number; len: number }[] {
    return (this.#devs.get(dev)?.regions ?? []).map((r) => ({ off: r.lo, len: r.hi - r.lo }));
  }

  #state(dev: string | undefined): DeviceState {
    if (this.#last !== null && dev === this.#lastDev) return this.#last;
    const key = dev ?? "";
    let s = this.#devs.get(key);
    if (s === undefined) {
      s = new DeviceState();
      this.#devs.set(key, s);
    }
    this.#last = s;
    this.#lastDev = dev;
    return s;
  }

  observe(op: string, off: number, len: number, fua: boolean, dev?: string): boolean {
    const st = this.#state(dev);
    if (op === "F") {
      if (st.pendingCommit !== null) this.#credit(st, st.pendingCommit);
      st.pendingCommit = null;
      st.prevWasFlush = true;
      return false;
    }
    const end = off + len;
    const regions = st.regions;
    if (op === "R" || op === "T") {
      for (let i = 0; i < regions.length; i++) {
        if (off < regions[i].hi && end > regions[i].lo) return true;
      }
      if (op === "R") {
        const p = st.promising;
        for (let i = 0; i < p.length; i++) {
          if (off < p[i].hi && end > p[i].lo) p[i].readBack = true;
        }
      }
      return false;
    }
    // A write (W or Z).
    for (let i = 0; i < regions.length; i++) {
      const r = regions[i];
      if (off >= r.lo && off < r.hi) {
        if (end > r.hi) this.#advance(st, r, end);
        this.#afterWrite(st, r, fua, true);
        return true;
      }
    }
    const tails = st.tails;
    let s = tails.get(off);
    let continues = true;
    if (s === undefined) {
      continues = false;
      s = { lo: off, hi: end, commits: 0, readBack: false, confirmed: false };
      tails.set(end, s);
      if (tails.size > this.#maxStreams) {
        const oldest = tails.keys().next().value as number;
        const old = tails.get(oldest)!;
        tails.delete(oldest);
        if (old.confirmed) tails.set(old.hi, old); // regions are never forgotten
      }
    } else {
      this.#advance(st, s, end);
    }
    // A stream that grows into a region's start joins it (wrap-around, journal superblock).
    for (let i = 0; i < regions.length; i++) {
      const r = regions[i];
      if (r !== s && r.lo === s.hi && !s.readBack) {
        r.lo = Math.min(r.lo, s.lo);
        tails.delete(s.hi);
        if (s.confirmed) regions.splice(regions.indexOf(s), 1);
        this.#afterWrite(st, r, fua, continues);
        return true;
      }
    }
    this.#afterWrite(st, s, fua, continues);
    return s.confirmed;
  }

  /** Moves a stream's head to `end`, keeping the tails map keyed by the new head. */
  #advance(st: DeviceState, s: Stream, end: number): void {
    if (st.tails.get(s.hi) === s) st.tails.delete(s.hi);
    s.hi = end;
    st.tails.set(end, s);
  }

  #afterWrite(st: DeviceState, s: Stream, fua: boolean, continues: boolean): void {
    if (continues && fua) {
      this.#credit(st, s);
      st.pendingCommit = null;
    } else if (continues && st.prevWasFlush) st.pendingCommit = s;
    else st.pendingCommit = null;
    st.prevWasFlush = false;
  }

  #credit(st: DeviceState, s: Stream): void {
    s.commits++;
    if (s.confirmed || s.readBack) return;
    if (s.commits >= this.#confirm) {
      s.confirmed = true;
      st.regions.push(s);
      const i = st.promising.indexOf(s);
      if (i >= 0) st.promising.splice(i, 1);
    } else if (s.commits === 1) {
      st.promising.push(s);
      if (st.promising.length > 16) st.promising.shift();
    }
  }
}
