/**
 * Options shared by the subcommands that read a trace: `--format` and `--skip-bad`.
 *
 * @module
 */
import { UsageError } from "../../lib/cli/mod.ts";
import { isTraceFormat, TRACE_FORMATS, type TraceFormat } from "../../lib/trace/read_trace.ts";
import { TraceFormatError } from "../../lib/trace/jsonl.ts";
import { CompressedTraceError } from "../../lib/trace/decompress.ts";
import { ToolError } from "../../lib/cli/mod.ts";

/** Checks a `--format` value (undefined = detect). */
export function traceFormat(v: string | undefined): TraceFormat | undefined {
  if (v === undefined || v === "auto") return undefined;
  if (!isTraceFormat(v)) {
    throw new UsageError(
      `--format: unknown format '${v}' (known: auto, ${TRACE_FORMATS.join(", ")})`,
    );
  }
  return v;
}

/** Turns a malformed-trace error into a one-line tool error naming the file. */
export async function namingTrace<T>(path: string, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (e) {
    if (e instanceof TraceFormatError) {
      throw new ToolError(`${path}: ${e.message} (use --skip-bad to count and skip bad lines)`);
    }
    if (e instanceof CompressedTraceError) throw new ToolError(`${path}: ${e.message}`);
    if (e instanceof Deno.errors.NotFound) throw new ToolError(`${path}: no such file`);
    throw e;
  }
}

/** The `--device` option's help (sim, mrc, trace convert|stats|head). */
export const DEVICE_HELP =
  "keep only this device or volume (the record's dev: Alibaba device_id, Tencent volumeId, " +
  "MSR host_disk, blkparse major,minor)";
