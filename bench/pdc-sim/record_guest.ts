/**
 * Records real ext4 guest traces for bench/pdc-sim (and the test fixture): a fresh ext4 image,
 * served by nbdkit with its log filter on a Unix socket, the test guest (lib/qemu) running a
 * workload on it, the log converted to I/O records (JSON lines). Each workload is a separate
 * boot on the same image, as a guest that reboots between jobs would be.
 *
 *   deno run -A bench/pdc-sim/record_guest.ts OUT_DIR [--image-size 256M] \
 *     [fsync-small:files=400 read-hot mixed:ops=800,seed=3 fsync-read ...]
 *
 * Writes OUT_DIR/disk.img, OUT_DIR/journal.json (pdc-filter locate's output) and
 * OUT_DIR/<workload>.jsonl per run (<workload>-2.jsonl for its second run, and so on).
 *
 * @module
 */
import { launchGuest } from "../../lib/qemu/launch.ts";
import { nbdkitLogParser } from "../../lib/trace/nbdkit_log.ts";
import { formatRecord } from "../../lib/trace/jsonl.ts";
import { locateJournalInFile } from "../../lib/pdc/locate.ts";

/** One workload run: its name and parameters, as `name:k=v,k=v`. */
export interface WorkloadSpec {
  name: string;
  args: Record<string, string>;
}

/** Parses `fsync-small:files=400,size=4096`. */
export function parseWorkloadSpec(text: string): WorkloadSpec {
  const [name, rest] = text.split(":", 2);
  const args: Record<string, string> = {};
  for (const kv of (rest ?? "").split(",").filter((s) => s !== "")) {
    const [k, v] = kv.split("=", 2);
    args[k] = v ?? "";
  }
  return { name, args };
}

async function run(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
}

/**
 * Makes the image, records each workload, returns the trace paths.
 * `imageSize` like `256M`; the file system is ext4 with 4 KiB blocks (mkfs defaults otherwise).
 */
export async function recordGuestTraces(
  outDir: string,
  workloads: WorkloadSpec[],
  imageSize = "256M",
): Promise<string[]> {
  await Deno.mkdir(outDir, { recursive: true });
  const img = `${outDir}/disk.img`;
  await run("truncate", ["-s", "0", img]);
  await run("truncate", ["-s", imageSize, img]);
  await run("mkfs.ext4", ["-q", "-F", "-b", "4096", img]);
  await Deno.writeTextFile(
    `${outDir}/journal.json`,
    JSON.stringify(await locateJournalInFile(img)) + "\n",
  );
  const traces: string[] = [];
  const runs = new Map<string, number>();
  for (const w of workloads) {
    const tmp = await Deno.makeTempDir({ prefix: "pdc_rec_" });
    const sock = `${tmp}/nbd.sock`, log = `${tmp}/nbd.log`;
    const nbdkit = new Deno.Command("nbdkit", {
      args: ["-f", "-U", sock, "--filter=log", "file", img, `logfile=${log}`],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    try {
      for (let i = 0; i < 100; i++) {
        try {
          Deno.statSync(sock);
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      const vm = await launchGuest({
        nbdSocket: sock,
        workload: w.name,
        workloadArgs: w.args,
        timeoutMs: 600_000,
      });
      try {
        const outcome = await vm.wait();
        console.error(`${w.name}: ${JSON.stringify(outcome.results.at(-1))} (${outcome.accel})`);
      } finally {
        await vm.kill();
      }
    } finally {
      try {
        nbdkit.kill("SIGTERM");
      } catch { /* already gone */ }
      await nbdkit.status;
    }
    const parser = nbdkitLogParser();
    const lines: string[] = [];
    let n = 0;
    for (const line of (await Deno.readTextFile(log)).split("\n")) {
      const rec = parser.parse(line, ++n);
      if (rec === null) continue;
      rec.dev = "vda";
      lines.push(formatRecord(rec));
    }
    await Deno.remove(tmp, { recursive: true });
    // A workload recorded twice in one set gets -2, -3... so no trace overwrites another.
    const k = (runs.get(w.name) ?? 0) + 1;
    runs.set(w.name, k);
    const path = `${outDir}/${w.name}${k > 1 ? `-${k}` : ""}.jsonl`;
    await Deno.writeTextFile(path, lines.join("\n") + "\n");
    traces.push(path);
    console.error(`${path}: ${lines.length} records`);
  }
  return traces;
}

if (import.meta.main) {
  const args = [...Deno.args];
  let imageSize = "256M";
  const i = args.indexOf("--image-size");
  if (i >= 0) imageSize = args.splice(i, 2)[1];
  const [outDir, ...specs] = args;
  if (!outDir || !imageSize) {
    console.error("usage: record_guest.ts OUT_DIR [--image-size 256M] [workload[:k=v,...] ...]");
    Deno.exit(2);
  }
  const ws = (specs.length ? specs : ["fsync-small", "read-hot", "mixed"]).map(parseWorkloadSpec);
  await recordGuestTraces(outDir, ws, imageSize);
}
