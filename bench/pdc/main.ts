/**
 * bench/pdc: what keeping the guest's journal out of the host cache buys, on real ext4 guest
 * traces. For each trace, policy and cache size it simulates (lib/cache/simulate.ts) the cache
 * without PDC (the peer: admit everything) and with PDC (exact ranges from `locate`, and the
 * online heuristic), and prints hit ratios, device writes and the PDC / no-PDC ratio. It also
 * scores the heuristic against the exact ranges and measures classify throughput on the binary
 * trace form.
 *
 *   deno run -A bench/pdc/main.ts --quick     # fixtures/pdc slices, seconds
 *   deno run -A bench/pdc/main.ts             # records fresh guest traces first (~1 min)
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
import { recordGuestTraces } from "./record_guest.ts";

const BS = 4096;
const POLICIES = ["lru", "2q", "arc", "s3fifo", "qbic"];

interface Trace {
  name: string;
  records: IoRecord[];
}

function readTrace(name: string, text: string): Trace {
  const records: IoRecord[] = [];
  let n = 0;
  for (const line of text.split("\n")) {
    n++;
    if (line.trim() !== "") records.push(parseRecordLine(line, n));
  }
  return { name, records };
}

/** Tags records with the heuristic, online and in order (flushes included). */
function heuristicTags(records: IoRecord[]): IoRecord[] {
  const d = new HeuristicDetector();
  return records.map((r) => ({
    ...r,
    class: d.observe(r.op, r.off, r.len, r.fua === true, r.dev) ? "journal" : "other",
  }));
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
    : pdcAdmission(new ExactDetector(mode === "exact" ? ranges : []));
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

async function classifyThroughput(records: IoRecord[], ranges: ByteRange[], target: number) {
  // Repeat the trace (shifting time) into a binary file of ~target records, then time decoding
  // plus detection per chunk.
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
    const out = { heuristic: 0, image: 0 };
    for (const method of ["heuristic", "image"] as const) {
      const d = method === "image" ? new ExactDetector(ranges) : new HeuristicDetector();
      const ops = ["R", "W", "F", "T", "Z"];
      const file = await Deno.open(path, { read: true });
      let count = 0, journal = 0;
      const t0 = performance.now();
      for await (const c of readBinaryChunks(file.readable)) {
        for (let i = 0; i < c.count; i++) {
          if (d.observe(ops[c.op[i]], c.off[i], c.len[i], (c.flags[i] & 1) === 1)) {
            c.flags[i] = (c.flags[i] & ~0x1c) | (1 << 2);
            journal++;
          } else c.flags[i] = (c.flags[i] & ~0x1c) | (4 << 2);
        }
        count += c.count;
      }
      const s = (performance.now() - t0) / 1000;
      out[method] = count / s;
      if (journal === 0) throw new Error("no journal records found in the throughput run");
    }
    return { records: n, ...out };
  } finally {
    await Deno.remove(path);
  }
}

