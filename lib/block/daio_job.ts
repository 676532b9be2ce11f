/**
 * A fio-like job run entirely in C (native/daio_bench.c): one call, one thread per queue keeping
 * `iodepth` requests in flight, latencies in HDR-style histograms. What `daio bench` and the
 * daio-vs-fio benchmark measure.
 *
 * @module
 */
import { native } from "../ffi/ffi.ts";
import { errnoName } from "../ffi/errno.ts";
import { HIST_BUCKETS, Histogram } from "../stats/histogram.ts";
import { featureNames } from "./daio_engine.ts";

/** fio's `--rw` patterns daio runs. */
export const RW_PATTERNS = ["read", "write", "randread", "randwrite", "randrw"] as const;
/** One of {@linkcode RW_PATTERNS}. */
export type RwPattern = typeof RW_PATTERNS[number];
/** Engines: the direct io_uring engine and the two baselines. */
export const ENGINES = ["daio", "psync", "buffered"] as const;
/** One of {@linkcode ENGINES}. */
export type EngineName = typeof ENGINES[number];

/** A job, in fio's words. */
export interface DaioJob {
  rw: RwPattern;
  /** Percentage of reads in randrw. */
  rwmixread: number;
  bs: number;
  iodepth: number;
  queues: number;
  engine: EngineName;
  direct: boolean;
  /** Bytes of the file the job covers (0 = all of it). */
  size: number;
  /** Seconds; 0 = one pass over `size`. */
  runtime: number;
  /** Register the file and buffers with io_uring (fio's registerfiles/fixedbufs). */
  register: boolean;
  sqpoll: boolean;
  /** IOPOLL completions (fio's hipri); needs a device with poll queues. */
  hipri: boolean;
  /** Write an offset pattern and check it on every read. */
  verify: boolean;
  seed: number;
  /** Most requests per submit call (fio's iodepth_batch_submit); 0 = iodepth. */
  batch: number;
  /** Completions each round waits for (fio's iodepth_batch_complete_min); 0 or absent = iodepth/2. */
  batchComplete?: number;
  /**
   * With it, a round's wait ends this many microseconds after its first completion even if the
   * batch is not full (IORING_FEAT_MIN_TIMEOUT, Linux 6.12; ignored before). 0 or absent: off.
   */
  minWaitUs?: number;
  /**
   * NVMe passthrough: NVMe read/write commands through io_uring_cmd on an NVMe generic character
   * device (/dev/ngXnY), no block layer (fio's io_uring_cmd engine). Needs engine "daio".
   */
  nvmePassthru?: boolean;
  /**
   * Two or more queues: one process each (forked; fio's numjobs without thread=1) instead of one
   * thread each. The figures are the same; what changes is how the scheduler places the queues.
   */
  processes?: boolean;
}

/** Figures of one direction (read or write). */
export interface DirectionResult {
  ios: number;
  bytes: number;
  iops: number;
  /** Bytes per second. */
  bw: number;
  /** Latency histogram in nanoseconds. */
  lat: Histogram;
}

/** What a job measured. */
export interface DaioJobResult {
  read: DirectionResult;
  write: DirectionResult;
  /** Both directions together. */
  total: { ios: number; iops: number; bw: number; lat: Histogram };
  elapsedSec: number;
  /**
   * CPU time of the job's threads as a share of wall time (1 = one core busy), like fio's
   * usr/sys (getrusage per thread). Their sum is exact; the split between them is sampled at the
   * kernel's timer tick, so a small usr share can read 0 on a short run.
   */
  cpuUsr: number;
  cpuSys: number;
  mismatches: number;
  direct: boolean;
  fileSize: number;
  /** The io_uring engine's ring features this job ran with (empty for psync and buffered). */
  features: string[];
}

const JOB_WORDS = 16;
const OUT_WORDS = 16;
const HIST_WORDS = 4 + HIST_BUCKETS;

