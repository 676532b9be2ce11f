/**
 * Per-export figures of `serve --export ...`: the rows of the SIGUSR1 and shutdown tables, the
 * JSON output, and the metrics for the results store (labelled `export=NAME`).
 *
 * @module
 */
import type { ExportStack } from "./export_stack.ts";

/** One export's figures as a flat row. */
export function exportRows(
  stack: ExportStack,
  cached = stack.bytesCached(),
): Record<string, string | number>[] {
  const io = stack.deviceIo();
  return stack.ledger.exports.map((f, i) => {
    const l = f.latency;
    return {
      export: f.name,
      requests: f.requests,
      reads: f.reads,
      writes: f.writes,
      flushes: f.flushes,
      errors: f.errors,
      accesses: f.accesses,
      hits: f.hits,
      hit_ratio: f.accesses ? Number((f.hits / f.accesses).toFixed(4)) : 0,
      bytes_cached: cached[i],
      evictions_caused: f.evictionsCaused,
      evictions_suffered: f.evictionsSuffered,
      device_reads: io[i].reads,
      device_writes: io[i].writes,
      device_bytes: io[i].readBytes + io[i].writeBytes,
      p50_us: Math.round(l.percentile(50) / 1e3),
      p99_us: Math.round(l.percentile(99) / 1e3),
    };
  });
}

/** The per-export table: header and rows, for formatTable. */
export function exportTable(stack: ExportStack, cached?: number[]): [string[], unknown[][]] {
  const rows = exportRows(stack, cached);
  return [Object.keys(rows[0]), rows.map((r) => Object.values(r))];
}

/** Writes each export's figures as metrics labelled with its name (`prefix` e.g. `live_`). */
export function recordExportFigures(
  run: { metric(name: string, value: number, unit: string, labels: Record<string, string>): void },
  stack: ExportStack,
  labels: Record<string, string>,
  prefix: string,
  cached?: number[],
): void {
  for (const row of exportRows(stack, cached)) {
    const l = { ...labels, export: String(row.export) };
    for (const [k, v] of Object.entries(row)) {
      if (k === "export") continue;
      const unit = k.endsWith("_us") ? "us" : k.includes("bytes") ? "B" : "";
      run.metric(`${prefix}export_${k}`, Number(v), unit, l);
    }
  }
}
