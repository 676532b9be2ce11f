/**
 * bench/nbd/miss_path.ts: the miss path. `qbic-cache serve --direct on` with a cache smaller than
 * the working set against `qemu-nbd --cache=none --aio=io_uring` on the same image (O_DIRECT both),
 * fio's nbd engine, 4K at QD32: random reads at ~0% and ~50% hit ratio, random writes in
 * writeback and writethrough, and random reads over four connections (multi-conn). The servers
 * alternate per round; each figure is the median over rounds, each ratio the median of the
 * per-round ratios. Prints one JSON document on stdout with --json (bench/nbd/main.ts records it).
 *
 *   deno run -A bench/nbd/miss_path.ts [--quick] [--runtime SECS] [--rounds N] [--json]
 *
 * @module
 */
import { waitForSocket } from "./common.ts";

const args = Deno.args;
const quick = args.includes("--quick");
const num = (flag: string, dflt: number) => {
  const i = args.indexOf(flag);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const runtime = num("--runtime", quick ? 1 : 5);
const rounds = num("--rounds", quick ? 3 : 3);
const json = args.includes("--json");
const ROOT = new URL("../../", import.meta.url).pathname;
const WS = (quick ? 128 : 512) << 20;
const log = (s: string) => json ? console.error(s) : console.log(s);

/** One cell of the table. */
interface Cell {
  name: string;
  rw: "randread" | "randwrite";
  /** Cache size as a share of the working set (qbic-cache only). */
  cacheShare: number;
  mode: "writeback" | "writethrough";
  jobs: number;
  /** A sequential read pass first (fills qbic-cache's cache; the same pass for the peer). */
  warm: boolean;
}

const CELLS: Cell[] = [
  {
    name: "randread-hit0",
    rw: "randread",
    cacheShare: 1 / 64,
    mode: "writeback",
    jobs: 1,
    warm: false,
  },
  {
    name: "randread-hit50",
    rw: "randread",
    cacheShare: 1 / 2,
    mode: "writeback",
    jobs: 1,
    warm: true,
  },
  {
    name: "randwrite-writeback",
    rw: "randwrite",
    cacheShare: 1 / 4,
    mode: "writeback",
    jobs: 1,
    warm: false,
  },
  {
    name: "randwrite-writethrough",
    rw: "randwrite",
    cacheShare: 1 / 4,
    mode: "writethrough",
    jobs: 1,
    warm: false,
  },
  {
    name: "randread-hit0-4conn",
    rw: "randread",
    cacheShare: 1 / 64,
    mode: "writeback",
    jobs: 4,
    warm: false,
  },
];

const dir = await Deno.makeTempDir({ dir: "/var/tmp", prefix: "bench-nbd-miss-" });
const img = `${dir}/disk.img`;
{
  // Real data (a sparse file would let a server read holes).
  const f = await Deno.open(img, { write: true, create: true });
  const chunk = new Uint8Array(1 << 20);
  for (let o = 0; o < WS; o += chunk.length) {
    crypto.getRandomValues(chunk.subarray(0, 65536));
    for (let k = 65536; k < chunk.length; k += 65536) chunk.copyWithin(k, 0, 65536);
    await f.write(chunk);
  }
  f.close();
}

async function fio(uri: string, cell: Cell, warm: boolean): Promise<number> {
  const a = [
    "--name=m",
    "--ioengine=nbd",
    `--uri=${uri}`,
    `--rw=${warm ? "read" : cell.rw}`,
    `--bs=${warm ? "1M" : "4k"}`,
    "--iodepth=32",
    `--size=${WS}`,
    `--numjobs=${warm ? 1 : cell.jobs}`,
    "--group_reporting",
    "--norandommap",
    "--randrepeat=0",
    `--output=${dir}/fio.json`,
    "--output-format=json",
  ];
  if (!warm) a.push("--time_based", `--runtime=${runtime}`);
  const o = await new Deno.Command("fio", { args: a, cwd: dir, stdout: "null", stderr: "piped" })
    .output();
  if (o.code !== 0) throw new Error(`fio: ${new TextDecoder().decode(o.stderr).split("\n")[0]}`);
  const j = JSON.parse(await Deno.readTextFile(`${dir}/fio.json`));
  const job = j.jobs[0];
  return (cell.rw === "randread" || warm ? job.read.iops : job.write.iops) as number;
}

interface Sample {
  iops: number;
  /** qbic-cache's hit ratio over the measured phase (warm-up pass excluded). */
  hitRatio: number | null;
}

async function measure(server: "qbic-cache" | "qemu-nbd", cell: Cell): Promise<Sample> {
  const sock = `${dir}/${server}.sock`;
  const cache = Math.floor(WS * cell.cacheShare / 4096) * 4096;
  const [cmd, argv] = server === "qbic-cache"
    ? [`${ROOT}bin/qbic-cache`, [
      "serve",
      "--no-db",
      "-q",
      "--output",
      "json",
      "--direct",
      "on",
      "--policy",
      "lru",
      "--queue-depth",
      "128",
      "--cache-size",
      String(cache),
      "--mode",
      cell.mode,
      "--socket",
      sock,
      img,
    ]]
    : ["qemu-nbd", [
      "-f",
      "raw",
      "--cache=none",
      "--aio=io_uring",
      "--shared=8",
      "--persistent",
      "-k",
      sock,
      img,
    ]];
  const child = new Deno.Command(cmd, { args: argv, stdout: "piped", stderr: "piped" }).spawn();
  const out = child.output();
  let iops = 0;
  try {
    await waitForSocket(cmd, sock, child);
    const uri = `nbd+unix:///?socket=${sock}`;
    if (cell.warm) await fio(uri, cell, true);
    iops = await fio(uri, cell, false);
  } finally {
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
  }
  const o = await out;
  try {
    Deno.removeSync(sock);
  } catch { /* removed */ }
  let hitRatio: number | null = null;
  if (server === "qbic-cache") {
    const text = new TextDecoder().decode(o.stdout).trim();
    try {
      const row = JSON.parse(text.split("\n").pop()!);
      const warmBlocks = cell.warm ? WS / 4096 : 0;
      hitRatio = row.hits / Math.max(1, row.accesses - warmBlocks);
    } catch { /* no summary */ }
  }
  return { iops, hitRatio };
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const rows: {
  cell: string;
  qbic_iops: number;
  qemu_nbd_iops: number;
  ratio: number;
  hit_ratio: number | null;
}[] = [];
try {
  for (const cell of CELLS) {
    const q: Sample[] = [];
    const n: number[] = [];
    const ratios: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0
        ? ["qbic-cache", "qemu-nbd"] as const
        : ["qemu-nbd", "qbic-cache"] as const;
      const got: Record<string, Sample> = {};
      for (const s of order) got[s] = await measure(s, cell);
      q.push(got["qbic-cache"]);
      n.push(got["qemu-nbd"].iops);
      ratios.push(got["qbic-cache"].iops / got["qemu-nbd"].iops);
    }
    const hits = q.map((s) => s.hitRatio).filter((h): h is number => h !== null);
    const row = {
      cell: cell.name,
      qbic_iops: median(q.map((s) => s.iops)),
      qemu_nbd_iops: median(n),
      ratio: median(ratios),
      hit_ratio: hits.length ? median(hits) : null,
    };
    rows.push(row);
    log(
      `miss path ${row.cell.padEnd(24)} qbic-cache ${row.qbic_iops.toFixed(0).padStart(7)} IOPS  ` +
        `qemu-nbd ${row.qemu_nbd_iops.toFixed(0).padStart(7)} IOPS  ratio ${
          row.ratio.toFixed(2)
        }x` +
        (row.hit_ratio !== null ? `  hit ${(row.hit_ratio * 100).toFixed(1)}%` : ""),
    );
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
log(
  `(4K QD32, O_DIRECT both sides, ${WS >> 20} MiB working set, ${runtime}s per cell, median of ` +
    `${rounds} round(s); target >= 1.0x qemu-nbd --cache=none --aio=io_uring in every cell)`,
);
if (json) console.log(JSON.stringify({ workingSet: WS, runtime, rounds, rows }));
