/**
 * `daio bench FILE`: one fio-like job in fio's vocabulary, run entirely in C (one thread per
 * queue), reporting IOPS, bandwidth, latency percentiles from an HDR-style histogram and CPU.
 *
 * @module
 */
import { Command, InvalidArgumentError, Option } from "@commander-js/extra-typings";
import {
  addExamples,
  parseCount,
  parseDuration,
  parsePositive,
  parseSize,
  ToolError,
  UsageError,
  withCommonOptions,
  withRun,
} from "../../lib/cli/mod.ts";
import {
  type DaioJob,
  type DaioJobResult,
  ENGINES,
  runDaioJob,
  RW_PATTERNS,
} from "../../lib/block/daio_job.ts";
import { figuresJson, figuresText, recordFigures } from "./report.ts";
import type { Figures } from "./report.ts";
import { layOut } from "./lay_out.ts";
import { isNvmeGenericPath } from "../../lib/block/daio_nvme.ts";
import { parseDirect } from "./parse_direct.ts";
import { MAX_BS, MAX_QUEUE_DEPTH, MAX_QUEUES } from "./limits.ts";
import type { RunRecorder } from "../../lib/results/mod.ts";

function parsePercent(text: string): number {
  const v = parseCount(text);
  if (v > 100) throw new InvalidArgumentError(`not a percentage: ${text}`);
  return v;
}

/** Turns a job's result into the printable figures. */
export function jobFigures(label: string, r: DaioJobResult): Figures {
  return {
    label,
    elapsedSec: r.elapsedSec,
    cpuUsr: r.cpuUsr,
    cpuSys: r.cpuSys,
    read: r.read,
    write: r.write,
  };
}

/** Declares `daio bench`: its argument, options (fio's names) and examples (the action apart). */
function declareBenchCommand() {
  const cmd = withCommonOptions(
    new Command("bench")
      .description(
        "run one fio-like job against FILE (an image file or block device) and report IOPS, " +
          "bandwidth, latency p50/p90/p99/p99.9/max and CPU",
      )
      .argument("[file]", "file or block device (or --filename)")
      .option("--filename <file>", "the target, as fio names it")
      .addOption(
        new Option("--rw <pattern>", "I/O pattern").choices(RW_PATTERNS).default(
          "randread" as const,
        ),
      )
      .option("--rwmixread <percent>", "share of reads in randrw", parsePercent, 50)
      .option("--bs <size>", "block size", parseSize, 4096)
      .option("--iodepth <n>", "requests in flight per queue", parsePositive, 1)
      .option("--queues <n>", "queues (io_uring instances), one thread each", parsePositive, 1)
      .option("--numjobs <n>", "fio's name for --queues", parsePositive)
      .option(
        "--processes",
        "two or more queues: one process each (fio's numjobs without thread=1), not one thread",
        false,
      )
      .option(
        "--size <size>",
        "bytes of the file to use (default: all of it); a missing file is created this big",
        parseSize,
      )
      .option(
        "--runtime <duration>",
        "run this long (30, 500ms, 10s); default one pass over --size",
        parseDuration,
      )
      .option(
        "--direct <0|1|auto>",
        "O_DIRECT: 1 fails if refused, auto falls back to buffered with a warning",
        parseDirect,
        true as boolean | "auto",
      )
      .addOption(
        new Option(
          "--engine <name>",
          "daio (io_uring), psync (pread/pwrite), buffered " +
            "(pread/pwrite through the page cache)",
        ).choices(ENGINES).default("daio" as const),
      )
      .option("--no-register", "do not register the file and buffers (fixedbufs/registerfiles)")
      .option("--sqthread-poll", "kernel submission polling thread (SQPOLL)", false)
      .option("--hipri", "polled completions (IOPOLL); needs a device with poll queues", false)
      .option("--iodepth-batch <n>", "most requests per submit (default: iodepth)", parseCount, 0)
      .option(
        "--iodepth-batch-complete <n>",
        "completions to wait for per round, fio's iodepth_batch_complete_min (default: iodepth/2)",
        parseCount,
        0,
      )
      .option(
        "--batch-min-wait <duration>",
        "end a round's wait this long after its first completion (e.g. 0.1ms; kernel 6.12)",
        parseDuration,
      )
      .option(
        "--nvme-passthru",
        "NVMe commands via io_uring_cmd on an NVMe generic char device /dev/ngXnY " +
          "(fio's io_uring_cmd engine; the default for /dev/ng* paths)",
        false,
      )
      .option("--verify", "write an offset pattern and check every block read back", false)
      .option("--seed <n>", "random seed for offsets", parseCount, 1),
  );
  addExamples(cmd, [
    "daio bench --rw randread --bs 4k --iodepth 32 --runtime 10s disk.img",
    "daio bench --rw randrw --rwmixread 70 --queues 2 --iodepth 16 --size 1G --runtime 5 /dev/vdb",
    "daio bench --engine psync --rw read --bs 128k --output json disk.img",
    "daio bench --nvme-passthru --rw randread --bs 4k --iodepth 32 --runtime 10s /dev/ng0n1",
  ]);
  return cmd;
}

type BenchOptions = ReturnType<ReturnType<typeof declareBenchCommand>["opts"]>;

/** What the options ask for, checked against the engine's limits: the target and the job. */
interface BenchPlan {
  path: string;
  queues: number;
  /** `--direct` as asked (auto: fall back to buffered when O_DIRECT is refused). */
  direct: boolean | "auto";
  nvmePassthru: boolean;
  job: DaioJob;
}

