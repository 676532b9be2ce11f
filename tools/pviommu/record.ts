/**
 * `pviommu record`: boots the test guest behind QEMU's emulated IOMMU, runs a disk workload
 * whose buffers the guest kernel maps and unmaps through its DMA API, imports QEMU's IOMMU
 * trace events as audit events, writes them (JSON lines) and audits them.
 *
 * @module
 */
import { type Command, Option } from "@commander-js/extra-typings";
import {
  addExamples,
  LineWriter,
  openOutput,
  parseDuration,
  parseSize,
  Progress,
  ToolError,
  UsageError,
  withCommonOptions,
  withRun,
} from "../../lib/cli/mod.ts";
import { Auditor, type AuditReport } from "../../lib/pviommu/audit.ts";
import { formatAuditEvent } from "../../lib/pviommu/audit_event.ts";
import { recordGuest, type Recording } from "../../lib/pviommu/recorder.ts";
import { virtioIommuSupport } from "../../lib/pviommu/virtio_iommu_support.ts";
import { formatReport, violationRows, VIOLATIONS_TABLE } from "./audit.ts";
import { toJson64 } from "../../lib/pviommu/json64.ts";

function parseArgs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of text.split(",").filter(Boolean)) {
    const m = /^([a-z0-9_]+)=([A-Za-z0-9_.:/+-]*)$/.exec(kv);
    if (!m) throw new UsageError(`--args: expected k=v[,k=v...], got ${JSON.stringify(kv)}`);
    out[m[1]] = m[2];
  }
  return out;
}

/** Adds `record`. */
export function addRecordCommand(program: Command): void {
  const cmd = withCommonOptions(
    program.command("record")
      .description(
        "boot the test guest behind QEMU's IOMMU, record its DMA maps/unmaps/translations, audit them",
      )
      .addOption(
        new Option("--iommu <kind>", "the IOMMU QEMU emulates").choices(
          ["intel", "virtio"] as const,
        ).default("intel" as const),
      )
      .option("--workload <name>", "guest workload (lib/qemu: fsync-small, read-hot, mixed, boot)")
      .option("--args <list>", "workload parameters k=v,k=v (default files=20 for fsync-small)")
      .option("--disk-size <size>", "scratch ext4 disk behind the IOMMU", parseSize, 32 << 20)
      .option("--mem <size>", "guest RAM", parseSize, 256 << 20)
      .option("--timeout <duration>", "hard limit for the guest run", parseDuration, 120_000)
      .addOption(
        new Option("--accel <accel>", "QEMU accelerator").choices(["auto", "kvm", "tcg"] as const),
      )
      .option("--trace <file>", "keep QEMU's raw trace in FILE")
      .option("-o, --output-file <file>", "audit events (JSON lines); default stdout")
      .addOption(
        new Option("--invalidation <mode>", "IOTLB invalidation of the audit").choices(
          ["strict", "deferred"] as const,
        ).default("strict" as const),
      )
      .option("--violations <file>", "write each violation as a JSON line to FILE")
      .option("--fail-on-violation", "exit 1 when any violation is found", false),
  );
  addExamples(cmd, [
    "pviommu record -o events.jsonl",
    "pviommu record --workload mixed --args ops=200 --trace qemu-vtd.log -o events.jsonl",
  ]);
  cmd.action(async (opts) => {
    if (opts.iommu === "virtio") {
      const s = await virtioIommuSupport();
      if (!s.ok) throw new ToolError(`--iommu virtio: ${s.detail}`);
    }
    const workload = opts.workload ?? "fsync-small";
    const workloadArgs = opts.args !== undefined
      ? parseArgs(opts.args)
      : workload === "fsync-small"
      ? { files: "20" }
      : {};
    if (opts.mem % (1 << 20) !== 0) throw new UsageError("--mem: a whole number of MiB");
    await withRun(
      opts,
      { tool: "pviommu", command: "record", args: { ...opts, workload, workloadArgs } },
      async (run) => {
        const { rec, auditor } = await recordAndAudit(opts, workload, workloadArgs);
        const r = auditor.report();
        run.rows(VIOLATIONS_TABLE, violationRows(auditor.violations()));
        const labels = { iommu: opts.iommu, workload, accel: rec.guest.accel };
        run.metric("record.trace_lines", rec.imported.lines, "", labels);
        run.metric("record.events", rec.events, "", labels);
        for (const [op, k] of Object.entries(r.ops)) run.metric(`record.${op}`, k, "", labels);
        run.metric("record.guest_ms", rec.guest.ms, "ms", labels);
        run.metric("violations", r.violations, "", labels);
        run.event("record.guest", { argv: rec.argv, results: rec.guest.results });
        const text = summaryText(rec, r, opts.output);
        // The report is the result on stdout (-q silences only stderr); when the events go to
        // stdout it goes to stderr, and there -q silences it.
        const toStdout = opts.outputFile === undefined || opts.outputFile === "-";
        if (!toStdout) console.log(text);
        else if (opts.output === "json" || !opts.quiet) console.error(text);
        if (opts.failOnViolation && r.violations > 0) {
          throw new ToolError(`${r.violations} violation(s)`);
        }
      },
    );
  });
}

