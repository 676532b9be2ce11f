/**
 * bench/daio-bridge: what the async bridge costs. 4 KiB random reads through
 * `openFileDevice(...).read` (the BlockDevice the NBD server sits on), with QD callers each
 * awaiting one read at a time, against the C job runner (`daio bench`'s loop, no FFI per
 * request) on the same file in the same run. Prints both and the ratio bridge/C, and records
 * them in the results store.
 *
 *   deno run -A bench/daio-bridge/main.ts --quick     # CI size: 256 MiB, 5 rounds of 0.4 s
 *   deno run -A bench/daio-bridge/main.ts             # 512 MiB, 3 s per run, 3 rounds
 *
 * @module
 */
import process from "node:process";
import { Command } from "@commander-js/extra-typings";
import {
  formatTable,
  parseCount,
  parseDuration,
  parseSize,
  parseSizeList,
  runTool,
  UsageError,
  withCommonOptions,
  withRun,
} from "../../lib/cli/mod.ts";
import { runDaioJob } from "../../lib/block/daio_job.ts";
import { openFileDeviceSync } from "../../lib/block/file_device.ts";
import { Histogram } from "../../lib/stats/histogram.ts";
import { layOut } from "../../tools/daio/lay_out.ts";
import type { RunRecorder } from "../../lib/results/mod.ts";
import { benchJob, benchTarget, medianFields, roundRatio } from "../daio_common.ts";

type Wakeup = "socket" | "ffi";

/** What one side measured for one run. */
interface Sample {
  iops: number;
  p50: number;
  p99: number;
  /** CPU of the whole process, cores (bridge) or of the job's threads (C). */
  cpu: number;
}

async function runC(file: string, qd: number, bs: number, size: number, sec: number) {
  const r = await runDaioJob(
    file,
    benchJob({ rw: "randread", rwmixread: 100, bs, iodepth: qd, queues: 1, size, runtime: sec }),
  );
  return {
    iops: r.read.iops,
    p50: r.read.lat.percentile(50),
    p99: r.read.lat.percentile(99),
    cpu: r.cpuUsr + r.cpuSys,
  };
}

async function runBridge(
  file: string,
  qd: number,
  bs: number,
  size: number,
  sec: number,
  wakeup: Wakeup,
): Promise<Sample> {
  const dev = openFileDeviceSync(file, { readOnly: true, direct: true, queueDepth: qd, wakeup });
  const blocks = Math.floor(Math.min(size, dev.size) / bs);
  const lat = new Histogram();
  let seed = (Date.now() % 1_000_000) * 2654435761 + 1;
  const rand = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 4294967296;
  };
  const u0 = process.cpuUsage();
  const t0 = performance.now();
  const deadline = t0 + sec * 1000;
  let ios = 0;
  const caller = async () => {
    const buf = new Uint8Array(bs);
    for (;;) {
      const s = performance.now();
      if (s >= deadline) return;
      await dev.read(Math.floor(rand() * blocks) * bs, buf);
      lat.record((performance.now() - s) * 1e6);
      ios++;
    }
  };
  try {
    await Promise.all(Array.from({ length: qd }, caller));
  } finally {
    await dev.close();
  }
  const elapsed = (performance.now() - t0) / 1000;
  const u = process.cpuUsage(u0);
  return {
    iops: ios / elapsed,
    p50: lat.percentile(50),
    p99: lat.percentile(99),
    cpu: (u.user + u.system) / 1e6 / elapsed,
  };
}

const program = withCommonOptions(
  new Command("daio-bridge")
    .description("the BlockDevice bridge (openFileDevice) vs the C job runner, 4K random reads")
    .option("--quick", "CI size: 256 MiB file, 0.4 s per run, 5 rounds", false)
    .option("--file <path>", "target file or device (default: .cache/daio-bridge.img)")
    .option("--size <size>", "bytes of the target to use", parseSize)
    .option("--bs <size>", "block size", parseSize, 4096)
    .option("--iodepth <list>", "queue depths (callers in flight)", parseSizeList, [1, 32])
    .option("--runtime <duration>", "per run", parseDuration)
    .option("--rounds <n>", "alternating rounds per depth (median reported)", parseCount)
    .option(
      "--wakeup <list>",
      "bridge wakeups to measure, comma-separated: socket (the default), ffi (the fallback)",
      "socket,ffi",
    ),
).action(async (opts) => {
  const size = opts.size ?? (opts.quick ? 256 << 20 : 512 << 20);
  const sec = (opts.runtime ?? (opts.quick ? 400 : 3000)) / 1000;
  const rounds = opts.rounds ?? (opts.quick ? 5 : 3);
  const wakeups = opts.wakeup.split(",").filter((w) => w !== "") as Wakeup[];
  for (const w of wakeups) {
    if (w !== "socket" && w !== "ffi") throw new UsageError(`--wakeup: not socket or ffi: ${w}`);
  }
  const file = await benchTarget("daio-bridge", opts.file);
  // quick: the regression check compares runs of the same size (args.quick) only.
  const args = {
    quick: opts.quick,
    size,
    runtimeSec: sec,
    rounds,
    file,
    bs: opts.bs,
    iodepth: opts.iodepth,
    wakeup: wakeups,
  };
  await withRun(opts, { tool: "bench", command: "daio-bridge", args }, async (run) => {
    await layOut(file, size, opts.quiet);
    const rows: unknown[][] = [];
    const out: Record<string, unknown>[] = [];
    for (const qd of opts.iodepth) {
      const m = await measureDepth(
        file,
        qd,
        wakeups,
        { bs: opts.bs, size, sec, rounds },
        opts.quiet,
      );
      const r = reportDepth(run, qd, opts.bs, m);
      rows.push(...r.rows);
      out.push(...r.out);
    }
    if (opts.output === "json") {
      console.log(JSON.stringify({ size, runtimeSec: sec, rounds, file, results: out }));
    } else {
      console.log(formatTable(
        ["job", "side", "IOPS", "IOPS / C", "p50 us", "p99 us", "cpu"],
        rows,
        "text",
      ));
    }
  });
});

