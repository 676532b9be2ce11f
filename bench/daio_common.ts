/**
 * What the daio benchmarks (daio-vs-fio, daio-bridge) share: the job they give daio's C runner,
 * their default target under .cache/, and the per-field median of their samples.
 *
 * @module
 */
import type { DaioJob } from "../lib/block/daio_job.ts";
import { median } from "./thread_cpu.ts";

/**
 * A daio job as the benchmarks run it: the daio engine, O_DIRECT, the file and buffers
 * registered, no SQPOLL, IOPOLL or verify, a fresh seed, batches of iodepth.
 */
export function benchJob(
  j: Pick<DaioJob, "rw" | "rwmixread" | "bs" | "iodepth" | "queues" | "size" | "runtime">,
): DaioJob {
  return {
    ...j,
    engine: "daio",
    direct: true,
    register: true,
    sqpoll: false,
    hipri: false,
    verify: false,
    seed: Date.now() % 1_000_000,
    batch: 0,
  };
}

/** The target: `--file`, else `.cache/NAME.img` in the repository (the folder made). */
export async function benchTarget(name: string, file: string | undefined): Promise<string> {
  if (file) return file;
  await Deno.mkdir(new URL("../.cache/", import.meta.url), { recursive: true });
  return new URL(`../.cache/${name}.img`, import.meta.url).pathname;
}

/** The median of each numeric field over the samples. */
export function medianFields<T extends { [K in keyof T]: number }>(samples: T[]): T {
  const keys = Object.keys(samples[0] ?? {}) as (keyof T)[];
  return Object.fromEntries(keys.map((k) => [k, median(samples.map((s) => s[k]))])) as T;
}

/** The median of the per-round ratios `a[i] / b[i]` of one figure. */
export function roundRatio<T>(a: T[], b: T[], f: (x: T) => number): number {
  return median(a.map((x, i) => f(x) / f(b[i])));
}
