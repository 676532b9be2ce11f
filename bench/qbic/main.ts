/**
 * bench/qbic: QBic's experiment — one host cache in front of N VMs' disks on one slow device.
 * N = 1, 2, 4, 8 clients (quick: 1, 2), each its own export of `qbic-cache serve --export ...`,
 * all on one modelled backing device (`--backing-latency`, shared by every export), each running
 * the same mixed workload with fio's nbd engine: 4K random reads and writes (70/30) with 90% of
 * accesses on a hot 10% of its disk (fio `zoned:90/10:10/90`). Per VM: throughput and p50/p99
 * completion latency; in all: what reached the device. Cache off, LRU and QBic's policy, at 0.5x
 * and 1x the combined hot set; then one noisy neighbour (VM 1 streams its whole disk
 * sequentially) and how much of the others' throughput each policy keeps.
 *
 * The peer is the same server with the cache off (`--cache-size 0`): every figure is printed
 * beside it and its ratio to it, recorded in the store (tool "bench", command "qbic"). With
 * `--guest`, the real guest too: at N = 1 and 2, each VM is the test guest (QEMU, TCG here) on its
 * own ext4 export running `read-hot` (its page cache dropped before every pass, so every pass
 * reaches the host), with the cache off, LRU and QBic; guest-side MB/s per VM. Not a test.
 *
 *   deno run -A bench/qbic/main.ts [--quick] [--runtime SECS] [--rounds N] [--guest | --guest-only] [--no-db]
 *
 * Each configuration runs `--rounds` times (full 3, quick 1), the configurations of one N in the
 * opposite order each round, and every figure is the median over rounds: on a shared machine a
 * burst of other work then hits every configuration alike.
 *
 * @module
 */
import { startRun } from "../../lib/results/mod.ts";
import { formatTable } from "../../lib/cli/mod.ts";
import { buildGuest } from "../../lib/qemu/guest.ts";
import { launchGuest } from "../../lib/qemu/launch.ts";

const args = Deno.args;
const quick = args.includes("--quick");
const rtIdx = args.indexOf("--runtime");
const runtime = rtIdx >= 0 ? Number(args[rtIdx + 1]) : quick ? 2 : 8;
const noDb = args.includes("--no-db");
const rdIdx = args.indexOf("--rounds");
const rounds = rdIdx >= 0 ? Number(args[rdIdx + 1]) : quick ? 1 : 3;
const ROOT = new URL("../../", import.meta.url).pathname;
const DISK = quick ? 32 << 20 : 128 << 20; // per VM
const HOT = DISK / 10; // the zoned distribution's hot 10%
const NS = quick ? [1, 2] : [1, 2, 4, 8];
const MODEL = "fixed(latency=200us,queues=2)";
const BLOCK = 4096;

const dir = await Deno.makeTempDir({ prefix: "bench-qbic-" });
const maxN = Math.max(...NS, quick ? 2 : 4);
for (let i = 1; i <= maxN; i++) {
  // Filled, not sparse: a hole is cheaper to read than data (FIELD-NOTES).
  const f = await Deno.open(`${dir}/vm${i}.img`, { write: true, create: true, truncate: true });
  const chunk = new Uint8Array(1 << 20).map((_, j) => (j * 7 + i) & 255);
  for (let o = 0; o < DISK; o += chunk.length) await f.write(chunk);
  f.close();
}

interface VmFigures {
  vm: string;
  iops: number;
  p50: number;
  p99: number;
}
interface ServeFigures {
  device_requests: number;
  device_mean_latency_us: number;
  hit_ratio: number;
}

interface FioSide {
  iops: number;
  clat_ns?: { percentile?: Record<string, number> };
}
interface FioJob {
  jobname: string;
  read: FioSide;
  write: FioSide;
}

/** One fio job's figures; a mixed job's percentiles are its sides' weighted by their IOPS. */
function vmFigures(job: FioJob): VmFigures {
  const r = job.read, w = job.write;
  const iops = r.iops + w.iops;
  const pct = (side: FioSide, p: string) => side.clat_ns?.percentile?.[p] ?? 0;
  const mix = (p: string) => iops > 0 ? (pct(r, p) * r.iops + pct(w, p) * w.iops) / iops : 0;
  return { vm: job.jobname, iops, p50: mix("50.000000") / 1e3, p99: mix("99.000000") / 1e3 };
}

