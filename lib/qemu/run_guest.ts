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
import { buildGuest } from "./guest.ts";
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

async function main(argv: string[]): Promise<number> {
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
    return 0;
  }
  const server = values.server;
  if (!["qbic-cache", "qemu-nbd", "file", "none"].includes(server)) {
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
  const workloadArgs = parseWorkloadArgs(values.args);
  const json = values.output === "json";

  const guest = await buildGuest();
  const tmp = await Deno.makeTempDir({ prefix: "hvkit-run-guest-" });
  try {
    return await withRun(
      { db: values["no-db"] ? false : values.db },
      { tool: "guest", command: "run", args: argv },
      async (run) => {
        let srv: NbdServer | null = null;
        let serverError: string | null = null;
        const code = await (async () => {
          try {
            if (server === "qbic-cache" || server === "qemu-nbd") {
              srv = await startNbdServer({
                kind: server,
                image: values.image!,
                socket: `${tmp}/nbd.sock`,
                record: values.record,
                extraArgs: values["serve-args"].split(/\s+/).filter((s) => s),
                db: values["no-db"] ? undefined : (values.db ?? Deno.env.get("HVKIT_DB")),
                stderrPath: `${tmp}/server.err`,
                timeoutMs: timeoutMs + 60_000,
              });
            }
            const vm = await launchGuest({
              guest,
              nbdSocket: srv?.socket,
              nbdExport: srv?.exportName,
              diskImage: server === "file" ? values.image : undefined,
              workload: values.workload,
              workloadArgs,
              memMiB,
              timeoutMs,
              accel: values.accel as AccelRequest | undefined,
            });
            if (!json) console.error(`guest: ${vm.accel.accel} (${vm.accel.reason})`);
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
                if (typeof v === "number") {
                  run.metric(`guest.${k}`, v, k === "ms" ? "ms" : "", labels);
                }
              }
            }
            run.metric("guest.wall_ms", outcome.ms, "ms", { workload: values.workload });
            if (json) {
              console.log(JSON.stringify({ accel: outcome.accel, results: outcome.results }));
            } else {
              for (const r of outcome.results) console.log(JSON.stringify(r));
            }
            return 0;
          } finally {
            if (srv) {
              const st = await srv.stop();
              if (st.code !== 0) {
                const err = await Deno.readTextFile(`${tmp}/server.err`).catch(() => "");
                serverError = `${server} exited with ${st.code}: ${err.trim().split("\n")[0]}`;
              }
            }
          }
        })();
        if (serverError) throw new Error(serverError);
        return code;
      },
    );
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    console.error(`run_guest: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