async function main() {
  const quick = Deno.args.includes("--quick");
  const root = new URL("../../", import.meta.url).pathname;
  let traces: Trace[];
  let ranges: ByteRange[];
  if (quick) {
    const fx = `${root}fixtures/pdc`;
    ranges = parseRangesJson(await Deno.readTextFile(`${fx}/ext4_guest_journal.json`));
    const fs = readTrace(
      "fsync-small(slice)",
      await Deno.readTextFile(`${fx}/ext4_guest_fsync_small.jsonl`),
    );
    const mx = readTrace("mixed", await Deno.readTextFile(`${fx}/ext4_guest_mixed.jsonl`));
    traces = [fs, mx, { name: "fsync-small+mixed", records: [...fs.records, ...mx.records] }];
  } else {
    const dir = await Deno.makeTempDir({ prefix: "bench_pdc_" });
    try {
      const paths = await recordGuestTraces(dir, [
        { name: "fsync-small", args: { files: "1000" } },
        { name: "read-hot", args: { passes: "8" } },
        { name: "mixed", args: { ops: "1500" } },
      ]);
      ranges = parseRangesJson(await Deno.readTextFile(`${dir}/journal.json`));
      const t = await Promise.all(
        paths.map(async (p) =>
          readTrace(p.replace(/.*\//, "").replace(".jsonl", ""), await Deno.readTextFile(p))
        ),
      );
      traces = [
        { name: "fsync-small+read-hot", records: [...t[0].records, ...t[1].records] },
        t[2],
        { name: "all three", records: t.flatMap((x) => x.records) },
      ];
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }

  await withRun({}, { tool: "bench", command: "pdc", args: { quick } }, async (run) => {
    const rows: unknown[][] = [];
    for (const t of traces) {
      const tagged = heuristicTags(t.records);
      const ev = new Evaluator(new ExactDetector(ranges), new HeuristicDetector());
      for (const r of t.records) ev.step(r.op, r.off, r.len, r.fua === true, r.dev);
      const e = ev.result();
      console.log(
        `${t.name}: ${t.records.length} records, ${e.journalWrites} journal writes; heuristic ` +
          `write precision ${e.writePrecision.toFixed(4)} recall ${e.writeRecall.toFixed(4)}`,
      );
      run.metric("heuristic_write_precision", e.writePrecision, "ratio", { trace: t.name });
      run.metric("heuristic_write_recall", e.writeRecall, "ratio", { trace: t.name });
      const footprint = new Set<number>();
      for (const r of t.records) {
        if (r.op === "F" || r.len === 0) continue;
        for (let b = Math.floor(r.off / BS); b <= Math.floor((r.off + r.len - 1) / BS); b++) {
          footprint.add(b);
        }
      }
      const sizes = [0.05, 0.1, 0.25, 0.5].map((f) => Math.max(16, Math.round(footprint.size * f)));
      for (const policy of POLICIES) {
        for (const blocks of sizes) {
          const none = simulate(t.records, policy, blocks, "none", ranges);
          const exact = simulate(t.records, policy, blocks, "exact", ranges);
          const heur = simulate(tagged, policy, blocks, "heuristic", ranges);
          const labels = { trace: t.name, policy, cache_blocks: blocks };
          for (
            const [mode, o] of [["none", none], ["exact", exact], ["heuristic", heur]] as const
          ) {
            run.metric("hit_ratio", o.hitRatio, "ratio", { ...labels, pdc: mode });
            run.metric("read_hit_ratio", o.readHitRatio, "ratio", { ...labels, pdc: mode });
            run.metric("device_writes", o.deviceWrites, "blocks", { ...labels, pdc: mode });
          }
          const rel = (a: number, b: number) => (b === 0 ? "-" : (a / b).toFixed(3));
          rows.push([
            t.name,
            policy,
            `${blocks} (${Math.round((blocks / footprint.size) * 100)}%)`,
            none.hitRatio.toFixed(4),
            exact.hitRatio.toFixed(4),
            heur.hitRatio.toFixed(4),
            rel(exact.hitRatio, none.hitRatio),
            none.readHitRatio.toFixed(4),
            exact.readHitRatio.toFixed(4),
            none.deviceWrites,
            exact.deviceWrites,
            rel(exact.deviceWrites, none.deviceWrites),
          ]);
        }
      }
    }
    console.log(formatTable(
      [
        "trace",
        "policy",
        "cache blocks",
        "hit none",
        "hit pdc",
        "hit pdc-heur",
        "pdc/none",
        "read-hit none",
        "read-hit pdc",
        "dev-writes none",
        "dev-writes pdc",
        "pdc/none",
      ],
      rows,
      "markdown",
    ));
    const all = traces[traces.length - 1].records;
    const tp = await classifyThroughput(all, ranges, quick ? 1_000_000 : 6_000_000);
    console.log(
      `classify on the binary form, ${tp.records} records: heuristic ${
        (tp.heuristic / 1e6).toFixed(2)
      } M records/s, ` +
        `exact ${(tp.image / 1e6).toFixed(2)} M records/s (target 5 M/s; heuristic/exact ${
          (tp.heuristic / tp.image).toFixed(2)
        })`,
    );
    run.metric("classify_rate", tp.heuristic, "records/s", { method: "heuristic", form: "binary" });
    run.metric("classify_rate", tp.image, "records/s", { method: "image", form: "binary" });
  });
}

if (import.meta.main) await main();
