/**
 * bench/pdc: PDC end to end, where the paper measured it. The test guest (lib/qemu) runs
 * file and I/O workloads (fixtures/guest/workloads: varmail, fileserver, oltp, webserver) on ext4
 * on a disk served by `qbic-cache serve --direct on --backing-latency MODEL`, with the host cache
 * smaller than, equal to and twice the workload's working set, once with `--admit all` (the peer:
 * no PDC) and once per PDC variant (`--admits`, default `pdc`):
 *
 * - `pdc`: the journal located in the image (exact ranges, `--pdc-journal exact`);
 * - `pdc-heuristic`: the journal learnt online (`--pdc-journal heuristic`);
 * - `pdc-checkpoint`: exact, and the checkpoint writes kept out too (`--pdc-checkpoint`);
 * - `pdc-demote`: exact, refused requests cached at the eviction end (`--pdc-demote`);
 * - `pdc-checkpoint-demote`: both refinements.
 *
 * Per workload x policy x cache size and repetition it prints the guest's own figures (ops/s,
 * MB/s, mean and max op latency, from the guest clock), the variant/all ratios (the median of
 * the per-repetition ratios; the legs of a repetition run back to back, their order rotated
 * from one repetition to the next) and, beside them, the host side: serve's hit ratio and
 * modelled device requests, and the read hit ratio of the same policy and size replayed over
 * each leg's recorded stream (`--record`) without PDC and with every variant.
 *
 *   deno run -A bench/pdc/main.ts --quick       # webserver x lru,qbic x 1x, 1 repetition
 *   deno run -A bench/pdc/main.ts               # 4 workloads x 4 policies x 3 sizes x 3 reps
 *   deno run -A bench/pdc/main.ts --workloads oltp --policies lru --sizes 0.5,1 --reps 3 \
 *     --admits pdc,pdc-heuristic,pdc-demote
 *
 * Options: --model SPEC (default `hdd(rpm=7200)`), --workloads, --policies, --sizes (multiples
 * of the working set), --reps N, --admits LIST, --out DIR (keep the traces there), --db FILE,
 * --no-db.
 *
 * Under TCG (no KVM here) the guest runs tens of times slower than on hardware while the
 * modelled device keeps real-time latencies: a miss costs less relative to the guest's own CPU
 * time than on a real machine, so the throughput ratios understate what a miss costs a KVM
 * guest; the host-side hit ratios do not depend on speed.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { buildGuest, type GuestImage } from "../../lib/qemu/guest.ts";
import { launchGuest } from "../../lib/qemu/launch.ts";
import { type NbdServer, startNbdServer } from "../../lib/qemu/nbd_server.ts";
import { formatTable } from "../../lib/cli/table.ts";
import { withRun } from "../../lib/cli/with_run.ts";
import { median } from "../thread_cpu.ts";
import { argsText, type GuestWorkload, guestWorkloads } from "./workloads.ts";
import {
  BS,
  type ImageMaps,
  imageMaps,
  readTrace,
  REPLAY_MODES,
  type ReplayMode,
  replayReadHit,
  VARIANTS,
} from "./host_side.ts";

/** What one guest boot gave: the guest's figures and the host's. */
interface Leg {
  opsS: number;
  mbS: number;
  latMeanMs: number;
  latMaxMs: number;
  hitRatio: number;
  deviceRequests: number;
  /** The modelled device's mean service time (serve's shutdown row). */
  deviceMeanUs: number;
  /** Read hit ratio of the same policy and size replayed over this leg's stream, per mode. */
  readHit: Record<ReplayMode, number>;
  /** The admission as serve named it in its result row, e.g. `pdc(exact,demote)`. */
  serveAdmit: string;
}

function opt(name: string, fallback: string): string {
  return ((values as Record<string, unknown>)[name] as string | undefined) ?? fallback;
}

