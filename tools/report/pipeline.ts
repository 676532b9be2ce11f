/**
 * The cross-tool pipeline bench/run runs after the benchmarks, so that the reports joining the
 * tools' own runs (cache_pipeline, cache_curves) have real rows from one command:
 *
 * 1. a live trace: `qbic-cache serve --record` in front of a scratch image, driven by fio's nbd
 *    engine (4 KiB random reads and writes, Zipf 1.1); serve records its live hit ratio;
 * 2. `pdc-filter classify` on that trace (the journal share the heuristic sees in it);
 * 3. `qbic-cache sim` on it, every policy at the live cache size and around it, and
 *    `qbic-cache mrc` (LRU's exact miss-ratio curve);
 * 4. a real ext4 guest trace (fixtures/pdc): `pdc-filter eval` against its exact journal ranges,
 *    `classify`, and `sim` with and without `--admit pdc`.
 *
 * Every tool writes its own run to the store; this script then records a run (tool "bench",
 * command "pipeline") with the live hit ratio against the simulated one for the same policy and
 * size (the simulator replays what the live cache did: they should agree).
 *
 *   deno run -A tools/report/pipeline.ts [--quick] --db FILE
 *
 * @module
 */
import { query, startRun } from "../../lib/results/mod.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const MiB = 1 << 20;

/** Sizes of one pipeline run. */
export interface PipelineSize {
  imageBytes: number;
  cacheBytes: number;
  ios: number;
}

/** CI size and full size. */
export function pipelineSize(quick: boolean): PipelineSize {
  return quick
    ? { imageBytes: 64 * MiB, cacheBytes: 16 * MiB, ios: 20_000 }
    : { imageBytes: 256 * MiB, cacheBytes: 64 * MiB, ios: 200_000 };
}

async function exec(cmd: string, args: string[], env: Record<string, string>, cwd?: string) {
  const o = await new Deno.Command(cmd, {
    args,
    env,
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  if (o.code !== 0) {
    const err = dec.decode(o.stderr).trim().split("\n").pop() ?? "";
    throw new Error(`${cmd.replace(ROOT, "")} ${args[0]} exited ${o.code}: ${err}`);
  }
  return dec.decode(o.stdout);
}

/** Waits until `socket` accepts a connection (the file exists from bind(), before listen()). */
async function waitForSocket(socket: string, child: Deno.ChildProcess, what: string) {
  let exited = false;
  child.status.then(() => exited = true);
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      (await Deno.connect({ transport: "unix", path: socket })).close();
      return;
    } catch (e) {
      if (exited) throw new Error(`${what} exited before accepting connections`);
      if (Date.now() > deadline) throw new Error(`${what}: not accepting after 60 s: ${e}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Where one pipeline run works and what it passes to every tool. */
interface PipelineRun {
  db: string;
  env: Record<string, string>;
  dir: string;
  img: string;
  trace: string;
  socket: string;
  size: PipelineSize;
}

const mib = (n: number) => `${n / MiB}M`;
const bin = (t: string) => `${ROOT}bin/${t}`;

/** Runs the pipeline into `db`; returns the lines it prints. */
export async function runPipeline(db: string, quick: boolean): Promise<string[]> {
  const size = pipelineSize(quick);
  const out: string[] = [];
  const say = (s: string) => {
    out.push(s);
    console.log(s);
  };
  Deno.mkdirSync(`${ROOT}.cache`, { recursive: true });
  const dir = await Deno.makeTempDir({ dir: `${ROOT}.cache`, prefix: "pipeline-" });
  const p: PipelineRun = {
    db,
    env: { HVKIT_DB: db },
    dir,
    img: `${dir}/disk.img`,
    trace: `${dir}/pipeline-fio-zipf.jsonl`,
    socket: `${dir}/s.sock`,
    size,
  };
  const since = new Date().toISOString();
  try {
    await writeScratchImage(p.img, size.imageBytes);
    await recordLiveTrace(p);
    await toolsOnLiveTrace(p);
    await toolsOnGuestTrace(p);
    const { live, records, sim } = await liveAgainstSim(p, since);
    const run = await startRun({ db }, {
      tool: "bench",
      command: "pipeline",
      args: { quick, ...size },
    });
    const c = size.cacheBytes;
    const labels = { policy: "qbic", cache_bytes: c, trace: "pipeline-fio-zipf" };
    run.metric("live_hit_ratio", live, "ratio", labels);
    run.metric("sim_hit_ratio", sim, "ratio", labels);
    run.metric("sim_to_live_hit_ratio", sim / live, "ratio", labels);
    run.metric("trace_records", records, "count", labels);
    await run.finish(Number.isFinite(live) && Number.isFinite(sim) ? "ok" : "failed");
    say(
      `live trace: ${records} records (fio randrw zipf:1.1 over ${mib(size.imageBytes)}B, ` +
        `qbic ${mib(c)}B cache): live hit ratio ${live.toFixed(4)}, simulated ${sim.toFixed(4)}`,
    );
    say(
      `tools recorded: qbic-cache serve/sim/mrc, pdc-filter classify/eval on ` +
        `pipeline-fio-zipf.jsonl and ext4_guest_fsync_read.jsonl (cache_pipeline, cache_curves)`,
    );
    if (!(Number.isFinite(live) && Number.isFinite(sim))) {
      throw new Error("the live or the simulated hit ratio is missing from the store");
    }
    return out;
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** A scratch image with data in it (not sparse): reads that miss the cache read the device. */
async function writeScratchImage(img: string, bytes: number): Promise<void> {
  const f = await Deno.open(img, { write: true, create: true });
  const chunk = new Uint8Array(MiB).map((_, i) => (i * 7) & 255);
  for (let o = 0; o < bytes; o += MiB) await f.write(chunk);
  f.close();
}

/** Step 1: `qbic-cache serve --record` in front of the image, driven by fio's nbd engine. */
async function recordLiveTrace(p: PipelineRun): Promise<void> {
  const serve = new Deno.Command(bin("qbic-cache"), {
    args: [
      "serve",
      "--db",
      p.db,
      "-q",
      "--socket",
      p.socket,
      "--policy",
      "qbic",
      "--cache-size",
      String(p.size.cacheBytes),
      "--record",
      p.trace,
      p.img,
    ],
    env: p.env,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const serveOut = serve.output();
  try {
    await waitForSocket(p.socket, serve, "qbic-cache serve");
    await exec(
      "fio",
      [
        "--name=pipeline",
        "--ioengine=nbd",
        `--uri=nbd+unix:///?socket=${p.socket}`,
        "--rw=randrw",
        "--rwmixread=70",
        "--bs=4k",
        "--random_distribution=zipf:1.1",
        "--iodepth=8",
        `--size=${p.size.imageBytes}`,
        `--io_size=${p.size.ios * 4096}`,
        `--number_ios=${p.size.ios}`,
        "--randseed=11",
      ],
      p.env,
      p.dir,
    );
  } finally {
    try {
      serve.kill("SIGTERM");
    } catch { /* gone */ }
  }
  const so = await serveOut;
  if (so.code !== 0) {
    throw new Error(`qbic-cache serve exited ${so.code}: ${new TextDecoder().decode(so.stderr)}`);
  }
}