/** A job that failed: the errno name and what it means for this job. */
export class DaioJobError extends Error {
  override name = "DaioJobError";
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/**
 * Runs a job against `path` (which must exist and be at least `size` long).
 *
 * @example
 * ```ts
 * import { runDaioJob } from "./daio_job.ts";
 * const r = await runDaioJob("disk.img", {
 *   rw: "randread", rwmixread: 50, bs: 4096, iodepth: 32, queues: 1, engine: "daio",
 *   direct: true, size: 0, runtime: 2, register: true, sqpoll: false, hipri: false,
 *   verify: false, seed: 1, batch: 0,
 * });
 * console.log(r.total.iops, r.read.lat.percentile(99));
 * ```
 */
export async function runDaioJob(path: string, job: DaioJob): Promise<DaioJobResult> {
  const words = new BigUint64Array(JOB_WORDS);
  words[0] = BigInt(RW_PATTERNS.indexOf(job.rw));
  words[1] = BigInt(job.rwmixread);
  words[2] = BigInt(job.bs);
  words[3] = BigInt(job.iodepth);
  words[4] = BigInt(job.queues);
  words[5] = BigInt(ENGINES.indexOf(job.engine));
  words[6] = job.direct ? 1n : 0n;
  words[7] = BigInt(
    (job.register ? 1 : 0) | (job.sqpoll ? 2 : 0) | (job.hipri ? 4 : 0) | (job.verify ? 8 : 0) |
      (job.nvmePassthru ? 16 : 0) | (job.processes ? 32 : 0),
  );
  words[8] = BigInt(job.size);
  words[9] = BigInt(Math.round(job.runtime * 1e9));
  words[10] = BigInt(job.seed);
  words[11] = BigInt(job.batch);
  words[12] = BigInt(job.batchComplete ?? 0);
  words[13] = BigInt(job.minWaitUs ?? 0);
  const out = new BigUint64Array(OUT_WORDS + 2 * HIST_WORDS);
  const rc = await native().daio_bench_run(
    new TextEncoder().encode(path + "\0"),
    new Uint8Array(words.buffer),
    new Uint8Array(out.buffer),
  );
  if (rc < 0) throw jobError(-rc, path, job);
  const failed = Number(out[8]);
  if (failed !== 0) throw jobError(failed, path, job);
  const elapsedSec = Number(out[4]) / 1e9;
  const rlat = Histogram.fromNative(out.subarray(OUT_WORDS, OUT_WORDS + HIST_WORDS));
  const wlat = Histogram.fromNative(out.subarray(OUT_WORDS + HIST_WORDS));
  const dir = (ios: number, bytes: number, lat: Histogram): DirectionResult => ({
    ios,
    bytes,
    iops: ios / elapsedSec,
    bw: bytes / elapsedSec,
    lat,
  });
  const read = dir(Number(out[0]), Number(out[2]), rlat);
  const write = dir(Number(out[1]), Number(out[3]), wlat);
  const lat = new Histogram();
  lat.merge(rlat);
  lat.merge(wlat);
  return {
    read,
    write,
    total: {
      ios: read.ios + write.ios,
      iops: (read.ios + write.ios) / elapsedSec,
      bw: (read.bytes + write.bytes) / elapsedSec,
      lat,
    },
    elapsedSec,
    cpuUsr: Number(out[5]) / 1e6 / elapsedSec,
    cpuSys: Number(out[6]) / 1e6 / elapsedSec,
    mismatches: Number(out[7]),
    direct: out[10] === 1n,
    fileSize: Number(out[9]),
    features: featureNames(Number(out[11])),
  };
}

function jobError(errno: number, path: string, job: DaioJob): DaioJobError {
  const code = errnoName(errno);
  const why: Record<string, string> = {
    ENOENT: "no such file or device",
    EISDIR: "is a directory",
    EACCES: "permission denied",
    EROFS: "read-only file system",
    ENOSPC: `the file is smaller than --size or than one block per queue`,
    EINVAL: job.nvmePassthru
      ? `--bs ${job.bs} is not a multiple of the namespace's LBA size`
      : job.direct
      ? `O_DIRECT refused it (unaligned --bs ${job.bs}, or a file system without O_DIRECT)`
      : "invalid argument",
    ENOTTY: "not an NVMe generic character device (/dev/ngXnY) for --nvme-passthru",
    EOPNOTSUPP: job.hipri ? "the device has no poll queues for --hipri" : "not supported",
  };
  return new DaioJobError(code, `${path}: ${code} (${why[code] ?? "I/O failed"})`);
}