const { values } = parseArgs({
  args: Deno.args,
  options: {
    quick: { type: "boolean", default: false },
    model: { type: "string" },
    workloads: { type: "string" },
    policies: { type: "string" },
    sizes: { type: "string" },
    reps: { type: "string" },
    admits: { type: "string" },
    out: { type: "string" },
    db: { type: "string" },
    "no-db": { type: "boolean", default: false },
  },
});
const quick = values.quick!;
const model = opt("model", "hdd(rpm=7200)");
const all = guestWorkloads();
const wanted = opt("workloads", quick ? "webserver" : all.map((w) => w.name).join(",")).split(",");
const workloads = wanted.map((n) => {
  const w = all.find((x) => x.name === n);
  if (!w) throw new Error(`--workloads: unknown ${n} (${all.map((x) => x.name).join(", ")})`);
  return quick ? { ...w, args: { ...w.args, ops: 20 } } : w;
});
const policies = opt("policies", quick ? "lru,qbic" : "qbic,lru,arc,s3fifo").split(",");
const factors = opt("sizes", quick ? "1" : "0.5,1,2").split(",").map(Number);
if (factors.some((f) => !(f > 0))) {
  throw new Error(`--sizes: positive numbers, got ${values.sizes}`);
}
const reps = Number(opt("reps", quick ? "1" : "3"));
if (!Number.isInteger(reps) || reps < 1) throw new Error(`--reps: a whole number >= 1`);
const variants = opt("admits", "pdc").split(",");
for (const v of variants) {
  if (v === "all" || !Object.hasOwn(VARIANTS, v)) {
    throw new Error(
      `--admits: unknown ${v} (${Object.keys(VARIANTS).filter((k) => k !== "all").join(", ")})`,
    );
  }
}
const admits = ["all", ...variants];

async function sh(cmd: string, args: string[]): Promise<void> {
  const o = await new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).output();
  if (!o.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(o.stderr).trim()}`);
  }
}

/** A fresh ext4 image (no lazy init: no background writes mixed into the stream). */
async function makeTemplate(path: string): Promise<ImageMaps> {
  await sh("truncate", ["-s", "0", path]);
  await sh("truncate", ["-s", "256M", path]);
  await sh("mkfs.ext4", [
    "-q",
    "-F",
    "-b",
    "4096",
    "-E",
    "lazy_itable_init=0,lazy_journal_init=0",
    path,
  ]);
  return await imageMaps(path);
}

/** serve's arguments for one leg: the slow device, the cache, the policy and the admission. */
function serveArgs(policy: string, cacheBytes: number, admit: string): string[] {
  return [
    "--direct",
    "on",
    "--backing-latency",
    model,
    "--cache-size",
    String(cacheBytes),
    "--policy",
    policy,
    ...VARIANTS[admit].args,
    "--output",
    "json",
  ];
}

/** Boots the guest on serve's export and returns the workload's RESULT (checked), stopping serve. */
async function guestRun(
  guest: GuestImage,
  w: GuestWorkload,
  srv: NbdServer,
  err: string,
): Promise<Record<string, unknown>> {
  let result: Record<string, unknown> | undefined;
  let serveCode = 0;
  try {
    const vm = await launchGuest({
      guest,
      nbdSocket: srv.socket,
      nbdExport: srv.exportName,
      workload: w.name,
      workloadArgs: Object.fromEntries(Object.entries(w.args).map(([k, v]) => [k, String(v)])),
      timeoutMs: 1_500_000,
    });
    try {
      const outcome = await vm.wait();
      result = outcome.results.find((r) => r.workload === w.name);
    } finally {
      await vm.kill();
    }
  } finally {
    serveCode = (await srv.stop()).code;
  }
  if (serveCode !== 0) {
    const e = (await Deno.readTextFile(err).catch(() => "")).trim().split("\n").at(-1);
    throw new Error(`qbic-cache serve exited with ${serveCode}: ${e}`);
  }
  if (!result || result.ok !== true) {
    throw new Error(`${w.name}: the guest's data check failed: ${JSON.stringify(result)}`);
  }
  return result;
}

async function runLeg(
  guest: GuestImage,
  dir: string,
  template: string,
  maps: ImageMaps,
  w: GuestWorkload,
  policy: string,
  cacheBytes: number,
  admit: string,
  tracePath: string,
): Promise<Leg> {
  const img = `${dir}/run.img`;
  await sh("cp", ["--sparse=always", template, img]);
  const out = `${dir}/serve.out`, err = `${dir}/serve.err`;
  await Deno.writeTextFile(out, "");
  const srv = await startNbdServer({
    kind: "qbic-cache",
    image: img,
    socket: `${dir}/nbd.sock`,
    record: tracePath,
    extraArgs: serveArgs(policy, cacheBytes, admit),
    stdoutPath: out,
    stderrPath: err,
    timeoutMs: 1_800_000,
  });
  const result = await guestRun(guest, w, srv, err);
  const row = JSON.parse((await Deno.readTextFile(out)).trim().split("\n").at(-1)!);
  const blocks = Math.floor(cacheBytes / BS);
  const records = readTrace(await Deno.readTextFile(tracePath));
  const readHit = Object.fromEntries(
    REPLAY_MODES.map((m) => [m, replayReadHit(records, policy, blocks, m, maps)]),
  ) as Record<ReplayMode, number>;
  return {
    opsS: Number(result.ops_s),
    mbS: Number(result.mb_s),
    latMeanMs: Number(result.lat_mean_ms),
    latMaxMs: Number(result.lat_max_ms),
    hitRatio: Number(row.hit_ratio),
    deviceRequests: Number(row.device_requests ?? 0),
    deviceMeanUs: Number(row.device_mean_latency_us ?? 0),
    readHit,
    serveAdmit: String(row.admit),
  };
}