let serves = 0;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Per VM, the median over rounds of each figure. */
function medianVms(rounds: VmFigures[][]): VmFigures[] {
  return rounds[0].map((v, i) => ({
    vm: v.vm,
    iops: median(rounds.map((r) => r[i].iops)),
    p50: median(rounds.map((r) => r[i].p50)),
    p99: median(rounds.map((r) => r[i].p99)),
  }));
}

async function serveAndRun(
  n: number,
  policy: string,
  cacheSize: number,
  noisy: boolean,
): Promise<{ vms: VmFigures[]; serve: ServeFigures }> {
  const socket = `${dir}/s${++serves}.sock`;
  const exports = Array.from(
    { length: n },
    (_, i) => [`--export`, `vm${i + 1}=${dir}/vm${i + 1}.img`],
  )
    .flat();
  const { child, out } = await startServe(socket, policy, cacheSize, exports);
  try {
    const jobs: string[] = [];
    for (let i = 1; i <= n; i++) {
      const uri = `nbd+unix:///vm${i}?socket=${socket}`;
      if (noisy && i === 1) {
        jobs.push(`--name=vm${i}`, `--uri=${uri}`, "--rw=read", "--bs=128k", "--iodepth=4");
      } else {
        jobs.push(
          ...[`--name=vm${i}`, `--uri=${uri}`, "--rw=randrw", "--rwmixread=70", "--bs=4k"],
          ...["--iodepth=8", "--random_distribution=zoned:90/10:10/90", `--randseed=${i}`],
        );
      }
    }
    const o = await new Deno.Command("fio", {
      args: [
        ...["--ioengine=nbd", `--size=${DISK}`, "--time_based", `--runtime=${runtime}`],
        ...[`--ramp_time=${quick ? 1 : 2}`, "--output-format=json", `--output=${dir}/fio.json`],
        ...jobs,
      ],
      cwd: dir,
      stdout: "null",
      stderr: "piped",
    }).output();
    if (o.code !== 0) throw new Error(`fio: ${new TextDecoder().decode(o.stderr)}`);
    const j = JSON.parse(await Deno.readTextFile(`${dir}/fio.json`));
    const vms = (j.jobs as FioJob[]).map(vmFigures);
    return { vms, serve: await stopServe(child, out) };
  } catch (e) {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await out;
    throw e;
  }
}

