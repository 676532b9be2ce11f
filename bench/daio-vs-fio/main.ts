/**
 * bench/daio-vs-fio: fio's io_uring engine (with fixedbufs, registerfiles and batched
 * submit/complete) and daio's engine on the same file with the same jobs, alternating; prints
 * both absolute figures (median over rounds) and daio/fio ratios (median of the per-round ratios,
 * so a burst of other work that hits one side of one round does not move it) and records them in
 * the results store. Each side runs each job with two completion batches (fio's
 * iodepth_batch_complete_min, daio's --iodepth-batch-complete: 1 and iodepth/2; which is faster
 * depends on the load), and each side's better one by median IOPS is compared: fio's best options
 * for that job in that run against daio's. Both sides choose, because picking the higher of two
 * noisy medians lifts a side by a few per cent even where its two batches are equally fast: with
 * one side choosing and the other not, the ratio would measure that selection, not the engines.
 * CPU per I/O (user + system time of the I/O threads over the I/Os done) is printed beside IOPS: on
 * a loaded machine it moves far less between rounds than IOPS does.
 *
 *   deno run -A bench/daio-vs-fio/main.ts --quick          # CI size: 256 MiB, 5 rounds of 0.3 s
 *   deno run -A bench/daio-vs-fio/main.ts                  # 1 GiB, 5 s per run, 3 rounds
 *   deno run -A bench/daio-vs-fio/main.ts --file /dev/vdb  # a real device (reads only if RO)
 *
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import {
  formatTable,
  parseCount,
  parseDuration,
  parseSize,
  runTool,
  withCommonOptions,
  withRun,
} from "../../lib/cli/mod.ts";
import { runDaioJob, type RwPattern } from "../../lib/block/daio_job.ts";
import type { RunRecorder } from "../../lib/results/mod.ts";
import { layOut } from "../../tools/daio/lay_out.ts";
import { benchJob, benchTarget, medianFields, roundRatio } from "../daio_common.ts";

/** One comparison job. */
interface Job {
  name: string;
  rw: RwPattern;
  bs: number;
  iodepth: number;
  /** daio --queues N against fio --numjobs N (each with iodepth in flight). */
  queues?: number;
  /** daio's queues as processes (`--processes`), as fio's jobs are, instead of threads. */
  processes?: boolean;
}

const JOBS: Job[] = [
  { name: "4k-randread-qd1", rw: "randread", bs: 4096, iodepth: 1 },
  { name: "4k-randread-qd32", rw: "randread", bs: 4096, iodepth: 32 },
  { name: "4k-randwrite-qd32", rw: "randwrite", bs: 4096, iodepth: 32 },
  { name: "128k-read-qd8", rw: "read", bs: 131072, iodepth: 8 },
  // Scaling: two queues (two threads, two rings) against fio's two jobs.
  { name: "4k-randread-qd32-x2", rw: "randread", bs: 4096, iodepth: 32, queues: 2 },
  // The same with daio's two queues as two processes, as fio's two jobs are.
  {
    name: "4k-randread-qd32-x2-procs",
    rw: "randread",
    bs: 4096,
    iodepth: 32,
    queues: 2,
    processes: true,
  },
];

/** What one engine measured for one job run. */
interface Sample {
  iops: number;
  bw: number;
  p50: number;
  p99: number;
  p999: number;
  usr: number;
  sys: number;
  /** CPU time (user + system) per I/O, microseconds. */
  cpuUsPerIo: number;
}

/** The completion batches tried for a job, on each side: 1, and iodepth/2 where that is more. */
function completionBatches(job: Job): number[] {
  const half = Math.floor(job.iodepth / 2);
  return half > 1 ? [1, half] : [1];
}

async function runFio(
  file: string,
  job: Job,
  o: { size: number; runtimeSec: number },
  completeMin: number,
): Promise<Sample> {
  const args = [
    "--name=job",
    `--filename=${file}`,
    `--rw=${job.rw}`,
    `--bs=${job.bs}`,
    `--iodepth=${job.iodepth}`,
    "--ioengine=io_uring",
    "--direct=1",
    "--fixedbufs=1",
    "--registerfiles=1",
    `--iodepth_batch_submit=${job.iodepth}`,
    `--iodepth_batch_complete_min=${completeMin}`,
    `--iodepth_batch_complete_max=${job.iodepth}`,
    `--size=${o.size}`,
    // fio takes a unit suffix; the quick rounds are shorter than a second
    `--runtime=${Math.round(o.runtimeSec * 1000)}ms`,
    "--time_based=1",
    "--norandommap=1",
    "--randrepeat=0",
    "--lat_percentiles=1",
    "--clat_percentiles=0",
    "--percentile_list=50:99:99.9",
    "--output-format=json",
  ];
  if ((job.queues ?? 1) > 1) args.push(`--numjobs=${job.queues}`, "--group_reporting");
  const out = await new Deno.Command("fio", { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`fio failed: ${new TextDecoder().decode(out.stderr).split("\n")[0]}`);
  }
  const text = new TextDecoder().decode(out.stdout);
  const j = JSON.parse(text.slice(text.indexOf("{"))).jobs[0];
  const d = job.rw.includes("write") ? j.write : j.read;
  const pct = d.lat_ns.percentile as Record<string, number>;
  return {
    iops: d.iops,
    bw: d.bw_bytes,
    p50: pct["50.000000"],
    p99: pct["99.000000"],
    p999: pct["99.900000"],
    usr: j.usr_cpu / 100,
    sys: j.sys_cpu / 100,
    // group_reporting: usr_cpu/sys_cpu are the jobs' summed CPU time over their summed runtime
    // (job_runtime, ms), getrusage of each job process as daio's is of each queue thread
    cpuUsPerIo: (j.usr_cpu + j.sys_cpu) / 100 * j.job_runtime * 1000 / Math.max(d.total_ios, 1),
  };
}

