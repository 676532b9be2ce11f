/**
 * The host side of bench/pdc: the journal and fixed-metadata maps of the guest's image, and the
 * read hit ratio of a policy at a size replayed over a recorded stream without PDC or with one
 * of its variants (the same Simulator and filters `qbic-cache serve` drives live).
 *
 * @module
 */
import { parseRecordLine } from "../../lib/trace/jsonl.ts";
import type { IoRecord } from "../../lib/trace/io_record.ts";
import { Simulator } from "../../lib/cache/simulate.ts";
import { createPolicy } from "../../lib/cache/registry.ts";
import { pdcAdmission } from "../../lib/cache/pdc_admission.ts";
import { admitAll } from "../../lib/cache/policy.ts";
import { ExactDetector } from "../../lib/pdc/journal_detector.ts";
import { HeuristicDetector } from "../../lib/pdc/heuristic_detector.ts";
import { locateJournalInFile } from "../../lib/pdc/locate.ts";
import { locateExt4MetadataInFile } from "../../lib/pdc/ext4_metadata.ts";
import type { ByteRange } from "../../lib/pdc/byte_range.ts";

/** Block size of serve's cache in the bench. */
export const BS = 4096;

/** Replay modes: no PDC, then PDC's variants (the live variant `pdc-X` replays as `X`). */
export const REPLAY_MODES = [
  "none",
  "exact",
  "heuristic",
  "checkpoint",
  "demote",
  "checkpoint-demote",
] as const;
export type ReplayMode = typeof REPLAY_MODES[number];

/** The admission variants a live leg can run, and the serve options of each. */
export const VARIANTS: Record<string, { args: string[]; replay: ReplayMode }> = {
  all: { args: ["--admit", "all"], replay: "none" },
  pdc: { args: ["--admit", "pdc", "--pdc-journal", "exact"], replay: "exact" },
  "pdc-heuristic": { args: ["--admit", "pdc", "--pdc-journal", "heuristic"], replay: "heuristic" },
  "pdc-checkpoint": {
    args: ["--admit", "pdc", "--pdc-journal", "exact", "--pdc-checkpoint"],
    replay: "checkpoint",
  },
  "pdc-demote": {
    args: ["--admit", "pdc", "--pdc-journal", "exact", "--pdc-demote"],
    replay: "demote",
  },
  "pdc-checkpoint-demote": {
    args: ["--admit", "pdc", "--pdc-journal", "exact", "--pdc-checkpoint", "--pdc-demote"],
    replay: "checkpoint-demote",
  },
};

/** Where the journal and the fixed metadata are in an image. */
export interface ImageMaps {
  journal: ByteRange[];
  metadata: ByteRange[];
}

/** Locates both maps in an ext4 image. */
export async function imageMaps(path: string): Promise<ImageMaps> {
  return {
    journal: (await locateJournalInFile(path)).ranges,
    metadata: (await locateExt4MetadataInFile(path)).ranges,
  };
}

/** Parses a recorded stream (JSON lines). */
export function readTrace(text: string): IoRecord[] {
  const out: IoRecord[] = [];
  let n = 0;
  for (const line of text.split("\n")) {
    n++;
    if (line.trim() !== "") out.push(parseRecordLine(line, n));
  }
  return out;
}

/** The read hit ratio of `policy` at `blocks` over `records` with admission `mode`. */
export function replayReadHit(
  records: IoRecord[],
  policy: string,
  blocks: number,
  mode: ReplayMode,
  maps: ImageMaps,
): number {
  const cp = mode === "checkpoint" || mode === "checkpoint-demote";
  const admission = mode === "none" ? admitAll : pdcAdmission(
    mode === "heuristic" ? new HeuristicDetector() : new ExactDetector(maps.journal),
    { checkpoint: cp ? maps.metadata : undefined, demote: mode.endsWith("demote") },
  );
  const sim = new Simulator(createPolicy(policy, blocks), BS, admission);
  for (const r of records) sim.step(r);
  const res = sim.result();
  return res.reads.blocks ? res.reads.hits / res.reads.blocks : 0;
}

/** What the journal does inside a policy without PDC: the reasons PDC helps it or not. */
export interface JournalFootprint {
  /** Journal block writes. */
  journalWrites: number;
  /** Of them, the share the policy made resident (QBic's first touch only counts a block). */
  admittedShare: number;
  /** Share of all evictions that evicted a journal block (it went first, as PDC would want). */
  journalEvictionShare: number;
  /** Evictions of other blocks per journal block write: the pollution PDC removes. */
  otherEvictionsPerJournalWrite: number;
}

/** Replays `records` through `policy` at `blocks` with no PDC and watches the journal blocks. */
export function journalFootprint(
  records: IoRecord[],
  policy: string,
  blocks: number,
  maps: ImageMaps,
): JournalFootprint {
  const p = createPolicy(policy, blocks);
  const jFirst = maps.journal.map((r) => [r.off / BS, (r.off + r.len) / BS]);
  const isJ = (b: number) => jFirst.some(([a, z]) => b >= a && b < z);
  let jEvict = 0, otherEvict = 0, jWrites = 0, jAdmitted = 0;
  p.onEvict = (b) => isJ(b) ? jEvict++ : otherEvict++;
  let otherEvictDuringJ = 0;
  for (const r of records) {
    if (r.op === "F" || r.len === 0) continue;
    const first = Math.floor(r.off / BS), last = Math.floor((r.off + r.len - 1) / BS);
    for (let b = first; b <= last; b++) {
      if (r.op === "T") {
        p.remove(b);
        continue;
      }
      const journal = isJ(b);
      const before = otherEvict;
      p.access(b, r.op !== "R");
      if (journal && r.op !== "R") {
        jWrites++;
        if (p.has(b)) jAdmitted++;
        otherEvictDuringJ += otherEvict - before;
      }
    }
  }
  const ev = jEvict + otherEvict;
  return {
    journalWrites: jWrites,
    admittedShare: jWrites ? jAdmitted / jWrites : 0,
    journalEvictionShare: ev ? jEvict / ev : 0,
    otherEvictionsPerJournalWrite: jWrites ? otherEvictDuringJ / jWrites : 0,
  };
}

/**
 * How long the guest waited after its writes and flushes, read from a recorded stream's arrival
 * times: the gap from each W or F to the next request's arrival (the request's own service time
 * plus the guest's time before its next request). A synchronous guest (fsync) sends nothing
 * until its FLUSH completes, so these gaps show where its time went.
 */
export function waitsAfter(records: IoRecord[]) {
  const gaps: Record<"F" | "W", number[]> = { F: [], W: [] };
  for (let i = 0; i + 1 < records.length; i++) {
    const op = records[i].op;
    if (op === "F" || op === "W") gaps[op].push((records[i + 1].ts - records[i].ts) / 1e6);
  }
  const med = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length ? s[Math.floor(s.length / 2)] : 0;
  };
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / 1e3;
  return {
    flushes: gaps.F.length,
    flushMedianMs: med(gaps.F),
    flushTotalS: sum(gaps.F),
    writeMedianMs: med(gaps.W),
    writeTotalS: sum(gaps.W),
    spanS: records.length > 1 ? (records[records.length - 1].ts - records[0].ts) / 1e9 : 0,
  };
}
