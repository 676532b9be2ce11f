/**
 * virtav against clamscan: one generated memory image, databases of 1,000 / 20,000 / 100,000
 * generated signatures (every wildcard form; each database the first N lines of one generated
 * set), each virtav engine side by side with clamscan raw-only (parsers and heuristics off):
 * throughput, ratio to clamscan, start-up with a cached database, peak memory (RSS), detections
 * compared; with `--guest`, the incremental rescan time of an idle test guest's executable pages.
 * Engines: `default` (the Hyperscan prefilter in front of the exact matcher), `keyloop` (the same
 * engine with the prefilter off, HVKIT_VIRTAV_PREFILTER=off: the key loop alone) and `clamav`
 * (libclamav in process). CPU rates are whole-process CPU time (utime + stime, /proc, sampled
 * every 20 ms), which a loaded machine does not dilute as it does wall time.
 *
 *   deno run -A bench/virtav/main.ts --quick      # 16 MiB image, 3 rounds
 *   deno run -A bench/virtav/main.ts              # 1 GiB image, 1 round
 *   deno run -A bench/virtav/main.ts --sigs 1000,20000 --rounds 3 --guest
 *   deno run -A bench/virtav/main.ts --startup-only --engines default   # start-up alone
 *
 * @module
 */
import { runTimed } from "../whole_process.ts";
import { parseArgs } from "node:util";
import { withRun } from "../../lib/cli/mod.ts";
import type { RunRecorder } from "../../lib/results/mod.ts";
import { generateSignatures, prng } from "../../lib/virtav/generate.ts";
import { clamscanOracleArgs, parseClamscanFound } from "../../lib/virtav/clamscan_oracle.ts";

const root = new URL("../../", import.meta.url).pathname;
const cacheDir = `${root}.cache/virtav-bench`;
const VIRTAV = `${root}bin/virtav`;
/** The database sizes issue 14 asks for. */
const SIZES = [1000, 20000, 100000];
/** The engines of `virtav scan --engine`, and `keyloop`: the default one without its prefilter. */
const ENGINES = ["default", "keyloop", "clamav"] as const;
type Engine = typeof ENGINES[number];

const { values } = parseArgs({
  args: Deno.args,
  options: {
    quick: { type: "boolean", default: false },
    guest: { type: "boolean", default: false },
    sigs: { type: "string" },
    engines: { type: "string" },
    rounds: { type: "string" },
    "startup-only": { type: "boolean", default: false },
    size: { type: "string" },
    db: { type: "string" },
  },
});
const sizeMiB = Number(values.size ?? (values.quick ? 16 : 1024));
const sigSizes = (values.sigs ?? SIZES.join(",")).split(",").map(Number);
const engines = (values.engines ?? ENGINES.join(",")).split(",") as Engine[];
for (const e of engines) {
  if (!ENGINES.includes(e)) throw new Error(`--engines: unknown engine ${e} (${ENGINES})`);
}
/** Alternating rounds (clamscan at 100,000 signatures scans ~2 MiB/s: 1 GiB is ~9 minutes). */
const rounds = Math.max(1, Number(values.rounds ?? (values.quick ? 3 : 1)));
/** Start-ups measured per side (alternating). */
const STARTS = 5;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** The image (a zero page in every eight, random bytes, planted instances) and the databases. */
async function prepare(): Promise<{ image: string; tiny: string; ndbs: Map<number, string> }> {
  await Deno.mkdir(cacheDir, { recursive: true });
  const image = `${cacheDir}/mem-${sizeMiB}M.raw`, tiny = `${cacheDir}/tiny.bin`;
  const all = generateSignatures(Math.max(...sigSizes), 42);
  const ndbs = new Map<number, string>();
  for (const n of sigSizes) {
    const ndb = `${cacheDir}/sigs-${n}.ndb`;
    await Deno.writeTextFile(ndb, all.slice(0, n).map((s) => s.line).join("\n") + "\n");
    ndbs.set(n, ndb);
  }
  await Deno.writeFile(tiny, new Uint8Array(4096).fill(0x2e));
  try {
    if ((await Deno.stat(image)).size === sizeMiB * 2 ** 20) return { image, tiny, ndbs };
  } catch { /* generate */ }
  const rand = prng(99);
  // Instances of signatures every database holds (the first 1,000), anywhere in the image.
  const anywhere = all.slice(0, Math.min(...sigSizes)).filter((s) => s.offset.kind === "any");
  const f = await Deno.open(image, { write: true, create: true, truncate: true });
  const chunk = new Uint8Array(4 << 20);
  for (let off = 0; off < sizeMiB * 2 ** 20; off += chunk.length) {
    for (let i = 0; i < chunk.length; i += 65536) {
      crypto.getRandomValues(chunk.subarray(i, i + 65536));
    }
    for (let p = 0; p < chunk.length; p += 32768) chunk.fill(0, p, p + 4096);
    for (let k = 0; k < 16; k++) {
      const inst = anywhere[Math.floor(rand() * anywhere.length)].instance(rand);
      chunk.set(inst, Math.floor(rand() * (chunk.length - inst.length)));
    }
    let w = 0;
    while (w < chunk.length) w += await f.write(chunk.subarray(w));
  }
  f.close();
  return { image, tiny, ndbs };
}

