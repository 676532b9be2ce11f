/**
 * `virtav watch`: attach to a running QEMU by QMP, read each vCPU's CR3 every interval, walk
 * its page tables in the live RAM file (read-only), rescan executable pages that are new or
 * changed, and on a detection log it and, per `--action`, pause (QMP `stop`) or kill the VM.
 *
 * @module
 */
import { type Command, Option } from "@commander-js/extra-typings";
import { addExamples, withCommonOptions } from "../../lib/cli/program.ts";
import { parseDuration, parseOption, parsePositive, parseSize } from "../../lib/cli/parse.ts";
import { ToolError } from "../../lib/cli/errors.ts";
import { withRun } from "../../lib/cli/with_run.ts";
import { QmpClient } from "../../lib/qemu/qmp.ts";
import { type CpuPaging, readPaging } from "../../lib/virtav/cpu_paging.ts";
import { openGuestMemory } from "../../lib/virtav/guest_memory.ts";
import { type Detection, Scanner } from "../../lib/virtav/scanner.ts";
import type { RunRecorder } from "../../lib/results/mod.ts";
import { ExecWatcher } from "../../lib/virtav/exec_watcher.ts";
import { hexAddr } from "../../lib/virtav/page_walker.ts";
import {
  detectionJson,
  detectionLine,
  engineOption,
  loadEngine,
  recordDetections,
} from "./scan.ts";
import { addSignatureOptions, type SigOptions } from "./signatures.ts";

/** CR3s remembered (a process's page tables are walked while it is off-CPU too). */
const MAX_CR3 = 16;

/** Declares `virtav watch`: its options and examples (the action is added apart). */
function declareWatchCommand(program: Command) {
  const cmd = withCommonOptions(
    program.command("watch")
      .description(
        "watch a running QEMU guest: rescan new or changed executable pages every interval",
      )
      .requiredOption("--qmp <socket>", "the VM's QMP Unix socket")
      .requiredOption("--ram <file>", "the VM's RAM file (memory-backend-file mem-path, share=on)")
      .option(
        "--lowmem <size>",
        "RAM files above 2 GiB: RAM below the PCI hole (q35 2G, pc 3G/3.5G)",
      )
      .option("--interval <duration>", "time between passes", "1s")
      .addOption(
        new Option("--action <action>", "on a detection: log it, pause the VM, or kill it")
          .choices(["log", "pause", "kill"] as const).default("log" as const),
      )
      .option("--duration <duration>", "stop watching after this long (default: until interrupted)")
      .option("--passes <n>", "stop after this many passes", parsePositive)
      .option("--all-matches", "report every matching signature in a run", false)
      .addOption(engineOption),
  );
  addSignatureOptions(cmd, { clamscanNames: true });
  addExamples(cmd, [
    "virtav watch --qmp /run/vm.qmp --ram /dev/shm/vm.ram -d sigs.ndb --action pause",
    "virtav watch --engine clamav --qmp /run/vm.qmp --ram /dev/shm/vm.ram -d main.cvd",
  ]);
  return cmd;
}

/** `virtav watch`'s options as the action reads them (the signature options are added in a loop). */
type WatchOptions = ReturnType<ReturnType<typeof declareWatchCommand>["opts"]> & SigOptions;

/** The durations and sizes of the options, parsed. */
interface WatchPlan {
  intervalMs: number;
  durationMs: number;
  lowmem?: number;
}

function watchPlan(opts: WatchOptions): WatchPlan {
  return {
    intervalMs: parseOption("--interval", opts.interval, parseDuration),
    durationMs: opts.duration !== undefined
      ? parseOption("--duration", opts.duration, parseDuration)
      : Infinity,
    lowmem: opts.lowmem !== undefined ? parseOption("--lowmem", opts.lowmem, parseSize) : undefined,
  };
}

/** Adds `virtav watch`. */
export function addWatchCommand(program: Command) {
  const cmd = declareWatchCommand(program);
  cmd.action(async (cliOpts) => {
    const opts = cliOpts as WatchOptions;
    const plan = watchPlan(opts);
    let detected = 0;
    await withRun(opts, { tool: "virtav", command: "watch", args: opts }, async (run) => {
      detected = await runWatch(opts, plan, run);
      run.metric("detections", detected);
    });
    if (detected > 0) Deno.exit(1);
  });
  return cmd;
}