/** The C runner and the bridge (each wakeup) at one depth, `rounds` times, order rotated. */
async function measureDepth(
  file: string,
  qd: number,
  wakeups: Wakeup[],
  o: { bs: number; size: number; sec: number; rounds: number },
  quiet: boolean | undefined,
): Promise<{ c: Sample[]; b: Map<Wakeup, Sample[]> }> {
  const c: Sample[] = [];
  const b = new Map<Wakeup, Sample[]>(wakeups.map((w) => [w, []]));
  for (let r = 0; r < o.rounds; r++) {
    // Rotate the order each round, so no side always meets a warmer (or busier) machine.
    const sides: (Wakeup | "c")[] = ["c", ...wakeups];
    for (let k = 0; k < r % sides.length; k++) sides.push(sides.shift()!);
    for (const side of sides) {
      if (side === "c") c.push(await runC(file, qd, o.bs, o.size, o.sec));
      else b.get(side)!.push(await runBridge(file, qd, o.bs, o.size, o.sec, side));
    }
    if (!quiet) console.error(`daio-bridge: qd${qd} round ${r + 1}/${o.rounds} done`);
  }
  return { c, b };
}

/** One depth's figures and bridge/C ratios, recorded; its table rows and JSON results. */
function reportDepth(
  run: RunRecorder,
  qd: number,
  bs: number,
  m: { c: Sample[]; b: Map<Wakeup, Sample[]> },
): { rows: unknown[][]; out: Record<string, unknown>[] } {
  const rows: unknown[][] = [];
  const out: Record<string, unknown>[] = [];
  const cm = medianFields(m.c);
  const job = `${bs / 1024}k-randread-qd${qd}`;
  const us = (ns: number) => (ns / 1000).toFixed(1);
  const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
  const record = (side: string, s: Sample) => {
    const l = { job, side, bs, iodepth: qd };
    run.metric("iops", s.iops, "1/s", l);
    run.metric("lat_p50", s.p50, "ns", l);
    run.metric("lat_p99", s.p99, "ns", l);
    run.metric("cpu_total", s.cpu, "cores", l);
  };
  record("c", cm);
  rows.push([
    job,
    "C job runner",
    Math.round(cm.iops),
    "1.000",
    us(cm.p50),
    us(cm.p99),
    pct(cm.cpu),
  ]);
  for (const [w, bSamples] of m.b) {
    const bm = medianFields(bSamples);
    const side = `bridge-${w}`;
    record(side, bm);
    // Median of the per-round ratios: both sides of a round ran back to back, so a burst of
    // other work that hits one side of one round moves one ratio, not the median.
    const iopsRatio = roundRatio(bSamples, m.c, (x) => x.iops);
    const p99Ratio = roundRatio(bSamples, m.c, (x) => x.p99);
    const peer = { job, side, ratio: "bridge/c", peer: "c" };
    run.metric("iops_ratio", iopsRatio, "bridge/c", { ...peer, better: "higher" });
    // gate "report": a tail ratio of short runs on a shared machine is listed, never fails the check
    run.metric("p99_ratio", p99Ratio, "bridge/c", {
      ...peer,
      better: "lower",
      gate: "report",
    });
    rows.push([
      job,
      `bridge (${w} wakeup)`,
      Math.round(bm.iops),
      iopsRatio.toFixed(3),
      us(bm.p50),
      us(bm.p99),
      pct(bm.cpu),
    ]);
    out.push({ job, side, c: cm, bridge: bm, iops_ratio: iopsRatio, p99_ratio: p99Ratio });
  }
  return { rows, out };
}

if (import.meta.main) await runTool(program);
