/**
 * bench/nbd: fio's nbd engine, 4K random reads at QD32 over a working set that fits the cache,
 * against qbic-cache serve, qemu-nbd (--cache=writeback --aio=io_uring), nbdkit memory, and
 * nbdkit file with --filter=cache. Prints absolute IOPS, the ratios to each peer measured in
 * the same run, and qbic-cache's CPU time per request; records everything in the store
 * (tool "bench", command "nbd"). Not a test.
 *
 *   deno run -A bench/nbd/main.ts [--quick] [--runtime SECS] [--no-db]
 *
 * @module
 */
import { startRun } from "../../lib/results/mod.ts";

const args = Deno.args;
const quick = args.includes("--quick");
const rtIdx = args.indexOf("--runtime");
const runtime = rtIdx >= 0 ? Number(args[rtIdx + 1]) : quick ? 3 : 15;
const noDb = args.includes("--no-db");
const ROOT = new URL("../../", import.meta.url).pathname;
const WS = quick ? 32 << 20 : 128 << 20; // working set, fits every cache below

const dir = await Deno.makeTempDir({ prefix: "bench-nbd-" });
const img = `${dir}/disk.img`;
{
  const f = await Deno.open(img, { write: true, create: true });
  const chunk = new Uint8Array(1 << 20).map((_, i) => i & 255);
  for (let o = 0; o < WS; o += chunk.length) await f.write(chunk);
  f.close();
}

interface Server {
  name: string;
  cmd: string;
  args: string[];
  socket: string;
}

const servers: Server[] = [
  {
    name: "qbic-cache",
    cmd: `${ROOT}bin/qbic-cache`,
    args: ["serve", "--no-db", "-q", "--policy", "lru", "--cache-size", `${2 * WS}`, "--socket"],
    socket: `${dir}/q.sock`,
  },
  {
    name: "qemu-nbd",
    cmd: "qemu-nbd",
    args: ["-f", "raw", "--cache=writeback", "--aio=io_uring", "--shared=8", "--persistent", "-k"],
    socket: `${dir}/n.sock`,
  },
  {
    name: "nbdkit-memory",
    cmd: "nbdkit",
    args: ["-f", "-U"],
    socket: `${dir}/m.sock`,
  },
  {
    name: "nbdkit-file-cache",
    cmd: "nbdkit",
    args: ["-f", "--filter=cache", "-U"],
    socket: `${dir}/f.sock`,
  },
];

function fullArgs(s: Server): string[] {
  switch (s.name) {
    case "qbic-cache":
      return [...s.args, s.socket, img];
    case "qemu-nbd":
      return [...s.args, s.socket, img];
    case "nbdkit-memory":
      return [...s.args, s.socket, "memory", `size=${WS}`];
    default:
      return [...s.args, s.socket, "file", img, "cache-on-read=true"];
  }
}

async function fio(uri: string, secs: number, prefill: boolean) {
  const a = [
    "--name=r",
    "--ioengine=nbd",
    `--uri=${uri}`,
    `--rw=${prefill ? "read" : "randread"}`,
    "--bs=" + (prefill ? "1M" : "4k"),
    "--iodepth=32",
    `--size=${WS}`,
    "--output-format=json",
  ];
  if (!prefill) a.push("--time_based", `--runtime=${secs}`);
  const o = await new Deno.Command("fio", { args: a, stdout: "piped", stderr: "piped" }).output();
  if (o.code !== 0) throw new Error(`fio: ${new TextDecoder().decode(o.stderr)}`);
  const out = new TextDecoder().decode(o.stdout);
  const j = JSON.parse(out.slice(out.indexOf("{")));
  return { iops: j.jobs[0].read.iops as number, latMeanUs: j.jobs[0].read.lat_ns.mean / 1000 };
}

function cpuTicks(pid: number): number {
  try {
    const f = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1].split(" ");
    return Number(f[11]) + Number(f[12]); // utime + stime, in clock ticks (100/s)
  } catch {
    return NaN;
  }
}

const results: Record<string, { iops: number; latMeanUs: number; cpuUsPerReq: number }> = {};
for (const s of servers) {
  const bin = s.cmd.startsWith("/") ? s.cmd : s.cmd;
  const child = new Deno.Command(bin, { args: fullArgs(s), stdout: "null", stderr: "piped" })
    .spawn();
  try {
    for (let i = 0; i < 200; i++) {
      try {
        if (Deno.statSync(s.socket).isSocket) break;
      } catch { /* not yet */ }
      await new Promise((r) => setTimeout(r, 50));
    }
    const uri = `nbd+unix:///?socket=${s.socket}`;
    await fio(uri, 0, true); // warm the cache with a sequential pass
    const c0 = cpuTicks(child.pid);
    const r = await fio(uri, runtime, false);
    const c1 = cpuTicks(child.pid);
    const cpuUs = ((c1 - c0) * 10_000) / (r.iops * runtime);
    results[s.name] = { ...r, cpuUsPerReq: cpuUs };
    console.log(
      `${s.name.padEnd(18)} ${r.iops.toFixed(0).padStart(8)} IOPS  mean ${
        r.latMeanUs.toFixed(0)
      } us  server CPU ${cpuUs.toFixed(1)} us/req`,
    );
  } catch (e) {
    console.log(`${s.name.padEnd(18)} failed: ${(e as Error).message.split("\n")[0]}`);
  } finally {
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    await child.status;
  }
}
await Deno.remove(dir, { recursive: true });

const q = results["qbic-cache"];
const ratios: [string, number][] = [];
for (const peer of ["qemu-nbd", "nbdkit-memory", "nbdkit-file-cache"]) {
  if (q && results[peer]) ratios.push([peer, q.iops / results[peer].iops]);
}
for (const [peer, r] of ratios) console.log(`qbic-cache / ${peer}: ${r.toFixed(2)}x`);
console.log(
  `(4K randread QD32, ${
    WS >> 20
  } MiB working set, ${runtime}s each; targets: >= 1.0x qemu-nbd, >= 0.9x nbdkit-memory)`,
);

const run = await startRun({ db: noDb ? false : undefined }, {
  tool: "bench",
  command: "nbd",
  args: { quick, runtime, workingSet: WS },
});
for (const [name, r] of Object.entries(results)) {
  run.metric("iops", r.iops, "1/s", { server: name, rw: "randread", bs: 4096, iodepth: 32 });
  run.metric("lat_mean", r.latMeanUs, "us", { server: name });
  run.metric("server_cpu_per_req", r.cpuUsPerReq, "us", { server: name });
}
for (const [peer, r] of ratios) run.metric("iops_ratio", r, "x", { server: "qbic-cache", peer });
await run.finish("ok");