/** Starts serve on `socket` with the exports and the one modelled device; waits for it. */
async function startServe(
  socket: string,
  policy: string,
  cacheSize: number,
  exportArgs: string[],
): Promise<{ child: Deno.ChildProcess; out: Promise<Deno.CommandOutput> }> {
  const child = new Deno.Command(`${ROOT}bin/qbic-cache`, {
    args: [
      ...["serve", "--no-db", "-q", "--output", "json", "--socket", socket],
      ...["--policy", policy, "--cache-size", String(cacheSize), "--backing-latency", MODEL],
      ...exportArgs,
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = child.output();
  let exited = false;
  out.then(() => exited = true, () => exited = true);
  for (let i = 0; i < 600 && !exited; i++) {
    try {
      if (Deno.statSync(socket).isSocket) break;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  if (exited) {
    throw new Error(`serve did not start: ${new TextDecoder().decode((await out).stderr)}`);
  }
  return { child, out };
}

async function stopServe(
  child: Deno.ChildProcess,
  out: Promise<Deno.CommandOutput>,
): Promise<ServeFigures> {
  child.kill("SIGINT");
  const o = await out;
  const text = new TextDecoder().decode(o.stdout).trim().split("\n").at(-1) ?? "{}";
  if (o.code !== 0) throw new Error(`serve: ${new TextDecoder().decode(o.stderr)}`);
  return JSON.parse(text);
}

const run = noDb ? null : await startRun({}, {
  tool: "bench",
  command: "qbic",
  args: { quick, runtime, rounds, disk: DISK, hot: HOT, model: MODEL, ns: NS },
});

const guestOnly = args.includes("--guest-only");
if (!guestOnly) await fioPhases();

/** The fio phases: N VMs per configuration, then the noisy neighbour. */
async function fioPhases(): Promise<void> {
  await scalingPhase();
  await noisyPhase();
}

/** One configuration of the scaling phase: policy, cache size, its size relative to the hot set. */
type Config = [policy: string, size: number, rel: string];

/** N VMs (each N of NS) against the cache off and each policy at 0.5x and 1x their hot set. */
async function scalingPhase(): Promise<void> {
  const rows: unknown[][] = [];
  const header = [
    "N",
    "policy",
    "cache",
    "vm_iops_mean",
    "vs_none",
    "p50_us",
    "p99_us",
    "device_requests",
    "hit_ratio",
  ];
  for (const n of NS) {
    const hotSet = n * HOT;
    const configs: Config[] = [
      ["none", 0, "0"],
      ["lru", hotSet / 2, "0.5x"],
      ["lru", hotSet, "1x"],
      ["qbic", hotSet / 2, "0.5x"],
      ["qbic", hotSet, "1x"],
    ];
    const results = await runConfigs(n, configs);
    let baseline = NaN; // mean VM IOPS with the cache off ("none" comes first)
    for (const [policy, _size, rel] of configs) {
      const r = reportConfig(n, policy, rel, results.get(`${policy} ${rel}`)!, baseline);
      if (policy === "none") baseline = r.mean;
      rows.push(r.row);
    }
  }
  console.log(`bench qbic: ${MODEL} backing device, ${DISK >> 20} MiB per VM, hot set 10% of it`);
  console.log(formatTable(header, rows, "text").trimEnd());
}

/** Every configuration with n VMs, `rounds` times, the order reversed every other round. */
async function runConfigs(n: number, configs: Config[]) {
  const results = new Map<string, { vms: VmFigures[]; serve: ServeFigures }[]>();
  for (let r = 0; r < rounds; r++) {
    for (const [policy, size, rel] of r % 2 ? [...configs].reverse() : configs) {
      const cacheSize = Math.max(Math.floor(size / BLOCK) * BLOCK, policy === "none" ? 0 : BLOCK);
      const got = await serveAndRun(n, policy === "none" ? "lru" : policy, cacheSize, false);
      const key = `${policy} ${rel}`;
      results.set(key, [...(results.get(key) ?? []), got]);
    }
  }
  return results;
}

/** One configuration's medians over its rounds, recorded; its table row and mean VM IOPS. */
function reportConfig(
  n: number,
  policy: string,
  rel: string,
  got: { vms: VmFigures[]; serve: ServeFigures }[],
  baseline: number,
): { row: unknown[]; mean: number } {
  const vms = medianVms(got.map((g) => g.vms));
  const serve = got[Math.floor(got.length / 2)].serve;
  const mean = vms.reduce((s, v) => s + v.iops, 0) / vms.length;
  const ratio = mean / (policy === "none" ? mean : baseline);
  const p50 = vms.reduce((s, v) => s + v.p50, 0) / vms.length;
  const p99 = Math.max(...vms.map((v) => v.p99));
  const labels = {
    job: `n${n}`,
    n: String(n),
    policy,
    cache: rel,
    peer: policy === "none" ? "cache-off" : "qbic-cache",
  };
  for (const v of vms) {
    run?.metric("vm_iops", v.iops, "1/s", { ...labels, vm: v.vm });
    run?.metric("vm_lat_p50", v.p50, "us", { ...labels, vm: v.vm });
    run?.metric("vm_lat_p99", v.p99, "us", { ...labels, vm: v.vm });
  }
  run?.metric("iops", mean, "1/s", labels);
  run?.metric("lat_p50", p50, "us", labels);
  run?.metric("lat_p99", p99, "us", labels);
  run?.metric("device_requests", serve.device_requests, "count", labels);
  run?.metric("hit_ratio", serve.hit_ratio, "ratio", labels);
  if (policy !== "none") {
    run?.metric("iops_ratio", ratio, `${policy}/cache-off`, {
      job: `n${n}-${policy}-${rel}`,
      ratio: `${policy}/cache-off`,
      peer: "cache-off",
      better: "higher",
      gate: "report",
    });
  }
  const row = [
    n,
    policy,
    rel,
    Math.round(mean),
    ratio.toFixed(2),
    Math.round(p50),
    Math.round(p99),
    serve.device_requests,
    serve.hit_ratio,
  ];
  return { row, mean };
}

/** The noisy neighbour: VM 1 streams; how much of the quiet VMs' throughput each policy keeps. */
async function noisyPhase(): Promise<void> {
  const nNoisy = quick ? 2 : 4;
  const noisyRows: unknown[][] = [];
  for (const policy of ["none", "lru", "qbic"]) {
    const size = policy === "none" ? 0 : Math.floor(nNoisy * HOT / BLOCK) * BLOCK;
    const quiet = await serveAndRun(nNoisy, policy === "none" ? "lru" : policy, size, false);
    const loud = await serveAndRun(nNoisy, policy === "none" ? "lru" : policy, size, true);
    const others = (r: { vms: VmFigures[] }) =>
      r.vms.filter((v) => v.vm !== "vm1").reduce((s, v) => s + v.iops, 0) / (nNoisy - 1);
    const kept = others(loud) / others(quiet);
    noisyRows.push([policy, Math.round(others(quiet)), Math.round(others(loud)), kept.toFixed(2)]);
    const labels = {
      job: `noisy-n${nNoisy}`,
      policy,
      peer: policy === "none" ? "cache-off" : "qbic-cache",
    };
    run?.metric("others_iops_quiet", others(quiet), "1/s", labels);
    run?.metric("others_iops_noisy", others(loud), "1/s", labels);
    run?.metric("others_kept", kept, "ratio", labels);
  }
  console.log(
    `noisy neighbour: N=${nNoisy}, vm1 streams 128K sequential reads; the others' mean IOPS`,
  );
  console.log(formatTable(["policy", "quiet", "with_noisy", "kept"], noisyRows, "text").trimEnd());
}

if (guestOnly || args.includes("--guest")) await guestPhase();

/** The real guest behind the shared cache: N = 1, 2 guests, one export each, read-hot. */
async function guestPhase(): Promise<void> {
  const guest = await buildGuest();
  const size = 64 << 20;
  const workloadArgs = { files: "64", size: "65536", passes: "4" }; // 4 MiB hot set per VM
  const grows: unknown[][] = [];
  for (const n of [1, 2]) {
    for (const policy of ["none", "lru", "qbic"]) {
      const socket = `${dir}/g${++serves}.sock`;
      const exportArgs: string[] = [];
      for (let i = 1; i <= n; i++) {
        const img = `${dir}/guest${i}.img`;
        await Deno.remove(img).catch(() => {});
        const f = await Deno.open(img, { write: true, create: true });
        await f.truncate(size);
        f.close();
        const mk = await new Deno.Command("mkfs.ext4", { args: ["-q", "-F", img] }).output();
        if (mk.code !== 0) throw new Error(`mkfs.ext4 ${img} failed`);
        exportArgs.push("--export", `vm${i}=${img}`);
      }
      const cacheSize = policy === "none" ? 0 : n * (6 << 20); // the hot set and its metadata
      const { child, out } = await startServe(
        socket,
        policy === "none" ? "lru" : policy,
        cacheSize,
        exportArgs,
      );
      const results = await Promise.all(
        Array.from({ length: n }, async (_, i) => {
          const vm = await launchGuest({
            guest,
            nbdSocket: socket,
            nbdExport: `vm${i + 1}`,
            workload: "read-hot",
            workloadArgs,
            timeoutMs: 900_000,
          });
          try {
            return (await vm.wait()).results.find((r) => r.workload === "read-hot");
          } finally {
            await vm.kill();
          }
        }),
      );
      const serve = await stopServe(child, out);
      for (const [i, r] of results.entries()) {
        if (!r || r.ok !== true) throw new Error(`guest vm${i + 1}: ${JSON.stringify(r)}`);
        const mbs = Number(r.bytes_read) / 2 ** 20 / (Number(r.ms) / 1000);
        const labels = {
          job: `guest-n${n}`,
          n: String(n),
          policy,
          vm: `vm${i + 1}`,
          peer: policy === "none" ? "cache-off" : "qbic-cache",
        };
        run?.metric("guest_read_mbs", mbs, "MiB/s", labels);
        grows.push([
          n,
          policy,
          `vm${i + 1}`,
          mbs.toFixed(1),
          serve.hit_ratio,
          serve.device_requests,
        ]);
      }
    }
  }
  console.log("real guests (TCG), read-hot per VM (4 MiB hot set), cache 6 MiB per VM:");
  console.log(
    formatTable(["N", "policy", "vm", "guest_MiB_s", "hit_ratio", "device_requests"], grows, "text")
      .trimEnd(),
  );
}

await run?.finish("ok");
await Deno.remove(dir, { recursive: true });
