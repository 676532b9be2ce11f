/**
 * The host side of bench/pdc over every policy and size at once: replays the streams the
 * admit-all legs recorded (`main.ts --out DIR` keeps them) through each policy at 0.5x, 1x and
 * 2x the working set, without PDC, with the exact journal ranges, with the online heuristic
 * and with the refinements (checkpoint writes kept out too, demotion instead of refusal, both),
 * and prints the read hit ratios (median over the streams, range beside) and what the
 * streams hold (journal share of written blocks, reads, distinct blocks read): the reasons
 * PDC helps or not. The guest's request stream hardly depends on the host cache (only its
 * timing does), so one stream serves every cell.
 *
 *   deno run -A bench/pdc/replay.ts DIR [--policies lru,arc,s3fifo,qbic] [--sizes 0.5,1,2]
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { IoRecord } from "../../lib/trace/io_record.ts";
import type { ByteRange } from "../../lib/pdc/byte_range.ts";
import { formatTable } from "../../lib/cli/table.ts";
import { median } from "../thread_cpu.ts";
import { guestWorkloads } from "./workloads.ts";
import {
  BS,
  imageMaps,
  journalFootprint,
  readTrace,
  REPLAY_MODES,
  replayReadHit,
  waitsAfter,
} from "./host_side.ts";

/** What a stream holds: journal and other written blocks, read blocks, distinct blocks read. */
function profile(records: IoRecord[], ranges: ByteRange[], metadata: ByteRange[]) {
  let journalW = 0, otherW = 0, metaW = 0, reads = 0, flushes = 0;
  const readSet = new Set<number>();
  const inJournal = (off: number) => ranges.some((j) => off >= j.off && off < j.off + j.len);
  const inMeta = (off: number) => metadata.some((j) => off >= j.off && off < j.off + j.len);
  for (const r of records) {
    if (r.op === "F") flushes++;
    if (r.len === 0) continue;
    const n = Math.ceil((r.off + r.len) / BS) - Math.floor(r.off / BS);
    if (r.op === "W" || r.op === "Z") {
      if (inJournal(r.off)) journalW += n;
      else otherW += n;
      if (inMeta(r.off)) metaW += n;
    } else if (r.op === "R") {
      reads += n;
      for (let b = Math.floor(r.off / BS); b < Math.ceil((r.off + r.len) / BS); b++) readSet.add(b);
    }
  }
  return { journalW, otherW, metaW, reads, distinctRead: readSet.size, flushes };
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: { policies: { type: "string" }, sizes: { type: "string" } },
  });
  const dir = positionals[0];
  if (!dir) {
    console.error("usage: replay.ts DIR [--policies lru,arc,s3fifo,qbic] [--sizes 0.5,1,2]");
    Deno.exit(2);
  }
  const policies = (values.policies ?? "lru,arc,s3fifo,qbic").split(",");
  const factors = (values.sizes ?? "0.5,1,2").split(",").map(Number);
  const rows: string[][] = [];
  const prof: string[][] = [];
  const foot: string[][] = [];
  const waits: string[][] = [];
  for (const w of guestWorkloads()) {
    const template = `${dir}/${w.name}.template.img`;
    try {
      Deno.statSync(template);
    } catch {
      continue;
    }
    const maps = await imageMaps(template);
    const ranges = maps.journal;
    // Every leg's stream (every admission): where the guest waited.
    for (
      const t of [...Deno.readDirSync(dir)].map((e) => e.name)
        .filter((n) => n.startsWith(`${w.name}-`) && n.endsWith(".jsonl")).sort()
    ) {
      const x = waitsAfter(readTrace(await Deno.readTextFile(`${dir}/${t}`)));
      waits.push([
        t.replace(/\.jsonl$/, ""),
        x.spanS.toFixed(0),
        String(x.flushes),
        x.flushMedianMs.toFixed(1),
        x.flushTotalS.toFixed(1),
        x.writeMedianMs.toFixed(1),
        x.writeTotalS.toFixed(1),
      ]);
    }
    const traces = [...Deno.readDirSync(dir)].map((e) => e.name)
      .filter((n) => n.startsWith(`${w.name}-`) && /-all-\d+\.jsonl$/.test(n)).sort();
    const streams = await Promise.all(
      traces.map(async (t) => readTrace(await Deno.readTextFile(`${dir}/${t}`))),
    );
    if (streams.length === 0) continue;
    const ps = streams.map((s) => profile(s, ranges, maps.metadata));
    const m = (f: (p: ReturnType<typeof profile>) => number) => median(ps.map(f));
    prof.push([
      w.name,
      String(streams.length),
      String(m((p) => p.journalW)),
      String(m((p) => p.otherW)),
      String(m((p) => p.metaW)),
      (m((p) => p.journalW / Math.max(1, p.journalW + p.otherW))).toFixed(3),
      String(m((p) => p.flushes)),
      String(m((p) => p.reads)),
      String(m((p) => p.distinctRead)),
      String(w.workingSetBytes / BS),
    ]);
    for (const policy of policies) {
      for (const f of factors) {
        const blocks = Math.max(1, Math.round(w.workingSetBytes * f / BS));
        const cells = REPLAY_MODES.map((m) =>
          streams.map((s) => replayReadHit(s, policy, blocks, m, maps))
        );
        const none = cells[0], exact = cells[1];
        const gains = none.map((v, i) => v > 0 ? exact[i] / v - 1 : 0);
        const show = (xs: number[]) =>
          xs.length > 1
            ? `${median(xs).toFixed(4)} (${Math.min(...xs).toFixed(4)}-${
              Math.max(...xs).toFixed(4)
            })`
            : xs[0].toFixed(4);
        const fp = streams.map((s) => journalFootprint(s, policy, blocks, maps));
        const fm = (f: (x: (typeof fp)[0]) => number) => median(fp.map(f)).toFixed(3);
        foot.push([
          w.name,
          policy,
          `${f}x (${blocks})`,
          fm((x) => x.admittedShare),
          fm((x) => x.journalEvictionShare),
          fm((x) => x.otherEvictionsPerJournalWrite),
        ]);
        rows.push([
          w.name,
          policy,
          `${f}x (${blocks})`,
          ...cells.map(show),
          `${(median(gains) * 100).toFixed(1)}%`,
        ]);
      }
    }
  }
  console.log(
    formatTable(
      [
        "workload",
        "streams",
        "journal W blocks",
        "other W blocks",
        "of which metadata",
        "journal share",
        "flushes",
        "R blocks",
        "distinct R",
        "working set",
      ],
      prof,
      "text",
    ).trimEnd(),
  );
  console.log();
  console.log(
    formatTable(
      ["workload", "policy", "cache (blocks)", ...REPLAY_MODES, "exact gain"],
      rows,
      "text",
    ).trimEnd(),
  );
  console.log();
  console.log(
    formatTable(
      [
        "workload",
        "policy",
        "cache (blocks)",
        "journal writes admitted",
        "evictions of journal",
        "other evictions per journal write",
      ],
      foot,
      "text",
    ).trimEnd(),
  );
  console.log();
  console.log(
    formatTable(
      [
        "leg",
        "span s",
        "flushes",
        "after F median ms",
        "after F total s",
        "after W median ms",
        "after W total s",
      ],
      waits,
      "text",
    ).trimEnd(),
  );
}