/** The watch inside its run: attach, pass after pass until told to stop; the detections. */
async function runWatch(opts: WatchOptions, plan: WatchPlan, run: RunRecorder): Promise<number> {
  const engine = await loadEngine({ ...opts, memory: true }, run);
  const qmp = await QmpClient.connect(opts.qmp, { timeoutMs: 10_000 }).catch((e) => {
    throw new ToolError(`cannot attach to QMP at ${opts.qmp}: ${(e as Error).message}`);
  });
  const mem = openGuestMemory(opts.ram, { format: "raw", lowmem: plan.lowmem });
  const scanner = new Scanner(engine.matcher, engine.hashes, { allMatch: opts.allMatches });
  const watcher = new WatchedCr3s(new ExecWatcher(scanner, mem, opts.ram), run);
  const started = performance.now();
  let detected = 0;
  try {
    for (let pass = 1;; pass++) {
      const t0 = performance.now();
      let paging: CpuPaging[];
      try {
        paging = await readPaging(qmp);
      } catch (e) {
        throw new ToolError(`QMP: ${(e as Error).message} (has the VM gone?)`);
      }
      const r = watcher.pass(pass, paging);
      reportPass(pass, r, performance.now() - t0, run, opts.quiet);
      if (r.found.length) {
        detected += r.found.length;
        printDetections(r.found, run, opts.output === "json");
        if (await act(opts.action, qmp, run)) break;
      }
      if (opts.passes !== undefined && pass >= opts.passes) break;
      if (performance.now() - started + plan.intervalMs > plan.durationMs) break;
      await new Promise((r) => setTimeout(r, plan.intervalMs));
    }
  } finally {
    qmp.close();
    mem.file.close();
    engine.close();
  }
  return detected;
}

/** What one pass over the watched CR3s did and found. */
interface WatchPass {
  cr3s: number;
  pages: number;
  rescanned: number;
  bytes: number;
  found: { d: Detection; cr3: bigint }[];
}

/** The CR3s watched: the most recently seen `MAX_CR3`, each with the paging its vCPU ran. */
class WatchedCr3s {
  #lastSeen = new Map<bigint, { pass: number; la57: boolean; nxe: boolean }>();

  constructor(private readonly watcher: ExecWatcher, private readonly run: RunRecorder) {}

  #forget(cr3: bigint): void {
    this.#lastSeen.delete(cr3);
    this.watcher.forget(cr3);
  }

  /** Takes in the vCPUs' paging and rescans what changed under each watched CR3. */
  pass(pass: number, paging: CpuPaging[]): WatchPass {
    for (const p of paging) {
      if (p.paging) this.#lastSeen.set(p.cr3, { pass, la57: p.la57, nxe: p.nxe });
    }
    // Keep the most recently seen CR3s only.
    const cr3s = [...this.#lastSeen].sort((a, b) => b[1].pass - a[1].pass);
    for (const [cr3] of cr3s.slice(MAX_CR3)) this.#forget(cr3);
    const out: WatchPass = {
      cr3s: Math.min(cr3s.length, MAX_CR3),
      pages: 0,
      rescanned: 0,
      bytes: 0,
      found: [],
    };
    for (const [cr3, s] of cr3s.slice(0, MAX_CR3)) {
      let r;
      try {
        r = this.watcher.pass(cr3, { la57: s.la57, ignoreNx: !s.nxe });
      } catch (e) {
        // The page table was freed and reused, or is outside RAM: forget this CR3.
        this.run.event("cr3_dropped", { cr3: hexAddr(cr3), message: (e as Error).message });
        this.#forget(cr3);
        continue;
      }
      out.rescanned += r.unitsRescanned;
      out.bytes += r.bytesRescanned;
      out.pages += r.pagesHashed;
      for (const d of r.detections) out.found.push({ d, cr3 });
    }
    return out;
  }
}

/** A pass's figures in the store; on stderr the first pass and those that found something. */
function reportPass(
  pass: number,
  r: WatchPass,
  ms: number,
  run: RunRecorder,
  quiet: boolean | undefined,
): void {
  run.metric("pass_ms", ms, "ms", { pass, cr3s: r.cr3s });
  run.metric("pass_bytes_rescanned", r.bytes, "B", { pass });
  if (!quiet && (pass === 1 || r.found.length)) {
    console.error(
      `virtav: pass ${pass}: ${r.cr3s} CR3s, ${r.pages} executable pages hashed, ` +
        `${r.rescanned} runs (${(r.bytes / 2 ** 20).toFixed(1)} MiB) rescanned in ${
          ms.toFixed(1)
        } ms`,
    );
  }
}

/** Prints and records a pass's detections, each with the CR3 it was found under. */
function printDetections(found: WatchPass["found"], run: RunRecorder, json: boolean): void {
  recordDetections(run, found.map((f) => f.d), "watch");
  for (const { d, cr3 } of found) {
    console.log(
      json ? JSON.stringify({ ...detectionJson(d), cr3: hexAddr(cr3) }) : detectionLine(d),
    );
    run.event("detection", { ...detectionJson(d), cr3: hexAddr(cr3) });
  }
}

/** `--action` on a detection; whether the watch ends (the VM is paused or gone). */
async function act(action: "log" | "pause" | "kill", qmp: QmpClient, run: RunRecorder) {
  if (action === "pause") {
    await qmp.execute("stop");
    const st = await qmp.execute<{ status: string }>("query-status");
    console.error(`virtav: VM paused (QMP status: ${st.status})`);
    run.event("action", { action: "pause", status: st.status });
    return true;
  }
  if (action === "kill") {
    await qmp.execute("quit").catch(() => {});
    console.error("virtav: VM killed (QMP quit)");
    run.event("action", { action: "kill" });
    return true;
  }
  return false;
}
