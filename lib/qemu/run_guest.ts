/**
 * `run_guest.ts`: boot the test guest on an image from the command line, optionally behind
 * `qbic-cache serve` (recording a trace) or qemu-nbd, run workloads, print the guest's
 * results and record them in the results store (tool `guest`, command `run`).
 *
 * ```sh
 * deno run -A lib/qemu/run_guest.ts --image disk.img --server qbic-cache \
 *   --record trace.jsonl --workload fsync-small+read-hot --args files=100
 * ```
 *
 * @module
 */
import { parseArgs } from "node:util";
import { withRun } from "../cli/with_run.ts";
import type { RunRecorder } from "../results/run_recorder.ts";
import { buildGuest, type GuestImage } from "./guest.ts";
import { launchGuest } from "./launch.ts";
import { type NbdServer, startNbdServer } from "./nbd_server.ts";
import type { AccelRequest } from "./accel.ts";

const USAGE = `usage: run_guest.ts --image FILE [--server qbic-cache|qemu-nbd|file] [--record FILE]
  [--serve-args "ARGS"] --workload NAME[+NAME...] [--args k=v,k=v] [--timeout SECONDS]
  [--accel auto|kvm|tcg] [--mem MIB] [--db FILE | --no-db] [--output text|json]`;

/** Parses `k=v,k=v` into an object (values kept as strings). */
export function parseWorkloadArgs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of text.split(",").filter((s) => s.length > 0)) {
    const eq = kv.indexOf("=");
    if (eq <= 0) throw new Error(`--args: expected k=v, got ${JSON.stringify(kv)}`);
    out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

/** The command line, checked. */
interface RunGuestConfig {
  server: "qbic-cache" | "qemu-nbd" | "file" | "none";
  image?: string;
  record?: string;
  serveArgs: string[];
  workload: string;
  workloadArgs: Record<string, string>;
  timeoutMs: number;
  memMiB: number;
  accel?: AccelRequest;
  db?: string | false;
  json: boolean;
}

/** Parses and checks the command line; null when it asked for help (printed). */
function parseCommandLine(argv: string[]): RunGuestConfig | null {
  const { values } = parseArgs({
    args: argv,
    options: {
      image: { type: "string" },
      server: { type: "string", default: "qbic-cache" },
      record: { type: "string" },
      "serve-args": { type: "string", default: "" },
      workload: { type: "string", default: "boot" },
      args: { type: "string", default: "" },
      timeout: { type: "string", default: "120" },
      accel: { type: "string" },
      mem: { type: "string", default: "256" },
      db: { type: "string" },
      "no-db": { type: "boolean", default: false },
      output: { type: "string", default: "text" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return null;
  }
  const server = values.server;
  if (server !== "qbic-cache" && server !== "qemu-nbd" && server !== "file" && server !== "none") {
    throw new Error(`--server: expected qbic-cache, qemu-nbd, file or none, got ${server}`);
  }
  if (server !== "none" && !values.image) throw new Error(`--image is required\n${USAGE}`);
  if (values.record && server !== "qbic-cache") {
    throw new Error("--record needs --server qbic-cache");
  }
  const timeoutMs = Number(values.timeout) * 1000;
  if (!(timeoutMs > 0)) throw new Error(`--timeout: not a number of seconds: ${values.timeout}`);
  const memMiB = Number(values.mem);
  if (!Number.isInteger(memMiB) || memMiB < 64) throw new Error(`--mem: MiB >= 64`);
  return {
    server,
    image: values.image,
    record: values.record,
    serveArgs: values["serve-args"].split(/\s+/).filter((s) => s),
    workload: values.workload,
    workloadArgs: parseWorkloadArgs(values.args),
    timeoutMs,
    memMiB,
    accel: values.accel as AccelRequest | undefined,
    db: values["no-db"] ? false : values.db,
    json: values.output === "json",
  };
}

async function main(argv: string[]): Promise<number> {
  const cfg = parseCommandLine(argv);
  if (cfg === null) return 0;
  const guest = await buildGuest();
  const tmp = await Deno.makeTempDir({ prefix: "hvkit-run-guest-" });
  try {
    return await withRun(
      { db: cfg.db },
      { tool: "guest", command: "run", args: argv },
      (run) => withServer(cfg, tmp, (srv) => bootAndRecord(run, guest, cfg, srv)),
    );
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

/**
 * Runs `body` with the NBD server `--server` asks for (none for `file` and `none`) and stops
 * it after; a server that exits badly fails the run once the body has finished.
 */
async function withServer<T>(
  cfg: RunGuestConfig,
  tmp: string,
  body: (srv: NbdServer | null) => Promise<T>,
): Promise<T> {
  let srv: NbdServer | null = null;
  let serverError: string | null = null;
  let result: T;
  try {
    if (cfg.server === "qbic-cache" || cfg.server === "qemu-nbd") {
      srv = await startNbdServer({
        kind: cfg.server,
        image: cfg.image!,
        socket: `${tmp}/nbd.sock`,
        record: cfg.record,
        extraArgs: cfg.serveArgs,
        db: cfg.db === false ? undefined : (cfg.db ?? Deno.env.get("HVKIT_DB")),
        stderrPath: `${tmp}/server.err`,
        timeoutMs: cfg.timeoutMs + 60_000,
      });
    }
    result = await body(srv);
  } finally {
    if (srv) {
      const st = await (srv as NbdServer).stop();
      if (st.code !== 0) {
        const err = await Deno.readTextFile(`${tmp}/server.err`).catch(() => "");
        serverError = `${cfg.server} exited with ${st.code}: ${err.trim().split("\n")[0]}`;
      }
    }
  }
  if (serverError) throw new Error(serverError);
  return result;
}

/** Boots the guest on the server's export (or the image), prints and records its results. */
async function bootAndRecord(
  run: RunRecorder,
  guest: GuestImage,
  cfg: RunGuestConfig,
  srv: NbdServer | null,
): Promise<number> {
  const vm = await launchGuest({
    guest,
    nbdSocket: srv?.socket,
    nbdExport: srv?.exportName,
    diskImage: cfg.server === "file" ? cfg.image : undefined,
    workload: cfg.workload,
    workloadArgs: cfg.workloadArgs,
    memMiB: cfg.memMiB,
    timeoutMs: cfg.timeoutMs,
    accel: cfg.accel,
  });
  if (!cfg.json) console.error(`guest: ${vm.accel.accel} (${vm.accel.reason})`);
  let outcome;
  try {
    outcome = await vm.wait();
  } finally {
    await vm.kill();
  }
  run.event("guest", { accel: outcome.accel, boot: outcome.boot, done: outcome.done });
  for (const r of outcome.results) {
    const labels = { workload: String(r.workload), accel: outcome.accel };
    for (const [k, v] of Object.entries(r)) {
      if (typeof v === "number") run.metric(`guest.${k}`, v, k === "ms" ? "ms" : "", labels);
    }
  }
  run.metric("guest.wall_ms", outcome.ms, "ms", { workload: cfg.workload });
  if (cfg.json) {
    console.log(JSON.stringify({ accel: outcome.accel, results: outcome.results }));
  } else {
    for (const r of outcome.results) console.log(JSON.stringify(r));
  }
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    console.error(`run_guest: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