const f2 = (x: number) => x.toFixed(2);
const f3 = (x: number) => x.toFixed(3);
const spread = (xs: number[]) =>
  xs.length > 1 ? `${f2(Math.min(...xs))}-${f2(Math.max(...xs))}` : "";

const guest = await buildGuest();
const work = values.out ?? await Deno.makeTempDir({ prefix: "hvkit-pdc-guest-" });
await Deno.mkdir(work, { recursive: true });
console.error(
  `pdc: model ${model}; ${workloads.length} workload(s) x ${policies.length} ` +
    `policies x ${factors.length} size(s) x ${reps} rep(s) x ${admits.length} ` +
    `(${admits.join(", ")}); traces in ${work}`,
);
const header = [
  "workload",
  "policy",
  "cache",
  "admit",
  "ops/s all",
  "ops/s admit",
  "admit/all",
  "lat ms all",
  "lat ms admit",
  "read hit all",
  "read hit admit",
  "dev req all",
  "dev req admit",
];
const rows: string[][] = [];
const hostHeader = ["workload", "policy", "cache", ...REPLAY_MODES];
const hostRows: string[][] = [];
type Run = Parameters<Parameters<typeof withRun>[2]>[0];
/** One cell of the matrix: a workload's image, a policy and a cache size. */
interface Cell {
  w: GuestWorkload;
  template: string;
  maps: ImageMaps;
  policy: string;
  factor: number;
  cacheBytes: number;
  job: Record<string, string>;
}

/** The figures of one leg into the store and one line on stderr. */
function recordLeg(run: Run, c: Cell, admit: string, rep: number, leg: Leg, trace: string): void {
  const l = { ...c.job, admit, rep: String(rep), peer: "hvkit" };
  run.metric("ops_s", leg.opsS, "1/s", l);
  run.metric("bw", leg.mbS * 1e6 / 1048576, "MiB/s", l); // the guest prints MB/s (10^6)
  run.metric("lat_mean", leg.latMeanMs, "ms", l);
  run.metric("lat_max", leg.latMaxMs, "ms", l);
  run.metric("host_hit_ratio", leg.hitRatio, "ratio", l);
  run.metric("device_requests", leg.deviceRequests, "count", l);
  run.metric("device_mean_latency", leg.deviceMeanUs, "us", l);
  for (const [m, v] of Object.entries(leg.readHit)) {
    run.metric("read_hit_ratio", v, "ratio", { ...l, replay: m });
  }
  run.event("leg", { ...l, cacheBytes: c.cacheBytes, serveAdmit: leg.serveAdmit, trace });
  console.error(
    `${c.w.name} ${c.policy} ${c.factor}x ${admit} rep ${rep}: ${leg.opsS} ops/s, ` +
      `host hit ${leg.hitRatio}, read hit ${f3(leg.readHit.none)} none / ` +
      `${f3(leg.readHit[VARIANTS[admit].replay])} ${VARIANTS[admit].replay}, ` +
      `${leg.deviceRequests} device requests (mean ${leg.deviceMeanUs} us), ` +
      `serve: ${leg.serveAdmit}`,
  );
}

/** What the repetitions of one cell gave: every leg per admission, and the per-repetition ratios. */
interface CellLegs {
  legs: Record<string, Leg[]>;
  ratios: Record<string, number[]>;
  latRatios: Record<string, number[]>;
}

async function runCell(run: Run, c: Cell): Promise<CellLegs> {
  const legs: Record<string, Leg[]> = Object.fromEntries(admits.map((a) => [a, []]));
  const ratios: Record<string, number[]> = {}, latRatios: Record<string, number[]> = {};
  for (const v of variants) ratios[v] = [], latRatios[v] = [];
  for (let rep = 0; rep < reps; rep++) {
    // Rotated each repetition: every admission runs first, second, ... in turn.
    const order = admits.map((_, i) => admits[(i + rep) % admits.length]);
    const got: Record<string, Leg> = {};
    for (const admit of order) {
      const trace = `${work}/${c.w.name}-${c.policy}-${c.factor}x-${admit}-${rep}.jsonl`;
      const leg = await runLeg(
        guest,
        work,
        c.template,
        c.maps,
        c.w,
        c.policy,
        c.cacheBytes,
        admit,
        trace,
      );
      got[admit] = leg;
      legs[admit].push(leg);
      recordLeg(run, c, admit, rep, leg, trace);
    }
    for (const v of variants) {
      ratios[v].push(got[v].opsS / got.all.opsS);
      latRatios[v].push(got[v].latMeanMs / got.all.latMeanMs);
    }
  }
  return { legs, ratios, latRatios };
}

