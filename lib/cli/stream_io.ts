import { ToolError } from "./errors.ts";

/**
 * Opens a path for reading; `-` is standard input. A missing file is a one-line ToolError.
 *
 * @example
 * ```ts
 * import { openInput } from "./stream_io.ts";
 * const input = await openInput("-");
 * ```
 */
export async function openInput(path: string): Promise<ReadableStream<Uint8Array>> {
  if (path === "-") return Deno.stdin.readable;
  try {
    const st = await Deno.stat(path);
    if (st.isDirectory) throw new ToolError(`${path}: is a directory`);
    return (await Deno.open(path, { read: true })).readable;
  } catch (e) {
    if (e instanceof ToolError) throw e;
    throw new ToolError(`${path}: ${describeFsError(e)}`);
  }
}

/** Opens an output: a file path, or standard output when the path is absent or `-`. */
export async function openOutput(path?: string): Promise<WritableStream<Uint8Array>> {
  if (path === undefined || path === "-") return stdoutStream();
  try {
    return (await Deno.open(path, { write: true, create: true, truncate: true })).writable;
  } catch (e) {
    throw new ToolError(`${path}: ${describeFsError(e)}`);
  }
}

/** Standard output as a stream that is not closed when the writer closes (others may write). */
function stdoutStream(): WritableStream<Uint8Array> {
  return new WritableStream({
    async write(chunk) {
      let off = 0;
      while (off < chunk.length) off += await Deno.stdout.write(chunk.subarray(off));
    },
  });
}

/** A short reason for a file-system error: `no such file`, `permission denied`, ... */
export function describeFsError(e: unknown): string {
  if (e instanceof Deno.errors.NotFound) return "no such file or directory";
  if (e instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (e instanceof Deno.errors.IsADirectory) return "is a directory";
  if (e instanceof Deno.errors.AlreadyExists) return "already exists";
  return (e as Error).message?.split("\n")[0] ?? String(e);
}

/**
 * Reads text lines from a byte stream, with 1-based line numbers; handles a missing final
 * newline and CRLF.
 */
export async function* readLines(
  stream: ReadableStream<Uint8Array>,
): AsyncGenerator<{ line: string; n: number }> {
  const decoder = stream.pipeThrough(new TextDecoderStream());
  let rest = "";
  let n = 0;
  for await (const chunk of decoder) {
    rest += chunk;
    let i: number;
    while ((i = rest.indexOf("\n")) >= 0) {
      const line = rest.slice(0, i);
      rest = rest.slice(i + 1);
      yield { line: line.endsWith("\r") ? line.slice(0, -1) : line, n: ++n };
    }
  }
  if (rest !== "") yield { line: rest, n: ++n };
}

/** A buffered line writer over a stream; call `close()` (or `flush()`) at the end. */
export class LineWriter {
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #buf: string[] = [];
  #size = 0;
  #enc = new TextEncoder();
  constructor(stream: WritableStream<Uint8Array>) {
    this.#writer = stream.getWriter();
  }
  /** Queues one line (a newline is added); flushes every 64 KiB. */
  async write(line: string): Promise<void> {
    this.#buf.push(line, "\n");
    this.#size += line.length + 1;
    if (this.#size >= 65536) await this.flush();
  }
  async flush(): Promise<void> {
    if (this.#buf.length === 0) return;
    const text = this.#buf.join("");
    this.#buf = [];
    this.#size = 0;
    try {
      await this.#writer.write(this.#enc.encode(text));
    } catch (e) {
      // A closed pipe downstream (`| head`) is not an error of ours.
      if (e instanceof Deno.errors.BrokenPipe) Deno.exit(0);
      throw e;
    }
  }
  async close(): Promise<void> {
    await this.flush();
    await this.#writer.close();
  }
}