/** Adds `bench` to the program. */
export function addBenchCommand(program: Command) {
  const cmd = declareBenchCommand().action(async (file, opts) => {
    const plan = benchPlan(file, opts);
    const args = { ...opts, path: plan.path, queues: plan.queues };
    await withRun(opts, { tool: "daio", command: "bench", args }, async (run) => {
      await layOut(plan.path, opts.size, opts.quiet || opts.output === "json");
      const r = await runJob(plan, run, opts.quiet);
      if (r.mismatches > 0) {
        throw new ToolError(
          `${plan.path}: verify failed: ${r.mismatches} block(s) read back wrong`,
        );
      }
      reportBench(run, plan, r, opts);
    });
  });
  program.addCommand(cmd);
}

/** Refuses what the engine cannot do (as usage errors, not an EINVAL later); builds the job. */
function benchPlan(file: string | undefined, opts: BenchOptions): BenchPlan {
  const path = file ?? opts.filename;
  if (!path) throw new UsageError("bench: name the target: daio bench FILE (or --filename)");
  const queues = opts.numjobs ?? opts.queues;
  const engine = opts.engine;
  if (opts.bs === 0 || opts.bs > MAX_BS) {
    throw new UsageError(`--bs ${opts.bs}: must be 1 byte to ${MAX_BS >> 20}MiB`);
  }
  if (opts.iodepth > MAX_QUEUE_DEPTH) {
    throw new UsageError(`--iodepth ${opts.iodepth}: at most ${MAX_QUEUE_DEPTH}`);
  }
  if (queues > MAX_QUEUES) {
    throw new UsageError(
      `--${opts.numjobs ? "numjobs" : "queues"} ${queues}: at most ${MAX_QUEUES}`,
    );
  }
  if (opts.hipri && engine !== "daio") throw new UsageError("--hipri needs --engine daio");
  const nvmePassthru = opts.nvmePassthru || isNvmeGenericPath(path);
  if (nvmePassthru && engine !== "daio") {
    throw new UsageError(
      "--nvme-passthru needs --engine daio (NVMe commands go through io_uring)",
    );
  }
  if (opts.bs % 8 !== 0 && opts.verify) throw new UsageError("--verify needs --bs in 8s");
  const direct = engine === "buffered" ? false : opts.direct;
  if (direct !== false && opts.bs % 512 !== 0) {
    throw new UsageError(
      `--bs ${opts.bs} is not a multiple of 512, which O_DIRECT needs (use --direct 0)`,
    );
  }
  if (opts.size !== undefined && opts.size < opts.bs) {
    throw new UsageError(`--size ${opts.size} is smaller than --bs ${opts.bs}`);
  }
  const job: DaioJob = {
    rw: opts.rw,
    rwmixread: opts.rwmixread,
    bs: opts.bs,
    iodepth: engine === "daio" ? opts.iodepth : 1,
    queues,
    engine,
    direct: direct !== false,
    size: opts.size ?? 0,
    runtime: opts.runtime === undefined ? 0 : opts.runtime / 1000,
    register: opts.register,
    sqpoll: opts.sqthreadPoll,
    hipri: opts.hipri,
    verify: opts.verify,
    seed: opts.seed,
    batch: opts.iodepthBatch,
    batchComplete: opts.iodepthBatchComplete,
    minWaitUs: Math.round((opts.batchMinWait ?? 0) * 1000),
    nvmePassthru,
    processes: opts.processes,
  };
  return { path, queues, direct, nvmePassthru, job };
}

/** Runs the job; with `--direct auto`, again buffered when O_DIRECT is refused (EINVAL). */
async function runJob(
  plan: BenchPlan,
  run: RunRecorder,
  quiet: boolean | undefined,
): Promise<DaioJobResult> {
  try {
    return await runDaioJob(plan.path, plan.job);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code !== "EINVAL" || plan.direct !== "auto") throw new ToolError((e as Error).message);
    if (!quiet) console.error(`daio: warning: ${plan.path}: O_DIRECT refused, running buffered`);
    run.event("direct_fallback", { path: plan.path });
    return await runDaioJob(plan.path, { ...plan.job, direct: false });
  }
}

/** The job's figures in the store and on stdout (text or JSON), with the engine's features. */
function reportBench(run: RunRecorder, plan: BenchPlan, r: DaioJobResult, opts: BenchOptions) {
  const { job, queues, nvmePassthru } = plan;
  const label = `${opts.rw} bs=${opts.bs} iodepth=${job.iodepth} queues=${queues} ` +
    `engine=${job.engine}${nvmePassthru ? " nvme-passthru" : ""}`;
  const f = jobFigures(label, r);
  recordFigures(run, f, {
    rw: opts.rw,
    bs: opts.bs,
    iodepth: job.iodepth,
    queues,
    engine: job.engine,
    direct: r.direct,
    nvme_passthru: nvmePassthru,
    features: r.features.join(","),
  });
  run.event("engine", { engine: job.engine, features: r.features });
  if (opts.output === "json") {
    console.log(JSON.stringify({
      ...figuresJson(f),
      direct: r.direct,
      verify: opts.verify,
      features: r.features,
    }));
  } else {
    console.log(figuresText(f)); // the result: -q silences only stderr
    if (r.features.length) console.log(`  engine: io_uring (${r.features.join(", ")})`);
  }
}