interface Timed {
  secs: number;
  out: string;
  err: string;
  code: number;
  /** Peak resident set (VmHWM) seen while it ran, in KiB: mapped input pages count too. */
  rssKiB: number;
  /** The largest anonymous resident memory (RssAnon) sampled, in KiB: its own heap. */
  anonKiB: number;
  /** CPU seconds (utime + stime) at the last sample. */
  cpuSecs: number;
}

const TICK = 100; // USER_HZ

/** Runs a command, timing it and sampling its peak RSS from /proc every 20 ms. */
async function timed(cmd: string, args: string[], env?: Record<string, string>): Promise<Timed> {
  const t0 = performance.now();
  const child = new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" }).spawn();
  let rssKiB = 0, anonKiB = 0, cpuSecs = 0, done = false;
  const sample = async () => {
    while (!done) {
      try {
        const s = await Deno.readTextFile(`/proc/${child.pid}/status`);
        const m = /VmHWM:\s+(\d+) kB/.exec(s);
        if (m) rssKiB = Math.max(rssKiB, Number(m[1]));
        const a = /RssAnon:\s+(\d+) kB/.exec(s);
        if (a) anonKiB = Math.max(anonKiB, Number(a[1]));
        const st = (await Deno.readTextFile(`/proc/${child.pid}/stat`)).split(") ")[1].split(" ");
        cpuSecs = Math.max(cpuSecs, (Number(st[11]) + Number(st[12])) / TICK);
      } catch { /* exited */ }
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const sampling = sample();
  const r = await child.output();
  done = true;
  await sampling;
  const d = new TextDecoder();
  return {
    secs: (performance.now() - t0) / 1000,
    out: d.decode(r.stdout),
    err: d.decode(r.stderr),
    code: r.code,
    rssKiB,
    anonKiB,
    cpuSecs,
  };
}

/** How `virtav` is run for an engine: its arguments and environment. */
function virtavRun(engine: Engine, cache: string, ndb: string, target: string) {
  const env: Record<string, string> = engine === "keyloop" ? { HVKIT_VIRTAV_PREFILTER: "off" } : {};
  return { args: virtavArgs(engine, cache, ndb, target), env };
}

/** The signatures virtav found, from its JSON lines. */
function virtavFound(text: string): Set<string> {
  const s = new Set<string>();
  for (const line of text.split("\n")) {
    if (line) {
      const o = JSON.parse(line);
      if (o.status === "FOUND") s.add(o.signature);
    }
  }
  return s;
}

/** The scan-only rate virtav prints on stderr (`scanned X MiB in Y s (Z MiB/s)`), or NaN. */
function virtavScanRate(err: string): number {
  const m = /scanned ([\d.]+) MiB in ([\d.]+) s/.exec(err);
  return m ? Number(m[1]) / Math.max(Number(m[2]), 1e-6) : NaN;
}

/** `virtav scan` in file mode (clamscan's semantics on a raw file), its cache in `cache`. */
function virtavArgs(engine: Engine, cache: string, ndb: string, target: string): string[] {
  return [
    "scan",
    "--no-db",
    ...(engine === "clamav" ? ["--engine", engine] : []),
    "--cache-dir",
    cache,
    "--no-eicar",
    "--all-matches",
    "-i",
    "--output",
    "json",
    "-d",
    ndb,
    target,
  ];
}

async function guestRescan(ndb: string): Promise<
  { firstMs: number; idleMs: number[]; pages: number }
> {
  const { launchGuest } = await import("../../lib/qemu/launch.ts");
  const { parseRegisters } = await import("../../lib/qemu/qmp.ts");
  const { openGuestMemory } = await import("../../lib/virtav/guest_memory.ts");
  const { loadDatabase } = await import("../../lib/virtav/database.ts");
  const { compileSignatures } = await import("../../lib/virtav/compile.ts");
  const { Matcher } = await import("../../lib/virtav/matcher.ts");
  const { Scanner } = await import("../../lib/virtav/scanner.ts");
  const { ExecWatcher } = await import("../../lib/virtav/exec_watcher.ts");
  const dir = await Deno.makeTempDir({ prefix: "virtav-bench-" });
  try {
    const vm = await launchGuest({
      workload: "exec-marker",
      workloadArgs: { seconds: 0 },
      memMiB: 256,
      sharedMemPath: `${dir}/ram`,
      timeoutMs: 180_000,
    });
    try {
      await vm.waitForLine((l) => l.kind === "RESULT", 150_000);
      const db = await loadDatabase([ndb]);
      const m = Matcher.load(compileSignatures(db.body));
      const mem = openGuestMemory(`${dir}/ram`);
      const w = new ExecWatcher(new Scanner(m, db.hashes, { allMatch: true }), mem, "guest");
      const regs = parseRegisters(await vm.qmp.hmp("info registers", 0));
      const cr3 = regs.get("CR3")! & 0x000ffffffffff000n;
      const la57 = ((regs.get("CR4") ?? 0n) >> 12n & 1n) === 1n;
      let t = performance.now();
      const first = w.pass(cr3, { la57 });
      const firstMs = performance.now() - t;
      const idleMs: number[] = [];
      for (let i = 0; i < 5; i++) {
        t = performance.now();
        w.pass(cr3, { la57 });
        idleMs.push(performance.now() - t);
      }
      mem.file.close();
      m.close();
      return { firstMs, idleMs, pages: first.pagesHashed };
    } finally {
      await vm.kill();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const fmt = (x: number, d = 1) => Number.isFinite(x) ? x.toFixed(d) : "-";

/** What the prefilter took over (from the cached database), recorded. */
async function prefilterInfo(run: RunRecorder, n: number, ndb: string, cache: string) {
  const info = await timed(VIRTAV, [
    "sigs",
    "info",
    "--no-db",
    "--cache-dir",
    cache,
    "--output",
    "json",
    "-d",
    ndb,
  ]);
  const pf = JSON.parse(info.out).prefilter;
  run.metric("prefiltered_signatures", pf.sigsPrefiltered, "count", { sigs: n });
  run.metric("key_loop_signatures", pf.sigsKeyLoop, "count", { sigs: n });
  run.metric("prefilter_bytes", pf.databaseBytes + pf.scratchBytes, "bytes", { sigs: n });
  return pf as {
    sigsPrefiltered: number;
    sigsKeyLoop: number;
    databaseBytes: number;
    scratchBytes: number;
  };
}

/** One start-up's exact figures from /usr/bin/time (Debian `time`): CPU, wall, peak RSS. */
interface Start {
  cpu: number;
  user: number;
  sys: number;
  wall: number;
  rssMiB: number;
}

async function timedStart(
  cmd: string,
  args: string[],
  env?: Record<string, string>,
): Promise<Start> {
  const c = await runTimed(cmd, args, { env, anyExit: true });
  return { cpu: c.cpuS, user: c.userS, sys: c.sysS, wall: c.wallS, rssMiB: c.maxRssKiB / 1024 };
}

/** An empty script, to set Deno's own start-up beside virtav's. */
const EMPTY_SCRIPT = `${cacheDir}/empty.ts`;
const DENO = Deno.execPath();

/**
 * Start-up: a 4 KiB file, cached database, STARTS runs of each side alternating with `deno run`
 * of an empty script (Deno's own start-up, part of every virtav start). Median CPU (user + sys)
 * and wall, peak RSS; clamscan: its own load, no cache.
 */
async function startupTimes(
  run: RunRecorder,
  n: number,
  ndb: string,
  cache: string,
  tiny: string,
): Promise<Map<string, number>> {
  await Deno.writeTextFile(EMPTY_SCRIPT, "");
  const sides = [...engines, "clamscan", "deno-empty"];
  const starts = new Map<string, Start[]>(sides.map((s) => [s, []]));
  for (let i = 0; i < STARTS; i++) {
    for (const side of i % 2 ? [...sides].reverse() : sides) {
      const t = side === "clamscan"
        ? await timedStart("clamscan", clamscanOracleArgs([ndb], [tiny]))
        : side === "deno-empty"
        ? await timedStart(DENO, ["run", "--quiet", EMPTY_SCRIPT])
        : await (({ args, env }) => timedStart(VIRTAV, args, env))(
          virtavRun(side as Engine, cache, ndb, tiny),
        );
      starts.get(side)!.push(t);
    }
  }
  const startup = new Map<string, number>();
  const line: string[] = [];
  for (const side of sides) {
    const ts = starts.get(side)!;
    const wall = median(ts.map((t) => t.wall)), cpu = median(ts.map((t) => t.cpu));
    const rss = Math.max(...ts.map((t) => t.rssMiB));
    startup.set(side, wall);
    const labels = {
      sigs: n,
      peer: side === "clamscan" ? "clamscan" : side === "deno-empty" ? "deno" : "hvkit",
      engine: side,
      cache: side === "clamav" || side === "clamscan" || side === "deno-empty" ? "none" : "warm",
    };
    run.metric("startup_seconds", wall, "s", labels);
    run.metric("startup_cpu_seconds", cpu, "s", labels);
    run.metric("startup_rss_peak", rss, "MiB", labels);
    line.push(
      `${side} ${fmt(cpu, 2)} s CPU (user ${fmt(median(ts.map((t) => t.user)), 2)}, sys ${
        fmt(median(ts.map((t) => t.sys)), 2)
      }), ${fmt(wall, 2)} s wall, ${fmt(rss, 0)} MiB`,
    );
  }
  console.log(
    `\n${n} signatures: start-up, 4 KiB file, cache warm (median of ${STARTS}; load ${
      (await Deno.readTextFile("/proc/loadavg")).split(" ")[0]
    }):\n  ${line.join("\n  ")}`,
  );
  return startup;
}

/** Rounds: each engine and clamscan over the image, order reversed every round. */
async function scanRounds(ndb: string, cache: string, image: string) {
  const byEngine = new Map<Engine, Timed[]>(engines.map((e) => [e, []]));
  const cr: Timed[] = [];
  for (let r = 0; r < rounds; r++) {
    const legs: (() => Promise<unknown>)[] = [
      ...engines.map((e) => async () => {
        const { args, env } = virtavRun(e, cache, ndb, image);
        byEngine.get(e)!.push(await timed(VIRTAV, args, env));
      }),
      async () => cr.push(await timed("clamscan", clamscanOracleArgs([ndb], [image]))),
    ];
    for (const leg of r % 2 ? legs.reverse() : legs) await leg();
  }
  return { byEngine, cr };
}

type Labels = { size_mib: number; sigs: number };

/** clamscan's figures over the rounds; the signatures it found. */
function reportClamscan(
  run: RunRecorder,
  labels: Labels,
  cr: Timed[],
  startupSecs: number,
): Set<string> {
  const mib = labels.size_mib;
  const c = cr[rounds - 1];
  if (c.code > 1) throw new Error(`clamscan failed: ${c.err.split("\n")[0]}`);
  const cSecs = median(cr.map((x) => x.secs));
  const cs = new Set(parseClamscanFound(c.out).map((f) => f.signature));
  const cRss = Math.max(...cr.map((x) => x.rssKiB)) / 1024;
  const cAnon = Math.max(...cr.map((x) => x.anonKiB)) / 1024;
  const cCpu = median(cr.map((x) => x.cpuSecs));
  run.metric("clamscan_throughput", mib / cSecs, "MiB/s", labels);
  run.metric("clamscan_cpu_throughput", mib / cCpu, "MiB/s", labels);
  run.metric("rss_peak", cRss, "MiB", { ...labels, peer: "clamscan" });
  run.metric("rss_anon_peak", cAnon, "MiB", { ...labels, peer: "clamscan" });
  console.log(`\n${labels.sigs} signatures`);
  console.log(
    `  clamscan         ${fmt(cSecs, 2)} s  ${fmt(mib / cSecs)} MiB/s (cpu ${
      fmt(mib / cCpu)
    })  start-up ${fmt(startupSecs, 3)} s  RSS ${fmt(cRss, 0)} MiB (anon ${
      fmt(cAnon, 0)
    })  ${cs.size} signatures found`,
  );
  return cs;
}

/** One engine's figures over the rounds, its ratios to clamscan, whether it found the same. */
function reportEngine(
  run: RunRecorder,
  e: Engine,
  labels: Labels,
  r: { vr: Timed[]; cr: Timed[]; cs: Set<string>; startupSecs: number },
): void {
  const { vr, cr, cs } = r;
  const mib = labels.size_mib;
  const v = vr[rounds - 1];
  // Exit 1 is "found"; a scan that read nothing (an input it could not scan) is a failure.
  if (v.code > 1 || !/scanned [1-9]/.test(v.err)) {
    throw new Error(`virtav --engine ${e} failed (exit ${v.code}): ${v.err.trim()}`);
  }
  const vSecs = median(vr.map((x) => x.secs));
  const vs = virtavFound(v.out);
  const same = vs.size === cs.size && [...vs].every((x) => cs.has(x));
  const ratio = median(vr.map((x, i) => cr[i].secs / x.secs));
  const cpuRatio = median(vr.map((x, i) => cr[i].cpuSecs / Math.max(x.cpuSecs, 0.01)));
  const vCpu = median(vr.map((x) => x.cpuSecs));
  const scanRate = median(vr.map((x) => virtavScanRate(x.err)));
  const rss = Math.max(...vr.map((x) => x.rssKiB)) / 1024;
  const anon = Math.max(...vr.map((x) => x.anonKiB)) / 1024;
  // The default engine keeps the metric names of earlier runs (the regression check
  // compares rows of the same name and labels).
  const prefix = e === "default" ? "virtav" : `virtav_${e}`;
  const ratioLabel = e === "default" ? "virtav/clamscan" : `virtav-${e}/clamscan`;
  run.metric(`${prefix}_throughput`, mib / vSecs, "MiB/s", labels);
  run.metric(`${prefix}_scan_throughput`, scanRate, "MiB/s", labels);
  run.metric(`${prefix}_cpu_throughput`, mib / vCpu, "MiB/s", labels);
  run.metric("cpu_speedup_vs_clamscan", cpuRatio, "x", {
    ...labels,
    ratio: `${ratioLabel} (cpu)`,
    peer: "clamscan",
    better: "higher",
  });
  run.metric("rss_peak", rss, "MiB", { ...labels, peer: "hvkit", engine: e });
  run.metric("rss_anon_peak", anon, "MiB", { ...labels, peer: "hvkit", engine: e });
  run.metric("speedup_vs_clamscan", ratio, "x", {
    ...labels,
    ratio: ratioLabel,
    peer: "clamscan",
    better: "higher",
  });
  run.metric("detections_identical", same ? 1 : 0, "", {
    ...labels,
    engine: e,
    virtav: vs.size,
    clamscan: cs.size,
  });
  console.log(
    `  virtav ${e.padEnd(9)} ${fmt(vSecs, 2)} s  ${fmt(mib / vSecs)} MiB/s (cpu ${
      fmt(mib / vCpu)
    }; scan alone ${fmt(scanRate)} MiB/s)  start-up ${fmt(r.startupSecs, 3)} s  RSS ${
      fmt(rss, 0)
    } MiB (anon ${fmt(anon, 0)})  ${fmt(ratio)}x clamscan (cpu ${fmt(cpuRatio)}x); detections ${
      same ? "identical" : "DIFFER"
    } (${vs.size})`,
  );
}

/** The guest's executable pages: the first pass and the idle rescans. */
async function reportGuest(run: RunRecorder, ndb: string): Promise<void> {
  const g = await guestRescan(ndb);
  const worst = Math.max(...g.idleMs);
  run.metric("guest_first_pass_ms", g.firstMs, "ms", { pages: g.pages });
  run.metric("guest_idle_rescan_ms", worst, "ms", { pages: g.pages, stat: "max of 5" });
  console.log(
    `guest    first pass ${
      g.firstMs.toFixed(1)
    } ms over ${g.pages} executable pages; idle rescans ${
      g.idleMs.map((x) => x.toFixed(1)).join(", ")
    } ms (max ${worst.toFixed(1)}, target < 100)`,
  );
}

await withRun({ db: values.db }, {
  tool: "bench",
  command: "virtav",
  args: { quick: values.quick, sizeMiB, sigs: sigSizes, engines, guest: values.guest, rounds },
}, async (run) => {
  const { image, tiny, ndbs } = await prepare();
  const mib = sizeMiB;
  const cache = await Deno.makeTempDir({ prefix: "virtav-bench-cache-" });
  console.log(
    `image ${mib} MiB; generated signatures (every wildcard form); wall time incl. database ` +
      `load; median of ${rounds} alternating round(s); clamscan raw-only (parsers, heuristics off)`,
  );
  try {
    for (const n of sigSizes) {
      const ndb = ndbs.get(n)!;
      const labels = { size_mib: mib, sigs: n };
      // Compile each database once (fills the cache; timed: the first run a user sees).
      const compile = await timed(VIRTAV, virtavArgs("default", cache, ndb, tiny));
      if (compile.code > 1) throw new Error(`virtav failed at ${n} signatures: ${compile.err}`);
      run.metric("virtav_first_load_seconds", compile.secs, "s", { sigs: n });
      const pf = await prefilterInfo(run, n, ndb, cache);
      const startup = await startupTimes(run, n, ndb, cache, tiny);
      if (values["startup-only"]) continue;
      const { byEngine, cr } = await scanRounds(ndb, cache, image);
      const cs = reportClamscan(run, labels, cr, startup.get("clamscan")!);
      for (const e of engines) {
        const vr = byEngine.get(e)!;
        reportEngine(run, e, labels, { vr, cr, cs, startupSecs: startup.get(e)! });
      }
      console.log(
        `  first run (compiles the database and the prefilter) ${fmt(compile.secs, 2)} s; ` +
          `prefilter: ${pf.sigsPrefiltered} signatures through Hyperscan, ${pf.sigsKeyLoop} on ` +
          `the key loop, ${fmt((pf.databaseBytes + pf.scratchBytes) / 2 ** 20)} MiB`,
      );
    }
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
  if (values.guest) await reportGuest(run, ndbs.get(sigSizes[0])!);
});