async function runDaio(
  file: string,
  job: Job,
  o: { size: number; runtimeSec: number },
  batchComplete: number,
): Promise<Sample> {
  const r = await runDaioJob(file, {
    ...benchJob({
      rw: job.rw,
      rwmixread: 50,
      bs: job.bs,
      iodepth: job.iodepth,
      queues: job.queues ?? 1,
      size: o.size,
      runtime: o.runtimeSec,
    }),
    batchComplete,
    processes: job.processes,
  });
  const d = job.rw.includes("write") ? r.write : r.read;
  return {
    iops: d.iops,
    bw: d.bw,
    p50: d.lat.percentile(50),
    p99: d.lat.percentile(99),
    p999: d.lat.percentile(99.9),
    usr: r.cpuUsr,
    sys: r.cpuSys,
    cpuUsPerIo: (r.cpuUsr + r.cpuSys) * r.elapsedSec * 1e6 / Math.max(r.total.ios, 1),
  };
}

const program = withCommonOptions(
  new Command("daio-vs-fio")
    .description("fio io_uring vs daio on the same file and jobs, alternating")
    .option("--quick", "CI size: 256 MiB file, 0.3 s per run, 5 rounds", false)
    .option("--file <path>", "target file or device (default: .cache/daio-vs-fio.img)")
    .option("--size <size>", "bytes of the target to use", parseSize)
    .option("--runtime <duration>", "per run", parseDuration)
    .option("--rounds <n>", "alternating rounds per job (median reported)", parseCount)
    .option("--jobs <names>", "comma-separated subset of the jobs"),
).action(async (opts) => {
  const size = opts.size ?? (opts.quick ? 256 << 20 : 1 << 30);
  const runtimeSec = (opts.runtime ?? (opts.quick ? 300 : 5000)) / 1000;
  const rounds = opts.rounds ?? (opts.quick ? 5 : 3);
  const file = await benchTarget("daio-vs-fio", opts.file);
  const jobs = opts.jobs ? JOBS.filter((j) => opts.jobs!.split(",").includes(j.name)) : JOBS;
  // quick: the regression check compares runs of the same size (args.quick) only.
  const args = { quick: opts.quick, size, runtimeSec, rounds, file, jobs: jobs.map((j) => j.name) };
  await withRun(opts, { tool: "bench", command: "daio-vs-fio", args }, async (run) => {
    await layOut(file, size, opts.quiet);
    const results: JobResult[] = [];
    for (const job of jobs) {
      const m = await measureJob(file, job, { size, runtimeSec, rounds }, opts.quiet);
      results.push(recordJob(run, job, m));
    }
    if (opts.output === "json") {
      const out = results.map((r) => ({
        job: r.job.name,
        fio: r.fio,
        daio: r.daio,
        iops_ratio: r.iopsRatio,
        iops_ratio_rounds: r.iopsRatioRounds,
        p99_ratio: r.p99Ratio,
        fio_batch_complete: r.fioBatch,
        fio_iops_by_batch: r.fioIopsByBatch,
        daio_batch_complete: r.daioBatch,
        daio_iops_by_batch: r.daioIopsByBatch,
      }));
      console.log(JSON.stringify({ size, runtimeSec, rounds, file, results: out }));
    } else printTable(results);
  });
});

/** What one job measured: each side's samples per completion batch. */
interface Measured {
  batches: number[];
  fios: Sample[][];
  daios: Sample[][];
}

/** fio and daio, each with each completion batch, on one job, `rounds` times, the order reversed each round. */
async function measureJob(
  file: string,
  job: Job,
  o: { size: number; runtimeSec: number; rounds: number },
  quiet: boolean | undefined,
): Promise<Measured> {
  const batches = completionBatches(job);
  const fios: Sample[][] = batches.map(() => []);
  const daios: Sample[][] = batches.map(() => []);
  for (let r = 0; r < o.rounds; r++) {
    // Alternate the order, so no side always meets a warmer device or a quieter machine:
    // fio and daio interleaved (fio b1, daio b1, fio b2, daio b2), reversed every other round.
    const runs = batches.flatMap((_, i) => [["fio", i], ["daio", i]] as const);
    if (r % 2 === 1) runs.reverse();
    for (const [side, i] of runs) {
      if (side === "fio") fios[i].push(await runFio(file, job, o, batches[i]));
      else daios[i].push(await runDaio(file, job, o, batches[i]));
    }
    if (!quiet) console.error(`daio-vs-fio: ${job.name} round ${r + 1}/${o.rounds} done`);
  }
  return { batches, fios, daios };
}