/**
 * Boots the guest, writes each imported event to `-o` (and each violation to `--violations`)
 * as it arrives, and audits them.
 */
async function recordAndAudit(
  opts: {
    iommu: string;
    mem: number;
    invalidation: "strict" | "deferred";
    outputFile?: string;
    violations?: string;
    quiet: boolean;
    diskSize: number;
    timeout: number;
    accel?: "auto" | "kvm" | "tcg";
    trace?: string;
  },
  workload: string,
  workloadArgs: Record<string, string>,
): Promise<{ rec: Recording; auditor: Auditor }> {
  const auditor = new Auditor({ guestPhysSize: opts.mem, iotlb: { mode: opts.invalidation } });
  const out = new LineWriter(await openOutput(opts.outputFile));
  const viol = opts.violations !== undefined
    ? new LineWriter(await openOutput(opts.violations))
    : null;
  const pending: string[] = [];
  auditor.onViolation = (v) => void pending.push(toJson64(v));
  const progress = new Progress({ quiet: opts.quiet });
  progress.update(`booting the guest (${workload}) behind ${opts.iommu}-iommu`);
  let n = 0;
  const rec = await recordGuest({
    workload,
    workloadArgs,
    diskBytes: opts.diskSize,
    memMiB: opts.mem / (1 << 20),
    timeoutMs: opts.timeout,
    accel: opts.accel,
    traceFile: opts.trace,
    onEvent: async (ev) => {
      n++;
      await out.write(formatAuditEvent(ev));
      auditor.apply(ev, n);
      if (viol) { for (const p of pending.splice(0)) await viol.write(p); }
      else pending.length = 0;
    },
  });
  progress.done();
  await out.close();
  await viol?.close();
  return { rec, auditor };
}

/** The run's summary: one JSON object, or the guest, trace and audit lines. */
function summaryText(rec: Recording, r: AuditReport, output: "text" | "json"): string {
  if (output === "json") {
    return JSON.stringify({
      accel: rec.guest.accel,
      guestMs: Math.round(rec.guest.ms),
      results: rec.guest.results,
      traceLines: rec.imported.lines,
      traceLinesUsed: rec.imported.used,
      events: rec.events,
      audit: r,
    });
  }
  return [
    `guest: ${rec.guest.accel}, ${(rec.guest.ms / 1000).toFixed(1)} s, ` +
    rec.guest.results.map((x) => JSON.stringify(x)).join(" "),
    `trace: ${rec.imported.lines} lines (${rec.imported.used} used) -> ${rec.events} events`,
    formatReport(r),
  ].join("\n");
}
