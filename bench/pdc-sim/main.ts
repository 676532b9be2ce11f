/**
 * bench/pdc-sim: what keeping the guest's journal out of the host cache buys, on real ext4 guest
 * traces. For each trace, policy and cache size it simulates (lib/cache/simulate.ts) the cache
 * without PDC (the peer: admit everything) and with PDC (exact ranges from `locate`, and the
 * online heuristic, fed every record through the simulator as `qbic-cache sim --admit pdc` does),
 * and prints the read hit ratio (what the guest feels), the overall hit ratio, device writes and
 * the PDC / no-PDC ratios. Cache sizes are multiples of the trace's read working set (distinct
 * blocks read), so the hot set is under pressure at the small ones. It also scores the heuristic
 * against the exact ranges and measures classify throughput on the binary trace form.
 *
 *   deno run -A bench/pdc-sim/main.ts --quick     # fixtures/pdc slices, seconds
 *   deno run -A bench/pdc-sim/main.ts             # records fresh guest traces first (~1-2 min)
 *
 * Device writes model a write-back cache that honours FLUSH (as `qbic-cache serve` must): a
 * dirty block is written when evicted or at the next FLUSH; a bypassed (refused) write goes
 * to the device at once and drops any cached copy. Block size 4 KiB.
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
import { Evaluator } from "../../lib/pdc/evaluate.ts";
import { parseRangesJson } from "../../lib/pdc/ranges_file.ts";
import type { ByteRange } from "../../lib/pdc/byte_range.ts";
import { BinaryTraceWriter, readBinaryChunks } from "../../lib/trace/binary.ts";
import { formatTable } from "../../lib/cli/table.ts";
import { withRun } from "../../lib/cli/with_run.ts";
import type { RunRecorder } from "../../lib/results/mod.ts";
import { recordGuestTraces } from "./record_guest.ts";
import { median, threadCpuSeconds } from "../thread_cpu.ts";

const BS = 4096;
const POLICIES = ["lru", "2q", "arc", "s3fifo", "qbic"];
/** Cache sizes as multiples of the trace's read working set. */
const SIZE_FACTORS = [0.5, 1, 1.25, 1.5, 2, 4];

interface Trace {
  name: string;
  records: IoRecord[];
  /** The exact journal ranges of the image the trace was recorded on. */
  ranges: ByteRange[];
}

function parseTrace(text: string): IoRecord[] {
  const records: IoRecord[] = [];
  let n = 0;
  for (const line of text.split("\n")) {
    n++;
    if (line.trim() !== "") records.push(parseRecordLine(line, n));
  }
  return records;
}

function blocksOf(r: IoRecord, out: Set<number>): void {
  if (r.op === "F" || r.len === 0) return;
  for (let b = Math.floor(r.off / BS); b <= Math.floor((r.off + r.len - 1) / BS); b++) out.add(b);
}

interface Outcome {
  hitRatio: number;
  readHitRatio: number;
  deviceWrites: number;
  bypassed: number;
}

function simulate(
  records: IoRecord[],
  policy: string,
  blocks: number,
  mode: string,
  ranges: ByteRange[],
): Outcome {
  const p = createPolicy(policy, blocks);
  const dirty = new Set<number>();
  let deviceWrites = 0;
  p.onEvict = (b) => {
    if (dirty.delete(b)) deviceWrites++;
  };
  const admission = mode === "none"
    ? admitAll
    : pdcAdmission(mode === "exact" ? new ExactDetector(ranges) : new HeuristicDetector());
  const sim = new Simulator(p, BS, admission);
  for (const r of records) {
    if (r.op === "F") {
      deviceWrites += dirty.size;
      dirty.clear();
    }
    const before = sim.bypassedRequests;
    sim.step(r);
    if ((r.op === "W" || r.op === "Z") && r.len > 0) {
      const first = Math.floor(r.off / BS), last = Math.floor((r.off + r.len - 1) / BS);
      const refused = sim.bypassedRequests > before;
      for (let b = first; b <= last; b++) {
        if (refused) {
          dirty.delete(b);
          deviceWrites++;
        } else if (p.has(b)) dirty.add(b);
        else deviceWrites++;
      }
    }
  }
  deviceWrites += dirty.size;
  const res = sim.result();
  return {
    hitRatio: res.hitRatio,
    readHitRatio: res.reads.blocks ? res.reads.hits / res.reads.blocks : 0,
    deviceWrites,
    bypassed: res.bypassedRequests,
  };
}

