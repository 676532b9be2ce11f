/**
 * Seeds a results store with runs shaped like the benchmarks' and tools' own, written through
 * lib/results (a real store), for the report tests. Figures are made up and say so in labels.
 *
 * @module
 */
import { startRun } from "../../results/mod.ts";

/** Options for the seed: `regress` makes the second daio-vs-fio run 30% slower. */
export interface SeedOptions {
  regress?: boolean;
}

/**
 * Writes two daio-vs-fio runs, one nbd run, a serve / pdc-filter classify / qbic-cache sim
 * pipeline over one trace, a virtav scan and a bench/run record.
 */
export async function seedStore(db: string, opts: SeedOptions = {}): Promise<void> {
  await seedDaioVsFio(db, opts);
  await seedNbd(db);
  await seedPipeline(db);
  await seedScan(db);
  await seedHarness(db);
}

/** Two daio-vs-fio runs: ratios, a tail ratio that only reports, latencies per peer. */
async function seedDaioVsFio(db: string, opts: SeedOptions): Promise<void> {
  for (const [i, scale] of [[0, 1], [1, opts.regress ? 0.7 : 1.02]] as const) {
    const run = await startRun({ db }, {
      tool: "bench",
      command: "daio-vs-fio",
      args: { quick: true, round: i },
    });
    for (const job of ["randread-4k-qd32", "seqwrite-1m-qd4"]) {
      run.metric("iops", 100000 * scale, "1/s", { peer: "hvkit", job, seed: "synthetic" });
      run.metric("iops", 90000, "1/s", { peer: "fio", job, seed: "synthetic" });
      run.metric("iops", 1.11 * scale, "x", {
        ratio: "hvkit/fio",
        peer: "fio",
        better: "higher",
        job,
        seed: "synthetic",
      });
      // a tail ratio that is listed but never fails (gate "report"), and one with no direction
      run.metric("lat_p99", 0.9 / scale, "x", {
        ratio: "hvkit/fio",
        peer: "fio",
        better: "lower",
        gate: "report",
        job,
        seed: "synthetic",
      });
      run.metric("cpu", 1.5, "x", { ratio: "hvkit/fio", job, seed: "synthetic" });
      for (const [p, v] of [["p50", 80], ["p99", 310], ["p99.9", 900]] as const) {
        run.metric(`lat_${p.replace(".", "_")}`, v / scale, "us", {
          peer: "hvkit",
          job,
          seed: "synthetic",
        });
        run.metric(`lat_${p.replace(".", "_")}`, v * 1.1, "us", {
          peer: "fio",
          job,
          seed: "synthetic",
        });
      }
    }
    await run.finish("ok");
  }
}

async function seedNbd(db: string): Promise<void> {
  const nbd = await startRun({ db }, { tool: "bench", command: "nbd", args: { quick: true } });
  for (const [peer, iops] of [["hvkit", 52000], ["qemu-nbd", 41000], ["nbdkit", 38000]] as const) {
    nbd.metric("iops", iops, "1/s", { peer, job: "randread-hot", seed: "synthetic" });
  }
  await nbd.finish("ok");
}

/** A guest's trace: recorded by serve, classified by pdc-filter, simulated per policy. */
async function seedPipeline(db: string): Promise<void> {
  // a guest's trace: recorded by serve, classified by pdc-filter, simulated per policy
  const serve = await startRun({ db }, {
    tool: "qbic-cache",
    command: "serve",
    args: { image: "disk.img", record: "/tmp/seed/guest.jsonl", admit: "all", cacheSize: 4194304 },
  });
  serve.metric("hit_ratio", 0.58, "", { image: "disk.img", policy: "qbic", mode: "writeback" });
  await serve.finish("ok");
  const classify = await startRun({ db }, {
    tool: "pdc-filter",
    command: "classify",
    args: { trace: "/tmp/seed/guest.jsonl" },
  });
  classify.metric("records", 1000, "records", { method: "heuristic" });
  classify.metric("journal_records", 250, "records", { method: "heuristic" });
  await classify.finish("ok");
  for (const policy of ["lru", "s3fifo", "qbic"]) {
    const sim = await startRun({ db }, {
      tool: "qbic-cache",
      command: "sim",
      args: { policy: [policy], trace: "guest.jsonl" },
    });
    for (const blocks of [256, 1024, 4096, 16384]) {
      const base = policy === "lru" ? 0.3 : policy === "s3fifo" ? 0.35 : 0.4;
      sim.metric("hit_ratio", Math.min(0.95, base + Math.log2(blocks / 256) * 0.1), "ratio", {
        policy,
        size: blocks * 4096,
        block_size: 4096,
        admit: "all",
      });
    }
    await sim.finish("ok");
  }
}

async function seedScan(db: string): Promise<void> {
  const scan = await startRun({ db }, {
    tool: "virtav",
    command: "scan",
    args: { paths: ["/tmp/seed/disk.img"] },
  });
  scan.metric("bytes_scanned", 2 ** 30, "B");
  scan.metric("scan_seconds", 4, "s");
  scan.metric("detections", 2);
  scan.metric("signatures", 10);
  await scan.finish("ok");
}

async function seedHarness(db: string): Promise<void> {
  const harness = await startRun({ db }, {
    tool: "hvkit-bench",
    command: "run",
    args: { quick: true },
  });
  harness.metric("bench_seconds", 12.5, "s", { bench: "daio-vs-fio", status: "ok", size: "quick" });
  harness.metric("bench_seconds", 3.1, "s", { bench: "nbd", status: "ok", size: "quick" });
  harness.metric("bench_seconds", 0.4, "s", {
    bench: "virtav",
    status: "failed",
    size: "quick",
    reason: "exit 1",
  });
  await harness.finish("ok");
}