/** Steps 2 and 3: the live trace through classify, sim (around the live size) and mrc. */
async function toolsOnLiveTrace(p: PipelineRun): Promise<void> {
  const { db, env, trace } = p;
  const c = p.size.cacheBytes;
  const sizes = [c / 4, c / 2, c, 2 * c].map(mib).join(",");
  await exec(bin("pdc-filter"), ["classify", "--db", db, "-q", trace], env);
  await sim(p, trace, sizes);
  await exec(bin("qbic-cache"), ["mrc", "--db", db, "-q", "--no-svg", "--trace", trace], env);
}

/** `qbic-cache sim` of LRU, S3-FIFO, ARC and QBic over `trace` at `sizes`, into the store. */
async function sim(p: PipelineRun, trace: string, sizes: string, more: string[] = []) {
  const policies = "lru,s3fifo,arc,qbic";
  await exec(bin("qbic-cache"), [
    "sim",
    "--db",
    p.db,
    "-q",
    "--trace",
    trace,
    "--policy",
    policies,
    "--size",
    sizes,
    ...more,
  ], p.env);
}

/** Step 4: a real ext4 guest trace with its exact journal ranges: eval, classify, sim +/- PDC. */
async function toolsOnGuestTrace(p: PipelineRun): Promise<void> {
  const { db, env } = p;
  const fix = `${ROOT}fixtures/pdc/ext4_guest_fsync_read.jsonl`;
  const ranges = `${ROOT}fixtures/pdc/ext4_guest_fsync_read_journal.json`;
  await exec(bin("pdc-filter"), ["eval", "--db", db, "-q", "--ranges", ranges, fix], env);
  await exec(bin("pdc-filter"), ["classify", "--db", db, "-q", fix], env);
  for (const admit of ["all", "pdc"]) {
    await sim(p, fix, "1M,2M,3M,4M,8M", ["--admit", admit]);
  }
}

/** The live run's hit ratio against the simulator's at the same policy and size (NaN: missing). */
async function liveAgainstSim(
  p: PipelineRun,
  since: string,
): Promise<{ live: number; records: number; sim: number }> {
  const r = await query(
    p.db,
    `WITH live AS (
       SELECT max(m.value) FILTER (WHERE m.name = 'hit_ratio') AS hit_ratio,
              max(m.value) FILTER (WHERE m.name = 'records') AS records
       FROM runs r JOIN metrics m ON m.run = r.id
       WHERE r.tool = 'qbic-cache' AND r.command = 'serve' AND r.started >= '${since}'
         AND (r.args->>'record') = '${p.trace}'
     ), sim AS (
       SELECT m.value AS hit_ratio FROM runs r JOIN metrics m ON m.run = r.id
       WHERE r.tool = 'qbic-cache' AND r.command = 'sim' AND r.started >= '${since}'
         AND (r.args->>'trace') = '${p.trace}' AND m.name = 'hit_ratio'
         AND (m.labels->>'policy') = 'qbic'
         AND TRY_CAST((m.labels->>'size') AS DOUBLE) = ${p.size.cacheBytes}
     )
     SELECT (SELECT hit_ratio FROM live), (SELECT records FROM live),
            (SELECT max(hit_ratio) FROM sim)`,
  );
  const [live, records, sim] = r.rows[0].map((v) => (v === null ? NaN : Number(v)));
  return { live, records, sim };
}

if (import.meta.main) {
  const args = Deno.args;
  const i = args.indexOf("--db");
  const db = i >= 0 ? args[i + 1] : Deno.env.get("HVKIT_DB");
  if (!db) {
    console.error("pipeline: give --db FILE");
    Deno.exit(2);
  }
  try {
    await runPipeline(db, args.includes("--quick"));
  } catch (e) {
    console.error(`pipeline: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
