/**
 * PDC's online journal detector, needing no image. It looks for what makes a jbd2 journal (or
 * the XFS log) different from data, as the recorded ext4 guest traces show it:
 *
 * - **Commits.** A transaction's log blocks are written at the log head; then, under virtio-blk
 *   (no FUA), the commit record arrives as FLUSH, WRITE, FLUSH — a write that continues the
 *   log exactly where the previous flush epoch's write ended, alone between two flushes. (With
 *   FUA the commit is a continuing write with FUA.) A data stream rarely shows this: its next
 *   write is followed by the journal's writes, not by a flush.
 * - **One head, written once per pass.** Inside the journal every write lands at the head (or,
 *   after a wrap or for a journal superblock update, at the region's first blocks); nothing is
 *   rewritten behind the head, nothing is read back while mounted. A data area that happened to
 *   look like a log sees overwrites and reads scattered inside it.
 *
 * The detector follows sequential write streams (a write starting where an earlier write of the
 * stream ended, other I/O interleaved). A stream that earns `confirmCommits` commits becomes a
 * journal *region*, with a head. From then on a write is a journal write when it starts at a
 * head (the head moves to its end) or up to 64 KiB past one (requests arriving out of order), or
 * in the region's first 8 KiB (the superblock, or the log restarting after a wrap: its end
 * becomes another head; a region keeps 4). A write
 * elsewhere inside the region, or a read inside it past those first blocks, is *disorder*:
 * classed `other`, and at `maxDisorder` the region is dropped (it was data). A stream growing
 * into a region's start joins it (a journal learned mid-pass, wrapping). Regions are kept across
 * remounts, so a later boot's journal is recognised from its first write.
 *
 * Writes before the first commit are classed `other` — the price of deciding online;
 * `pdc-filter eval` measures it (and {@linkcode classifyTwoPass} shows what hindsight would add).
 *
 * @module
 */
import type { DetectorMethod, JournalDetector } from "./journal_detector.ts";

/** Tunables of the heuristic. */
export interface HeuristicOptions {
  /** Commits a stream needs before it is taken as a journal (default 1). */
  confirmCommits?: number;
  /** Candidate streams remembered per device, oldest dropped first (default 4096). */
  maxStreams?: number;
  /** Out-of-place accesses inside a region before it is dropped as data (default 2). */
  maxDisorder?: number;
}

/** Bytes at a region's start where the journal superblock and a wrapped log head may land. */
const START_ZONE = 8192;
/** Regions kept per device; the most disordered is dropped first. */
const MAX_REGIONS = 8;

interface Stream {
  lo: number;
  hi: number;
  commits: number;
  /** The flush epoch of the stream's latest write. */
  epoch: number;
  /** Written out of place or read inside: not a journal. */
  spoiled: boolean;
}

interface Region {
  lo: number;
  hi: number;
  /**
   * Where the next log write may start: the head, plus the ends of recent writes in the start
   * zone or just ahead of a head (requests can arrive slightly out of order, e.g. a transaction
   * that wraps: its first blocks at the log's start before its last ones at the end).
   */
  heads: number[];
  /** The slot of `heads` to replace next. */
  next: number;
  disorder: number;
}

/** Continuation points kept per region. */
const HEADS = 4;
/** A write this far past a head (arriving before the write that fills the gap) is the log's. */
const AHEAD = 65536;

function addHead(r: Region, at: number): void {
  if (r.heads.includes(at)) return;
  if (r.heads.length < HEADS) r.heads.push(at);
  else {
    r.heads[r.next] = at;
    r.next = (r.next + 1) % HEADS;
  }
}

/** The index of the head `off` continues (at it, or just ahead of it), or -1. */
function headOf(r: Region, off: number): number {
  const h = r.heads;
  for (let k = 0; k < h.length; k++) if (off === h[k]) return k;
  for (let k = 0; k < h.length; k++) if (off > h[k] && off <= h[k] + AHEAD) return k;
  return -1;
}