/** The cell's medians and spreads into the store, a row per variant, a host-side row. */
function reportCell(run: Run, c: Cell, { legs, ratios, latRatios }: CellLegs): void {
  const med = (a: string, f: (l: Leg) => number) => median(legs[a].map(f));
  for (const a of admits) {
    const l = { ...c.job, admit: a, rep: "median", peer: "hvkit" };
    run.metric("ops_s", med(a, (x) => x.opsS), "1/s", l);
    run.metric("ops_s_min", Math.min(...legs[a].map((x) => x.opsS)), "1/s", l);
    run.metric("ops_s_max", Math.max(...legs[a].map((x) => x.opsS)), "1/s", l);
  }
  const size = `${c.factor}x (${c.cacheBytes / 1024}K)`;
  for (const v of variants) {
    const ratio = median(ratios[v]);
    const peer = { ...c.job, admit: v, ratio: `${v}/all`, peer: "admit-all", gate: "report" };
    run.metric("ops_s_ratio", ratio, "x", { ...peer, better: "higher" });
    // the spread of the per-repetition ratios (listed, never gating)
    run.metric("ops_s_ratio_min", Math.min(...ratios[v]), "x", { ...peer, better: "higher" });
    run.metric("ops_s_ratio_max", Math.max(...ratios[v]), "x", { ...peer, better: "higher" });
    run.metric("lat_mean_ratio", median(latRatios[v]), "x", { ...peer, better: "lower" });
    const mode = VARIANTS[v].replay;
    rows.push([
      c.w.name,
      c.policy,
      size,
      legs[v][0].serveAdmit,
      `${f2(med("all", (x) => x.opsS))} ${spread(legs.all.map((x) => x.opsS))}`,
      `${f2(med(v, (x) => x.opsS))} ${spread(legs[v].map((x) => x.opsS))}`,
      `${f2(ratio)} ${spread(ratios[v])}`,
      f2(med("all", (x) => x.latMeanMs)),
      f2(med(v, (x) => x.latMeanMs)),
      f3(med("all", (x) => x.readHit.none)),
      f3(med(v, (x) => x.readHit[mode])),
      String(med("all", (x) => x.deviceRequests)),
      String(med(v, (x) => x.deviceRequests)),
    ]);
  }
  // Every mode over the admit-all streams (the stream hardly depends on the cache).
  hostRows.push([
    c.w.name,
    c.policy,
    size,
    ...REPLAY_MODES.map((m) => {
      const xs = legs.all.map((x) => x.readHit[m]);
      const mid = median(xs);
      run.metric("read_hit_ratio_replay", mid, "ratio", { ...c.job, replay: m });
      return xs.length > 1 && Math.max(...xs) - Math.min(...xs) >= 0.0005
        ? `${f3(mid)} (${f3(Math.min(...xs))}-${f3(Math.max(...xs))})`
        : f3(mid);
    }),
  ]);
}

try {
  await withRun(
    { db: values["no-db"] ? false : values.db },
    { tool: "bench", command: "pdc", args: { quick, model, reps, admits } },
    async (run) => {
      for (const w of workloads) {
        const template = `${work}/${w.name}.template.img`;
        const maps = await makeTemplate(template);
        for (const policy of policies) {
          for (const factor of factors) {
            const cacheBytes = Math.max(BS, Math.round(w.workingSetBytes * factor / BS) * BS);
            const job = { job: w.name, policy, cache: `${factor}x`, backing_latency: model };
            const c: Cell = { w, template, maps, policy, factor, cacheBytes, job };
            reportCell(run, c, await runCell(run, c));
          }
        }
      }
    },
  );
} finally {
  if (!values.out) await Deno.remove(work, { recursive: true }).catch(() => {});
}
for (const w of workloads) console.log(`${w.name} (${argsText(w.args)}): ${w.about}`);
console.log(formatTable(header, rows, "text").trimEnd());
console.log(
  `(model ${model}; cache = multiple of the working set; ops/s: median over ${reps} ` +
    `repetition(s), range beside; admit/all: median of per-repetition ratios; read hit: ` +
    `replayed over the legs' own streams)`,
);
console.log();
console.log(formatTable(hostHeader, hostRows, "text").trimEnd());
console.log(
  `(read hit ratio, same policy and size, replayed over the admit-all streams: median, range ` +
    `beside when the streams differ)`,
);
