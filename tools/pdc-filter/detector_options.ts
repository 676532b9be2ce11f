/**
 * The options `classify` and `eval` share for choosing the exact journal map: `--image` (locate
 * it now) or `--ranges` (a file saved by `locate -o`).
 *
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import { namedParser, parseCount, readLines, ToolError, UsageError } from "../../lib/cli/mod.ts";
import type { IoRecord } from "../../lib/trace/io_record.ts";
import { parseRecordLine, TraceFormatError } from "../../lib/trace/jsonl.ts";
import { openTraceInput } from "../../lib/trace/decompress.ts";
import { MAX_LINE_CHARS } from "../../lib/trace/limits.ts";
import type { ByteRange } from "../../lib/pdc/byte_range.ts";
import { ImageFormatError } from "../../lib/pdc/image_reader.ts";
import { locateJournalInFile } from "../../lib/pdc/locate.ts";
import { parseRangesJson } from "../../lib/pdc/ranges_file.ts";
import { describeFsError, noteInput } from "../../lib/cli/stream_io.ts";

/**
 * Adds the options `classify` and `eval` share: the exact journal map (`--image` or `--ranges`,
 * `role` saying what it is for there) and the heuristic's `--confirm`, typed as a count.
 */
export function withDetectorOptions<
  A extends unknown[],
  O extends Record<string, unknown>,
  G extends Record<string, unknown>,
>(cmd: Command<A, O, G>, role: string) {
  return cmd
    .option("--image <file>", `raw image to locate the journal in (${role})`)
    .option("--ranges <file>", `journal ranges saved by \`pdc-filter locate -o\` (${role})`)
    .option(
      "--confirm <n>",
      "heuristic: commits before a stream counts as a journal",
      namedParser("--confirm", parseCount),
      1,
    );
}

/**
 * The I/O records of a JSON-lines trace (`-` = stdin; gzip, zstd or xz decompressed), blank
 * lines skipped; opening it fails now, a bad line is a one-line ToolError naming the trace and
 * the line when it is reached.
 */
export async function readRecords(trace: string): Promise<AsyncIterable<IoRecord>> {
  const input = await openTraceInput(trace);
  return (async function* () {
    for await (const { line, n } of readLines(input, MAX_LINE_CHARS)) {
      if (line.trim() === "") continue;
      try {
        yield parseRecordLine(line, n);
      } catch (e) {
        if (e instanceof TraceFormatError) throw new ToolError(`${trace}: ${e.message}`);
        throw e;
      }
    }
  })();
}

/** Notes the image as an input, so `-o` naming it is refused (it would destroy the image). */
function noteImage(path: string): void {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch {
    return; // locateJournalInFile reports it
  }
  try {
    noteInput(path, file);
  } finally {
    try {
      file.close();
    } catch { /* noteInput closed it */ }
  }
}

/** Reads the exact journal ranges from `--image` or `--ranges`; undefined when neither given. */
export async function exactRanges(
  opts: { image?: string; ranges?: string },
): Promise<ByteRange[] | undefined> {
  if (opts.image !== undefined && opts.ranges !== undefined) {
    throw new UsageError("give --image or --ranges, not both");
  }
  if (opts.ranges !== undefined) {
    let text: string;
    try {
      text = await Deno.readTextFile(opts.ranges);
    } catch (e) {
      throw new ToolError(`${opts.ranges}: ${describeFsError(e)}`);
    }
    try {
      return parseRangesJson(text, opts.ranges);
    } catch (e) {
      throw new ToolError((e as Error).message);
    }
  }
  if (opts.image !== undefined) return (await locateImage(opts.image)).ranges;
  return undefined;
}

/** Locates the journal in an image file, turning every failure into a one-line ToolError. */
export async function locateImage(path: string) {
  noteImage(path);
  try {
    const loc = await locateJournalInFile(path);
    return loc;
  } catch (e) {
    if (e instanceof ImageFormatError) throw new ToolError(`${path}: ${e.message}`);
    throw new ToolError(`${path}: ${describeFsError(e)}`);
  }
}
