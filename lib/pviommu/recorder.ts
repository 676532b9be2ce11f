/**
 * Records a real guest's IOMMU traffic: boots the hvkit test guest (lib/qemu) behind QEMU's
 * emulated intel-iommu with its virtio-blk disk behind the IOMMU (`iommu_platform=on`), so
 * the guest kernel's own DMA API maps and unmaps every buffer the disk reads and writes, and
 * has QEMU write its IOMMU trace events to a file. `importTrace` then turns that file into
 * audit events (qemu_trace.ts).
 *
 * The setup that works with QEMU 7.2 and Debian's 6.1 kernel (under TCG here):
 * `-device intel-iommu,intremap=off,caching-mode=on` (caching mode: the guest invalidates
 * after every MAP too, so QEMU sees maps as well as unmaps), kernel `intel_iommu=on
 * iommu.strict=1` (an UNMAP is invalidated at once, not batched by the flush queue), disk
 * `iommu_platform=on,disable-legacy=on` (a modern-only virtio device that honours the IOMMU).
 *
 * @module
 */
import { readLines } from "../cli/stream_io.ts";
import { buildGuest, type GuestOutcome, launchGuest } from "../qemu/mod.ts";
import type { AuditEvent } from "./audit_event.ts";
import { type ImportStats, VtdTraceImporter } from "./qemu_trace.ts";

/** The QEMU trace events the importer reads (log backend). */
export const VTD_TRACE_EVENTS: readonly string[] = [
  "vtd_iotlb_page_update",
  "vtd_iotlb_page_hit",
  "vtd_inv_desc_iotlb_pages",
  "vtd_inv_desc_iotlb_domain",
  "vtd_inv_desc_iotlb_global",
];

/** The QEMU device and kernel words of the intel-iommu setup. */
export const VTD_QEMU_DEVICE = "intel-iommu,intremap=off,caching-mode=on";
export const VTD_KERNEL_ARGS: readonly string[] = ["intel_iommu=on", "iommu.strict=1"];
export const IOMMU_DISK_PROPS = "iommu_platform=on,disable-legacy=on";

/** What to record. */
export interface RecordOptions {
  /** Guest workload (default `fsync-small`: disk writes, fsyncs, reads back). */
  workload?: string;
  workloadArgs?: Record<string, string | number | boolean>;
  /** Size of the scratch ext4 disk in bytes (default 32 MiB). */
  diskBytes?: number;
  /** Where QEMU writes the raw trace (default: a temporary file, removed afterwards). */
  traceFile?: string;
  /** Guest RAM in MiB (default 256). */
  memMiB?: number;
  /** Hard limit for the guest run (default 120 s). */
  timeoutMs?: number;
  /** `auto`, `kvm` or `tcg` (default: the launcher's choice). */
  accel?: "auto" | "kvm" | "tcg";
  /** Called with each audit event as the trace is imported. */
  onEvent?: (ev: AuditEvent) => void | Promise<void>;
}

/** What a recording produced. */
export interface Recording {
  guest: GuestOutcome;
  /** QEMU's command line. */
  argv: string[];
  /** Import counters (trace lines read, used, skipped). */
  imported: ImportStats;
  /** Audit events produced. */
  events: number;
  /** Bytes of raw trace QEMU wrote. */
  traceBytes: number;
}

/**
 * Boots the guest with the intel-iommu setup, runs the workload on a scratch ext4 disk and
 * imports QEMU's IOMMU trace. Cleans up QEMU, the disk and (unless `traceFile`) the trace.
 *
 * @example
 * ```ts
 * import { recordGuest } from "./recorder.ts";
 * const events: unknown[] = [];
 * const r = await recordGuest({ workloadArgs: { files: 20 }, onEvent: (e) => void events.push(e) });
 * console.log(r.events, r.guest.results);
 * ```
 */
export async function recordGuest(opts: RecordOptions = {}): Promise<Recording> {
  const guest = await buildGuest();
  const tmp = await Deno.makeTempDir({ prefix: "pviommu-record-" });
  try {
    const disk = `${tmp}/disk.img`;
    const eventsFile = `${tmp}/trace-events.txt`;
    const trace = opts.traceFile ?? `${tmp}/qemu-trace.log`;
    await Deno.writeTextFile(eventsFile, VTD_TRACE_EVENTS.join("\n") + "\n");
    await makeExt4(disk, opts.diskBytes ?? 32 << 20);
    await Deno.writeTextFile(trace, "");
    const vm = await launchGuest({
      guest,
      diskImage: disk,
      diskDeviceProps: IOMMU_DISK_PROPS,
      workload: opts.workload ?? "fsync-small",
      workloadArgs: opts.workloadArgs ?? { files: 20 },
      memMiB: opts.memMiB,
      timeoutMs: opts.timeoutMs ?? 120_000,
      accel: opts.accel,
      extraQemuArgs: [
        "-device",
        VTD_QEMU_DEVICE,
        "-trace",
        `events=${eventsFile}`,
        "-D",
        trace,
        "-msg",
        "timestamp=on",
      ],
      kernelArgs: [...VTD_KERNEL_ARGS],
    });
    let outcome: GuestOutcome;
    try {
      outcome = await vm.wait();
    } finally {
      await vm.kill();
    }
    const imported = await importTraceFile(trace, opts.onEvent);
    return {
      guest: outcome,
      argv: vm.argv,
      imported: imported.stats,
      events: imported.events,
      traceBytes: (await Deno.stat(trace)).size,
    };
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

/** Imports a QEMU intel-iommu trace file, calling `onEvent` for each audit event. */
export async function importTraceFile(
  path: string,
  onEvent?: (ev: AuditEvent) => void | Promise<void>,
): Promise<{ stats: ImportStats; events: number }> {
  const imp = new VtdTraceImporter();
  let events = 0;
  const file = await Deno.open(path);
  for await (const { line } of readLines(file.readable)) {
    for (const ev of imp.line(line)) {
      events++;
      await onEvent?.(ev);
    }
  }
  return { stats: imp.stats, events };
}

async function makeExt4(path: string, bytes: number): Promise<void> {
  const f = await Deno.open(path, { create: true, write: true, truncate: true });
  try {
    await f.truncate(bytes);
  } finally {
    f.close();
  }
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("/sbin/mkfs.ext4", {
      args: ["-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", path],
      stdout: "null",
      stderr: "piped",
    }).output();
  } catch {
    throw new Error("cannot run /sbin/mkfs.ext4: install the Debian package e2fsprogs");
  }
  if (!out.success) {
    throw new Error(`mkfs.ext4 failed: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
}
