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
import { Scanner } from "../../lib/virtav/scanner.ts";
import { ExecWatcher } from "../../lib/virtav/exec_watcher.ts";
import { hexAddr } from "../../lib/virtav/page_walker.ts";
import {
  detectionJson,
  detectionLine,
  engineOption,
  loadEngine,
  recordDetections,
} from "./scan.ts";
import { clamscanNamesOption, type SigOptions, sigOptions } from "./signatures.ts";

/** CR3s remembered (a process's page tables are walked while it is off-CPU too). */
const MAX_CR3 = 16;

/** Adds `virtav watch`. */
export function addWatchCommand(program: Command) {
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
  for (const o of sigOptions) cmd.addOption(o);
  cmd.addOption(clamscanNamesOption);
  addExamples(cmd, [
    "virtav watch --qmp /run/vm.qmp --ram /dev/shm/vm.ram -d sigs.ndb --action pause",
    "virtav watch --engine clamav --qmp /run/vm.qmp --ram /dev/shm/vm.ram -d main.cvd",
  ]);
  cmd.action(async (cliOpts) => {
    const opts = cliOpts as typeof cliOpts & SigOptions;
    const interval = parseOption("--interval", opts.interval, parseDuration);
    const duration = opts.duration !== undefined
      ? parseOption("--duration", opts.duration, parseDuration)
      : Infinity;
    const lowmem = opts.lowmem !== undefined
      ? parseOption("--lowmem", opts.lowmem, parseSize)
      : undefined;
    const json = opts.output === "json";
    let detected = 0;
    await withRun(opts, { tool: "virtav", command: "watch", args: opts }, async (run) => {
      const engine = await loadEngine({ ...opts, memory: true }, run);
      const qmp = await QmpClient.connect(opts.qmp, { timeoutMs: 10_000 }).catch((e) => {
        throw new ToolError(`cannot attach to QMP at ${opts.qmp}: ${(e as Error).message}`);
      });
      const mem = openGuestMemory(opts.ram, { format: "raw", lowmem });
      const scanner = new Scanner(engine.matcher, engine.hashes, { allMatch: opts.allMatches });
      const watcher = new ExecWatcher(scanner, mem, opts.ram);
      const lastSeen = new Map<bigint, { pass: number; la57: boolean; nxe: boolean }>();
      const started = performance.now();
      try {
        for (let pass = 1;; pass++) {
          const t0 = performance.now();
          let paging: CpuPaging[];
          try {
            paging = await readPaging(qmp);
          } catch (e) {
            throw new ToolError(`QMP: ${(e as Error).message} (has the VM gone?)`);
          }
          for (const p of paging) {
            if (p.paging) lastSeen.set(p.cr3, { pass, la57: p.la57, nxe: p.nxe });
          }
          // Keep the most recently seen CR3s only.
          const cr3s = [...lastSeen].sort((a, b) => b[1].pass - a[1].pass);
          for (const [cr3] of cr3s.slice(MAX_CR3)) {
            lastSeen.delete(cr3);
            watcher.forget(cr3);
          }
          let rescanned = 0, bytes = 0, pages = 0;
          const found = [];
          for (const [cr3, s] of cr3s.slice(0, MAX_CR3)) {
            let r;
            try {
              r = watcher.pass(cr3, { la57: s.la57, ignoreNx: !s.nxe });
            } catch (e) {
              // The page table was freed and reused, or is outside RAM: forget this CR3.
              run.event("cr3_dropped", { cr3: hexAddr(cr3), message: (e as Error).message });
              lastSeen.delete(cr3);
              watcher.forget(cr3);
              continue;
            }
            rescanned += r.unitsRescanned;
            bytes += r.bytesRescanned;
            pages += r.pagesHashed;
            for (const d of r.detections) found.push({ d, cr3 });
          }
          const ms = performance.now() - t0;
          run.metric("pass_ms", ms, "ms", { pass, cr3s: Math.min(cr3s.length, MAX_CR3) });
          run.metric("pass_bytes_rescanned", bytes, "B", { pass });
          if (!opts.quiet && (pass === 1 || found.length)) {
            console.error(
              `virtav: pass ${pass}: ${
                Math.min(cr3s.length, MAX_CR3)
              } CR3s, ${pages} executable pages hashed, ` +
                `${rescanned} runs (${(bytes / 2 ** 20).toFixed(1)} MiB) rescanned in ${
                  ms.toFixed(1)
                } ms`,
            );
          }
          if (found.length) {
            detected += found.length;
            recordDetections(run, found.map((f) => f.d), "watch");
            for (const { d, cr3 } of found) {
              console.log(
                json
                  ? JSON.stringify({ ...detectionJson(d), cr3: hexAddr(cr3) })
                  : detectionLine(d),
              );
              run.event("detection", { ...detectionJson(d), cr3: hexAddr(cr3) });
            }
            if (opts.action === "pause") {
              await qmp.execute("stop");
              const st = await qmp.execute<{ status: string }>("query-status");
              console.error(`virtav: VM paused (QMP status: ${st.status})`);
              run.event("action", { action: "pause", status: st.status });
              break;
            }
            if (opts.action === "kill") {
              await qmp.execute("quit").catch(() => {});
              console.error("virtav: VM killed (QMP quit)");
              run.event("action", { action: "kill" });
              break;
            }
          }
          if (opts.passes !== undefined && pass >= opts.passes) break;
          if (performance.now() - started + interval > duration) break;
          await new Promise((r) => setTimeout(r, interval));
        }
      } finally {
        qmp.close();
        mem.file.close();
        engine.close();
      }
      run.metric("detections", detected);
    });
    if (detected > 0) Deno.exit(1);
  });
  return cmd;
}