async function classifyThroughput(
  records: IoRecord[],
  ranges: ByteRange[],
  target: number,
  rounds: number,
) {
  // Repeat the trace (shifting time) into a binary file of ~target records, then time decoding
  // plus detection per chunk: CPU time of this (the main) thread, so that other processes on a
  // shared machine do not count, in alternating rounds; rates and their ratio are medians over
  // the rounds.
  const path = await Deno.makeTempFile({ suffix: ".hvktrc" });
  try {
    const f = await Deno.open(path, { write: true, truncate: true });
    const w = new BinaryTraceWriter(f.writable);
    let n = 0;
    for (let rep = 0; n < target; rep++) {
      for (const r of records) {
        await w.write({ ...r, ts: r.ts + rep * 1e12 });
        n++;
      }
    }
    await w.close();
    const rate = { heuristic: [] as number[], image: [] as number[] };
    const classify = async (method: "heuristic" | "image") => {
      const d = method === "image" ? new ExactDetector(ranges) : new HeuristicDetector();
      const ops = ["R", "W", "F", "T", "Z"];
      const file = await Deno.open(path, { read: true });
      let count = 0, journal = 0;
      const t0 = threadCpuSeconds();
      for await (const c of readBinaryChunks(file.readable)) {
        for (let i = 0; i < c.count; i++) {
          if (d.observe(ops[c.op[i]], c.off[i], c.len[i], (c.flags[i] & 1) === 1)) {
            c.flags[i] = (c.flags[i] & ~0x1c) | (1 << 2);
            journal++;
          } else c.flags[i] = (c.flags[i] & ~0x1c) | (4 << 2);
        }
        count += c.count;
      }
      rate[method].push(count / (threadCpuSeconds() - t0));
      if (journal === 0) throw new Error("no journal records found in the throughput run");
    };
    // One round to warm up the JIT (the first method run is otherwise compiled while it is timed).
    await classify("heuristic");
    await classify("image");
    rate.heuristic.length = rate.image.length = 0;
    for (let r = 0; r < rounds; r++) {
      // Alternate which method goes first, so neither always meets a warmer page cache.
      const order = r % 2 ? ["image", "heuristic"] as const : ["heuristic", "image"] as const;
      for (const method of order) await classify(method);
    }
    return {
      records: n,
      rounds,
      heuristic: median(rate.heuristic),
      image: median(rate.image),
      ratio: median(rate.heuristic.map((h, i) => h / rate.image[i])),
    };
  } finally {
    await Deno.remove(path);
  }
}