/** One job's medians and ratios. */
interface JobResult {
  job: Job;
  fio: Sample;
  daio: Sample;
  iopsRatio: number;
  /** The per-round daio/fio IOPS ratios (their median is iopsRatio): the spread of this run. */
  iopsRatioRounds: number[];
  p99Ratio: number;
  /** Each side's best completion batch for this job in this run, and each batch's median IOPS. */
  fioBatch: number;
  fioIopsByBatch: Record<number, number>;
  daioBatch: number;
  daioIopsByBatch: Record<number, number>;
}

/** The index of the batch with the higher median IOPS, and each batch's median IOPS. */
function bestBatch(samples: Sample[][]): { best: number; iops: number[] } {
  const iops = samples.map((x) => medianFields(x).iops);
  return { best: iops.reduce((b, x, i) => x > iops[b] ? i : b, 0), iops };
}

/**
 * Records one job's figures (medians over rounds) and its daio/fio ratios, each side with its
 * best batch: the one with the higher median IOPS.
 */
function recordJob(run: RunRecorder, job: Job, m: Measured): JobResult {
  const { batches, fios, daios } = m;
  const bf = bestBatch(fios);
  const bd = bestBatch(daios);
  const fio = fios[bf.best];
  const daio = daios[bd.best];
  const fioBatch = batches[bf.best];
  const daioBatch = batches[bd.best];
  const f = medianFields(fio);
  const d = medianFields(daio);
  // The ratios are medians of the per-round ratios (both sides of a round ran back to back).
  const iopsRatio = roundRatio(daio, fio, (x) => x.iops);
  const iopsRatioRounds = daio.map((x, i) => x.iops / fio[i].iops);
  const p99Ratio = roundRatio(daio, fio, (x) => x.p99);
  for (const [engine, s] of [["fio", f], ["daio", d]] as const) {
    const l = {
      job: job.name,
      engine,
      rw: job.rw,
      bs: job.bs,
      iodepth: job.iodepth,
      batch_complete: engine === "fio" ? fioBatch : daioBatch,
    };
    run.metric("iops", s.iops, "1/s", l);
    run.metric("bw", s.bw, "B/s", l);
    run.metric("lat_p50", s.p50, "ns", l);
    run.metric("lat_p99", s.p99, "ns", l);
    run.metric("lat_p99_9", s.p999, "ns", l);
    run.metric("cpu_usr", s.usr, "cores", l);
    run.metric("cpu_sys", s.sys, "cores", l);
    run.metric("cpu_per_io", s.cpuUsPerIo * 1000, "ns", l);
  }
  const peer = { job: job.name, ratio: "daio/fio", peer: "fio" };
  run.metric("iops_ratio", iopsRatio, "daio/fio", {
    ...peer,
    better: "higher",
    // a new row (queues scaling) is listed until its spread over quick runs is known
    ...(job.queues ? { gate: "report" } : {}),
  });
  // gate "report": a tail ratio of short runs on a shared machine is listed, never fails the check
  run.metric("p99_ratio", p99Ratio, "daio/fio", {
    ...peer,
    better: "lower",
    gate: "report",
  });
  const byBatch = (iops: number[]) => Object.fromEntries(batches.map((b, i) => [b, iops[i]]));
  return {
    job,
    fio: f,
    daio: d,
    iopsRatio,
    iopsRatioRounds,
    p99Ratio,
    fioBatch,
    fioIopsByBatch: byBatch(bf.iops),
    daioBatch,
    daioIopsByBatch: byBatch(bd.iops),
  };
}

function printTable(results: JobResult[]): void {
  const us = (ns: number) => (ns / 1000).toFixed(1);
  const rows = results.map((r) => [
    r.job.name,
    r.fioBatch,
    r.daioBatch,
    Math.round(r.fio.iops),
    Math.round(r.daio.iops),
    r.iopsRatio.toFixed(3),
    `${Math.min(...r.iopsRatioRounds).toFixed(2)}-${Math.max(...r.iopsRatioRounds).toFixed(2)}`,
    r.fio.cpuUsPerIo.toFixed(2),
    r.daio.cpuUsPerIo.toFixed(2),
    us(r.fio.p50),
    us(r.daio.p50),
    us(r.fio.p99),
    us(r.daio.p99),
    r.p99Ratio.toFixed(3),
  ]);
  console.log(
    formatTable(
      [
        "job",
        "fio batch",
        "daio batch",
        "fio IOPS",
        "daio IOPS",
        "IOPS daio/fio",
        "rounds min-max",
        "fio cpu us/IO",
        "daio cpu us/IO",
        "fio p50 us",
        "daio p50 us",
        "fio p99 us",
        "daio p99 us",
        "p99 daio/fio",
      ],
      rows,
      "text",
    ),
  );
}

if (import.meta.main) await runTool(program);