class DeviceState {
  /** Candidate streams by the offset where their next write would start. */
  tails = new Map<number, Stream>();
  regions: Region[] = [];
  /** Streams with a commit that are not regions yet (confirmCommits > 1): checked for disorder. */
  promising: Stream[] = [];
  epoch = 0;
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
 * d.observe("W", 0, 8192, false); // log blocks: false (not known yet)
 * d.observe("F", 0, 0, false);
 * d.observe("W", 8192, 4096, false); // the commit record, alone between flushes
 * d.observe("F", 0, 0, false);
 * d.observe("W", 12288, 8192, false); // true: the next transaction at the head
 * ```
 */
export class HeuristicDetector implements JournalDetector {
  readonly method: DetectorMethod = "heuristic";
  readonly #confirm: number;
  readonly #maxStreams: number;
  readonly #maxDisorder: number;
  #devs = new Map<string, DeviceState>();
  #last: DeviceState | null = null;
  #lastDev: string | undefined = undefined;

  constructor(opts: HeuristicOptions = {}) {
    this.#confirm = opts.confirmCommits ?? 1;
    this.#maxStreams = opts.maxStreams ?? 4096;
    this.#maxDisorder = opts.maxDisorder ?? 2;
    if (!(this.#confirm >= 1)) throw new RangeError("confirmCommits must be >= 1");
    if (!(this.#maxDisorder >= 1)) throw new RangeError("maxDisorder must be >= 1");
  }

  /** The journal regions learned so far for a device (byte ranges, lowest first). */
  regions(dev = ""): { off: number; len: number }[] {
    return (this.#devs.get(dev)?.regions ?? [])
      .map((r) => ({ off: r.lo, len: r.hi - r.lo }))
      .sort((a, b) => a.off - b.off);
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
      st.epoch++;
      return false;
    }
    const end = off + len;
    if (op === "R" || op === "T") return this.#observeRead(st, op, off, end);
    // A write (W or Z).
    const inRegion = this.#writeNearRegion(st, off, end, fua);
    if (inRegion !== undefined) return inRegion;
    return this.#writeOnStream(st, off, end, fua);
  }

  /** A read or trim: whether it touches a journal region; a read spoils promising streams. */
  #observeRead(st: DeviceState, op: string, off: number, end: number): boolean {
    const regions = st.regions;
    let hit = false;
    for (let i = 0; i < regions.length; i++) {
      const r = regions[i];
      if (off < r.hi && end > r.lo) {
        hit = true;
        if (op === "R" && end > r.lo + START_ZONE && this.#disorder(st, r)) i--;
      }
    }
    if (op === "R") spoilOverlapping(st.promising, off, end);
    return hit;
  }

  /** A write at or near a known region: journal (true), out of place in it (false), or not near any. */
  #writeNearRegion(st: DeviceState, off: number, end: number, fua: boolean): boolean | undefined {
    const regions = st.regions;
    for (let i = 0; i < regions.length; i++) {
      const r = regions[i];
      if (off < r.lo - AHEAD || off > r.hi + AHEAD) continue;
      const k = headOf(r, off);
      if (k >= 0) {
        if (off === r.heads[k]) r.heads[k] = end;
        else addHead(r, end);
        if (end > r.hi) r.hi = end;
        this.#afterWrite(st, null, fua);
        return true;
      }
      if (off >= r.lo && off < r.lo + START_ZONE) {
        addHead(r, end);
        this.#afterWrite(st, null, fua);
        return true;
      }
      if (off >= r.lo && off < r.hi) {
        if (this.#disorder(st, r)) i--;
        this.#afterWrite(st, null, fua);
        return false;
      }
    }
    return undefined;
  }

  /** A write elsewhere: starts or extends a sequential stream, which may join a region or commit. */
  #writeOnStream(st: DeviceState, off: number, end: number, fua: boolean): boolean {
    const tails = st.tails;
    let s = tails.get(off);
    let continues = true;
    if (s === undefined) {
      continues = false;
      s = { lo: off, hi: end, commits: 0, epoch: st.epoch, spoiled: false };
      tails.set(end, s);
      if (tails.size > this.#maxStreams) tails.delete(tails.keys().next().value as number);
      spoilOverlapping(st.promising, off, end);
    } else {
      tails.delete(off);
      s.hi = end;
      tails.set(end, s);
    }
    // A stream that grows into a region's start joins it (a journal learned mid-pass, wrapping).
    for (const r of st.regions) {
      if (r.lo === end && !s.spoiled) {
        r.lo = Math.min(r.lo, s.lo);
        addHead(r, end);
        tails.delete(end);
        this.#afterWrite(st, null, fua);
        return true;
      }
    }
    const commitLike = continues && !s.spoiled &&
      (fua || (st.prevWasFlush && s.epoch === st.epoch - 1));
    s.epoch = st.epoch;
    if (commitLike && fua) {
      this.#credit(st, s);
      this.#afterWrite(st, null, fua);
    } else this.#afterWrite(st, commitLike ? s : null, fua);
    return false;
  }

  /** Counts an out-of-place access in `r`; drops it at the limit (returns true then). */
  #disorder(st: DeviceState, r: Region): boolean {
    if (++r.disorder < this.#maxDisorder) return false;
    st.regions.splice(st.regions.indexOf(r), 1);
    return true;
  }

  #afterWrite(st: DeviceState, pending: Stream | null, _fua: boolean): void {
    st.pendingCommit = pending;
    st.prevWasFlush = false;
  }

  #credit(st: DeviceState, s: Stream): void {
    s.commits++;
    if (s.spoiled) return;
    if (s.commits >= this.#confirm) {
      if (st.tails.get(s.hi) === s) st.tails.delete(s.hi);
      const i = st.promising.indexOf(s);
      if (i >= 0) st.promising.splice(i, 1);
      if (st.regions.length >= MAX_REGIONS) {
        let worst = 0;
        for (let k = 1; k < st.regions.length; k++) {
          if (st.regions[k].disorder > st.regions[worst].disorder) worst = k;
        }
        st.regions.splice(worst, 1);
      }
      st.regions.push({ lo: s.lo, hi: s.hi, heads: [s.hi], next: 0, disorder: 0 });
    } else if (s.commits === 1) {
      st.promising.push(s);
      if (st.promising.length > 16) st.promising.shift();
    }
  }
}

/** Marks the streams that overlap [off, end) spoiled: they cannot be a journal. */
function spoilOverlapping(
  streams: { lo: number; hi: number; spoiled: boolean }[],
  off: number,
  end: number,
): void {
  for (const p of streams) if (off < p.hi && end > p.lo) p.spoiled = true;
}
