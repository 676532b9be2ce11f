/**
 * `pviommu audit TRACE` and `pviommu import QEMU-TRACE`: replay map/unmap/DMA events and
 * report every violation; convert QEMU intel-iommu trace events to that format.
 *
 * @module
 */
import { type Command, InvalidArgumentError, Option } from "@commander-js/extra-typings";
import {
  addExamples,
  LineWriter,
  openInput,
  openOutput,
  parseSize,
  readLines,
  ToolError,
  withCommonOptions,
  withRun,
} from "../../lib/cli/mod.ts";
import { Auditor, type AuditReport, type Violation } from "../../lib/pviommu/audit.ts";
import {
  AuditFormatError,
  formatAuditEvent,
  parseAuditLine,
} from "../../lib/pviommu/audit_event.ts";
import { VtdTraceImporter } from "../../lib/pviommu/qemu_trace.ts";
import { toJson64 } from "../../lib/pviommu/json64.ts";
import { MAX_PAGE_SIZE, MIN_PAGE_SIZE } from "../../lib/pviommu/iommu.ts";
import type { TableSpec } from "../../lib/results/mod.ts";

/** The store table of audit violations. */
export const VIOLATIONS_TABLE: TableSpec = {
  name: "pviommu_violations",
  columns: [
    ["line", "BIGINT"],
    ["kind", "VARCHAR"],
    ["op", "VARCHAR"],
    ["endpoint", "BIGINT"],
    ["domain", "BIGINT"],
    ["iova", "UBIGINT"],
    ["len", "HUGEINT"],
    ["detail", "VARCHAR"],
    ["unmapped_at", "BIGINT"],
    ["served", "BOOLEAN"],
  ],
};

/** Violations as rows of {@linkcode VIOLATIONS_TABLE}. */
export function violationRows(violations: Violation[]): unknown[][] {
  return violations.map((v) => [
    v.line,
    v.kind,
    v.op,
    v.endpoint ?? null,
    v.domain ?? null,
    v.iova ?? null,
    v.len ?? null,
    v.detail,
    v.unmappedAt ?? null,
    v.served ?? null,
  ]);
}

/** A violation as one JSON line: 64-bit fields as numbers, or hex strings past 2^53 - 1. */
export function violationJson(v: Violation): string {
  return toJson64(v);
}

function parsePageSize(text: string): number {
  const v = parseSize(text);
  if (v === 0 || (v & (v - 1)) !== 0) {
    throw new InvalidArgumentError(`not a power of two: ${text}`);
  }
  if (v < MIN_PAGE_SIZE || v > MAX_PAGE_SIZE) {
    throw new InvalidArgumentError(`not from ${MIN_PAGE_SIZE} to ${MAX_PAGE_SIZE}: ${text}`);
  }
  return v;
}

/** Prints an audit summary as text. */
export function formatReport(r: AuditReport): string {
  const lines = [
    `events ${r.events} (attach ${r.ops.attach}, detach ${r.ops.detach}, map ${r.ops.map}, unmap ${r.ops.unmap}, dma ${r.ops.dma}; ${r.dmaBytes} DMA bytes)`,
    `violations ${r.violations}: request ${r.byKind.request}, fault ${r.byKind.fault}, use-after-unmap ${
      r.byKind["use-after-unmap"]
    }`,
  ];
  for (const [k, n] of Object.entries(r.requestErrors)) lines.push(`  request ${k}: ${n}`);
  for (const [k, n] of Object.entries(r.faults)) lines.push(`  fault ${k}: ${n}`);
  const t = r.iotlb;
  lines.push(
    `iotlb ${t.mode}: hits ${t.hits}, misses ${t.misses}, stale hits ${t.staleHits}, invalidations ${t.invalidations}` +
      (t.mode === "deferred"
        ? `, stale window max ${(t.maxWindowNs / 1e6).toFixed(3)} ms mean ${
          (t.meanWindowNs / 1e6).toFixed(3)
        } ms`
        : ""),
  );
  return lines.join("\n");
}

/** Adds `audit` and `import`. */
export function addAuditCommands(program: Command): void {
  addAuditCommand(program);
  addImportCommand(program);
}

