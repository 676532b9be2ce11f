/**
 * The reading options (`--format`, `--skip-bad`, `--device`) of the `trace` subcommands.
 *
 * @module
 */
import { traceFormat } from "./trace_options.ts";

/** `--format`, `--skip-bad`, `--device` as commander parses them. */
export interface TraceReadOptions {
  format?: string;
  skipBad: boolean;
  device?: string;
}

/** The reader's options from the command line's. */
export function readOpts(opts: TraceReadOptions) {
  return { format: traceFormat(opts.format), skipBad: opts.skipBad, device: opts.device };
}