async function loadTraces(quick: boolean): Promise<Trace[]> {
  const root = new URL("../../", import.meta.url).pathname;
  if (quick) {
    const fx = `${root}fixtures/pdc`;
    const ranges = parseRangesJson(await Deno.readTextFile(`${fx}/ext4_guest_journal.json`));
    const fs = parseTrace(await Deno.readTextFile(`${fx}/ext4_guest_fsync_small.jsonl`));
    const mx = parseTrace(await Deno.readTextFile(`${fx}/ext4_guest_mixed.jsonl`));
    const fr = parseTrace(await Deno.readTextFile(`${fx}/ext4_guest_fsync_read.jsonl`));
    const frRanges = parseRangesJson(
      await Deno.readTextFile(`${fx}/ext4_guest_fsync_read_journal.json`),
    );
    return [
      { name: "fsync-small(slice)", records: fs, ranges },
      { name: "mixed", records: mx, ranges },
      { name: "fsync-small+mixed", records: [...fs, ...mx], ranges },
      { name: "fsync-read(slice)", records: fr, ranges: frRanges },
    ];
  }
  const dir = await Deno.makeTempDir({ prefix: "bench_pdc_" });
  try {
    // A fresh seed each run: the heuristic is never scored on a trace it was tuned on.
    const seed = String(1 + Math.floor(Math.random() * 1e6));
    const paths = await recordGuestTraces(dir, [
      { name: "fsync-small", args: { files: "600" } },
      { name: "read-hot", args: { passes: "8" } },
      { name: "mixed", args: { ops: "1500", seed } },
      { name: "fsync-read", args: { files: "500" } },
    ]);
    const ranges = parseRangesJson(await Deno.readTextFile(`${dir}/journal.json`));
    const t = await Promise.all(paths.map(async (p) => parseTrace(await Deno.readTextFile(p))));
    return [
      { name: "fsync-small+read-hot", records: [...t[0], ...t[1]], ranges },
      { name: `mixed(seed=${seed})`, records: t[2], ranges },
      { name: "fsync-read", records: t[3], ranges },
      { name: "all four", records: t.flat(), ranges },
    ];
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function main() {
  const quick = Deno.args.includes("--quick");
  const traces = await loadTraces(quick);
  await withRun({}, { tool: "bench", command: "pdc-sim", args: { quick } }, async (run) => {
    const rows: unknown[][] = [];
    const summary: string[] = [];
    for (const t of traces) {
      const readSet = reportTrace(run, t);
      if (readSet === 0) continue;
      const cells = simulateCells(run, t, readSet);
      rows.push(...cells.rows);
      summary.push(reportGains(run, t.name, cells.gains));
    }
    console.log(formatTable(
      [
        "trace",
        "policy",
        "cache blocks (x read set)",
        "read-hit none",
        "read-hit pdc",
        "read-hit pdc-heur",
        "read gain",
        "hit none",
        "hit pdc",
        "dev-writes none",
        "dev-writes pdc",
        "pdc/none",
      ],
      rows,
      "markdown",
    ));
    for (const line of summary) console.log(line);
    await reportClassify(run, quick, traces[traces.length - 1]);
  });
}

/**
 * What a trace holds (footprint, read working set) and how well the heuristic finds its journal
 * writes, printed and recorded; the size of its read working set in blocks.
 */
function reportTrace(run: RunRecorder, t: Trace): number {
  const ev = new Evaluator(new ExactDetector(t.ranges), new HeuristicDetector());
  for (const r of t.records) ev.step(r.op, r.off, r.len, r.fua === true, r.dev);
  const e = ev.result();
  const footprint = new Set<number>(), readSet = new Set<number>();
  for (const r of t.records) {
    blocksOf(r, footprint);
    if (r.op === "R") blocksOf(r, readSet);
  }
  console.log(
    `${t.name}: ${t.records.length} records, ${e.journalWrites} journal writes, footprint ` +
      `${footprint.size} blocks, read working set ${readSet.size} blocks; heuristic write ` +
      `precision ${e.writePrecision.toFixed(4)} recall ${e.writeRecall.toFixed(4)} ` +
      `(${e.falsePositiveWrites} false+, ${e.journalWrites - e.truePositiveWrites} missed)`,
  );
  run.metric("heuristic_write_precision", e.writePrecision, "ratio", { trace: t.name });
  run.metric("heuristic_write_recall", e.writeRecall, "ratio", { trace: t.name });
  return readSet.size;
}

/**
 * Every policy at every size (a factor of the read working set) without PDC, with exact and
 * with heuristic PDC, recorded; the table rows and each cell's read-hit gain of exact PDC.
 */
function simulateCells(
  run: RunRecorder,
  t: Trace,
  readSet: number,
): { rows: unknown[][]; gains: number[] } {
  const rows: unknown[][] = [];
  const gains: number[] = [];
  for (const policy of POLICIES) {
    for (const f of SIZE_FACTORS) {
      const blocks = Math.max(16, Math.round(readSet * f));
      const none = simulate(t.records, policy, blocks, "none", t.ranges);
      const exact = simulate(t.records, policy, blocks, "exact", t.ranges);
      const heur = simulate(t.records, policy, blocks, "heuristic", t.ranges);
      const labels = { trace: t.name, policy, cache_blocks: blocks, read_set_factor: f };
      for (const [mode, o] of [["none", none], ["exact", exact], ["heuristic", heur]] as const) {
        run.metric("hit_ratio", o.hitRatio, "ratio", { ...labels, pdc: mode });
        run.metric("read_hit_ratio", o.readHitRatio, "ratio", { ...labels, pdc: mode });
        run.metric("device_writes", o.deviceWrites, "blocks", { ...labels, pdc: mode });
      }
      const gain = none.readHitRatio > 0 ? exact.readHitRatio / none.readHitRatio - 1 : 0;
      gains.push(gain);
      run.metric("read_hit_gain", gain, "ratio", labels);
      const rel = (a: number, b: number) => (b === 0 ? "-" : (a / b).toFixed(3));
      rows.push([
        t.name,
        policy,
        `${blocks} (${f}x)`,
        none.readHitRatio.toFixed(4),
        exact.readHitRatio.toFixed(4),
        heur.readHitRatio.toFixed(4),
        `${gain >= 0 ? "+" : ""}${(gain * 100).toFixed(1)}%`,
        none.hitRatio.toFixed(4),
        exact.hitRatio.toFixed(4),
        none.deviceWrites,
        exact.deviceWrites,
        rel(exact.deviceWrites, none.deviceWrites),
      ]);
    }
  }
  return { rows, gains };
}

/** The ratio to the peer (no PDC): the median cell's read hit ratio over none's; a summary line. */
function reportGains(run: RunRecorder, trace: string, gains: number[]): string {
  gains.sort((a, b) => a - b);
  run.metric("read_hit_ratio_vs_none", 1 + gains[gains.length >> 1], "x", {
    trace,
    stat: "median", // over the policies and sizes
    ratio: "exact-pdc/none",
    peer: "none",
    better: "higher",
  });
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  return `${trace}: read-hit gain with exact PDC over ${gains.length} (policy, size) cells: ` +
    `min ${pct(gains[0])}, median ${pct(gains[gains.length >> 1])}, max ${
      pct(gains[gains.length - 1])
    }; cells with a gain >= 3%: ${gains.filter((g) => g >= 0.03).length}`;
}

/** How fast the binary form is classified, heuristic against exact, printed and recorded. */
async function reportClassify(run: RunRecorder, quick: boolean, all: Trace): Promise<void> {
  const tp = quick
    ? await classifyThroughput(all.records, all.ranges, 1_000_000, 5)
    : await classifyThroughput(all.records, all.ranges, 6_000_000, 3);
  console.log(
    `classify on the binary form, ${tp.records} records, median of ${tp.rounds} rounds, per CPU` +
      ` second of the main thread: heuristic ${(tp.heuristic / 1e6).toFixed(2)} M records/s, ` +
      `exact ${(tp.image / 1e6).toFixed(2)} M records/s (target 5 M/s; heuristic/exact ${
        tp.ratio.toFixed(2)
      })`,
  );
  run.metric("classify_rate", tp.heuristic, "records/s", { method: "heuristic", form: "binary" });
  run.metric("classify_rate", tp.image, "records/s", { method: "image", form: "binary" });
  run.metric("classify_rate_ratio", tp.ratio, "x", {
    form: "binary",
    ratio: "heuristic/exact",
    peer: "exact",
    better: "higher",
  });
}

if (import.meta.main) await main();