/** Applies every event of `file` to the auditor, writing violations to `out` as they happen. */
async function replayEvents(file: string, a: Auditor, out: LineWriter | null): Promise<void> {
  const pending: string[] = [];
  a.onViolation = (v) => pending.push(violationJson(v));
  for await (const { line, n } of readLines(await openInput(file))) {
    if (line.trim() === "") continue;
    try {
      a.apply(parseAuditLine(line, n), n);
    } catch (e) {
      if (e instanceof AuditFormatError) throw new ToolError(`${file}: ${e.message}`);
      throw e;
    }
    if (out) { for (const p of pending.splice(0)) await out.write(p); }
    else pending.length = 0;
  }
}

function addAuditCommand(program: Command): void {
  const audit = withCommonOptions(
    program.command("audit")
      .description(
        "replay attach/detach/map/unmap/dma events (JSON lines) and report every violation",
      )
      .argument("<trace>", "events file, - for stdin")
      .addOption(
        new Option("--invalidation <mode>", "IOTLB invalidation").choices(
          ["strict", "deferred"] as const,
        )
          .default("strict" as const),
      )
      .option("--guest-ram <size>", "guest-physical memory size: maps past it are FAULT", parseSize)
      .option(
        "--page-size <size>",
        "page granularity (a power of two, 4K to 1G)",
        parsePageSize,
        4096,
      )
      .option("--bypass", "unattached endpoints bypass translation (config field bypass=1)", false)
      .option("--violations <file>", "write each violation as a JSON line to FILE (- = stdout)")
      .option("--fail-on-violation", "exit 1 when any violation is found", false),
  );
  addExamples(audit, [
    "pviommu audit fixtures/pviommu/violations.jsonl",
    "pviommu import trace.log | pviommu audit --invalidation deferred --violations - -",
  ]);
  audit.action(async (file, opts) => {
    await withRun(
      opts,
      { tool: "pviommu", command: "audit", args: { file, ...opts } },
      async (run) => {
        const a = new Auditor({
          pageSize: opts.pageSize,
          guestPhysSize: opts.guestRam,
          bypass: opts.bypass,
          iotlb: { mode: opts.invalidation },
        });
        const out = opts.violations !== undefined
          ? new LineWriter(await openOutput(opts.violations))
          : null;
        await replayEvents(file, a, out);
        await out?.close();
        const r = a.report();
        run.rows(VIOLATIONS_TABLE, violationRows(a.violations()));
        const labels = { invalidation: opts.invalidation };
        run.metric("events", r.events, "", labels);
        run.metric("violations", r.violations, "", labels);
        for (const [k, n] of Object.entries(r.byKind)) run.metric(`violations.${k}`, n, "", labels);
        run.metric("iotlb.stale_hits", r.iotlb.staleHits, "", labels);
        run.metric("iotlb.stale_window_max", r.iotlb.maxWindowNs, "ns", labels);
        run.metric("iotlb.stale_window_mean", r.iotlb.meanWindowNs, "ns", labels);
        const text = opts.output === "json" ? JSON.stringify(r) : formatReport(r);
        // The report is the result on stdout (-q silences only stderr); with --violations -
        // it goes to stderr so stdout stays JSON lines, and there -q silences it.
        if (opts.violations !== "-") console.log(text);
        else if (opts.output === "json" || !opts.quiet) console.error(text);
        if (opts.failOnViolation && r.violations > 0) {
          throw new ToolError(`${r.violations} violation(s)`);
        }
      },
    );
  });
}

function addImportCommand(program: Command): void {
  const imp = program.command("import")
    .description("convert QEMU intel-iommu trace events (-trace 'vtd_*') to audit events")
    .argument("<trace>", "QEMU trace log, - for stdin")
    .option("-o, --output-file <file>", "events file (default stdout)");
  addExamples(imp, ["pviommu import qemu-trace.log -o events.jsonl"]);
  imp.action(async (file, opts) => {
    const imp = new VtdTraceImporter();
    const out = new LineWriter(await openOutput(opts.outputFile));
    let n = 0;
    for await (const { line } of readLines(await openInput(file))) {
      for (const ev of imp.line(line)) {
        await out.write(formatAuditEvent(ev));
        n++;
      }
    }
    await out.close();
    if (imp.stats.lines > 0 && imp.stats.used === 0) {
      throw new ToolError(`${file}: no intel-iommu (vtd_*) events in ${imp.stats.lines} lines`);
    }
    console.error(`pviommu: ${n} events from ${imp.stats.used} of ${imp.stats.lines} trace lines`);
  });
}
