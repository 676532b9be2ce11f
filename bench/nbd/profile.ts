/**
 * bench/nbd/profile.ts: where qbic-cache serve's CPU goes on the cache-hit path. Runs the server
 * under V8's sampling profiler (`deno run --cpu-prof`), drives it with fio's nbd engine (4K
 * random reads at QD32 over a working set held in the cache, warmed first), stops it with
 * SIGINT, and sums the profile's self time per function and per stage of a request:
 * parse (request loop, reader), cache (layer, policy), copy (data into the reply), reply (frame
 * building, batching, socket writes), promise/runtime (microtasks, async glue, Deno ops), idle.
 * Prints the breakdown and, with the fio IOPS and the process CPU time, microseconds per
 * request for each stage. Not a test.
 *
 *   deno run -A bench/nbd/profile.ts [--runtime SECS] [--top N] [--json] [--no-prof] [--root DIR]
 *
 * `--no-prof` only measures IOPS and CPU per request (the profiler itself costs CPU);
 * `--root DIR` runs the server from another checkout (an A/B of two revisions on one machine:
 * `git archive REV | tar -x -C DIR`, then link node_modules and native/build into it).
 *
 * @module
 */
import { cpuTicks, writePatternImage } from "./common.ts";

const args = Deno.args;
const opt = (name: string, dflt: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const runtime = opt("--runtime", 5);
const topN = opt("--top", 25);
const json = args.includes("--json");
const noProf = args.includes("--no-prof");
const rootIdx = args.indexOf("--root");
const ROOT = rootIdx >= 0
  ? args[rootIdx + 1].replace(/\/?$/, "/")
  : new URL("../../", import.meta.url).pathname;
const WS = 32 << 20;

/** A node of V8's .cpuprofile format. */
interface ProfNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/** Which stage of a request a function belongs to (by file, then by name). */
export function stageOf(fn: string, url: string): string {
  if (fn === "(idle)" || fn === "(program)" && url === "") {
    return fn === "(idle)" ? "idle" : "runtime";
  }
  if (fn === "(garbage collector)") return "gc";
  const file = url.split("/").pop() ?? "";
  if (file === "conn_reader.ts") return "parse";
  if (file === "transmission.ts") {
    if (/#serve|#ok|#fail|#blockStatus/.test(fn)) return "reply";
    return "parse";
  }
  if (file === "reply_writer.ts") return "reply";
  if (file === "block_map.ts") return /copyOut|readThrough/.test(fn) ? "copy" : "cache";
  if (/^(cache_layer|cache_stats|dirty_extents|block_locks|write_back)\.ts$/.test(file)) {
    return "cache";
  }
  if (url.includes("/lib/cache/")) return "cache";
  if (/\/lib\/block\/(file_device|daio_)|node_pool/.test(url)) return "image I/O";
  if (fn === "set" || fn === "subarray" || fn === "TypedArrayPrototypeSet") return "copy";
  if (/^(write|read|op_|core\.|runMicrotasks|processTicksAndRejections)/.test(fn)) {
    return "io+runtime";
  }
  if (url.startsWith("ext:") || url.startsWith("node:") || url === "") return "io+runtime";
  return "other";
}

const dir = await Deno.makeTempDir({ prefix: "nbd-prof-" });
const img = `${dir}/disk.img`;
await writePatternImage(img, WS);
const sock = `${dir}/q.sock`;
const deno = Deno.execPath();
const child = new Deno.Command(deno, {
  args: [
    "run",
    "-A",
    "--quiet",
    "--config",
    `${ROOT}deno.json`,
    ...(noProf ? [] : ["--cpu-prof", `--cpu-prof-dir=${dir}/prof`]),
    `${ROOT}tools/qbic-cache/main.ts`,
    "serve",
    "--no-db",
    "-q",
    "--policy",
    "lru",
    "--cache-size",
    `${2 * WS}`,
    "--socket",
    sock,
    img,
  ],
  stdout: "null",
  stderr: "piped",
}).spawn();

async function fio(rw: string, bs: string, secs: number): Promise<number> {
  const a = [
    "--name=p",
    "--ioengine=nbd",
    `--uri=nbd+unix:///?socket=${sock}`,
    `--rw=${rw}`,
    `--bs=${bs}`,
    "--iodepth=32",
    `--size=${WS}`,
    "--output-format=json",
  ];
  if (secs > 0) a.push("--time_based", `--runtime=${secs}`);
  const o = await new Deno.Command("fio", { args: a, cwd: dir, stdout: "piped", stderr: "piped" })
    .output();
  if (o.code !== 0) throw new Error(`fio: ${new TextDecoder().decode(o.stderr)}`);
  const out = new TextDecoder().decode(o.stdout);
  return JSON.parse(out.slice(out.indexOf("{"))).jobs[0].read.iops;
}

let iops = 0;
let cpuUs = 0;
let userUs = 0;
try {
  for (let i = 0; i < 200; i++) {
    try {
      if (Deno.statSync(sock).isSocket) break;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  await fio("read", "1M", 0);
  const [u0, s0] = cpuTicks(child.pid);
  iops = await fio("randread", "4k", runtime);
  const [u1, s1] = cpuTicks(child.pid);
  cpuUs = (u1 - u0 + s1 - s0) * 10_000 / (iops * runtime);
  userUs = (u1 - u0) * 10_000 / (iops * runtime);
} finally {
  child.kill("SIGINT");
  await child.status;
}

if (noProf) {
  await Deno.remove(dir, { recursive: true });
  const line = { iops, cpuUsPerReq: cpuUs, userUsPerReq: userUs };
  console.log(
    json ? JSON.stringify(line) : `${ROOT}: ${iops.toFixed(0)} IOPS, ${cpuUs.toFixed(2)} us/req ` +
      `(user ${userUs.toFixed(2)}, system ${(cpuUs - userUs).toFixed(2)})`,
  );
  Deno.exit(0);
}

const profFile = [...Deno.readDirSync(`${dir}/prof`)].find((e) => e.name.endsWith(".cpuprofile"));
if (!profFile) throw new Error("no .cpuprofile written");
const prof = JSON.parse(Deno.readTextFileSync(`${dir}/prof/${profFile.name}`)) as {
  nodes: ProfNode[];
  samples: number[];
  timeDeltas: number[];
};
await Deno.remove(dir, { recursive: true });

const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const self = new Map<number, number>();
for (let i = 0; i < prof.samples.length; i++) {
  self.set(prof.samples[i], (self.get(prof.samples[i]) ?? 0) + (prof.timeDeltas[i] ?? 0));
}
const perFn = new Map<string, { us: number; stage: string }>();
const perStage = new Map<string, number>();
let busy = 0;
for (const [id, us] of self) {
  const n = byId.get(id)!;
  const fn = n.callFrame.functionName || "(anonymous)";
  const file = n.callFrame.url.split("/").pop() ?? "";
  const stage = stageOf(fn, n.callFrame.url);
  const key = `${fn} ${file}:${n.callFrame.lineNumber + 1}`;
  const cur = perFn.get(key) ?? { us: 0, stage };
  cur.us += us;
  perFn.set(key, cur);
  perStage.set(stage, (perStage.get(stage) ?? 0) + us);
  if (stage !== "idle") busy += us;
}
const stages = [...perStage].filter(([s]) => s !== "idle").sort((a, b) => b[1] - a[1]);
const top = [...perFn].filter(([, v]) => v.stage !== "idle").sort((a, b) => b[1].us - a[1].us)
  .slice(0, topN);
if (json) {
  console.log(
    JSON.stringify({
      iops,
      cpuUsPerReq: cpuUs,
      userUsPerReq: userUs,
      stages: Object.fromEntries(stages),
    }),
  );
} else {
  console.log(
    `fio 4K randread QD32, ${runtime}s, all hits: ${iops.toFixed(0)} IOPS, ` +
      `server CPU ${cpuUs.toFixed(2)} us/request (user ${userUs.toFixed(2)}, system ${
        (cpuUs - userUs).toFixed(2)
      })`,
  );
  console.log("JS-visible time by stage (V8 sampling profile, idle excluded):");
  for (const [s, us] of stages) {
    const share = us / busy;
    console.log(
      `  ${s.padEnd(12)} ${(share * 100).toFixed(1).padStart(5)}%  ~${
        (share * cpuUs).toFixed(2)
      } us/req`,
    );
  }
  console.log(`top ${topN} functions by self time:`);
  for (const [k, v] of top) {
    console.log(`  ${((v.us / busy) * 100).toFixed(1).padStart(5)}%  ${v.stage.padEnd(11)} ${k}`);
  }
}
