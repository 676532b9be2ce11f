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
  let file: Deno.FsFile;
  try {
    const st = await Deno.stat(path);
    if (st.isDirectory) throw new ToolError(`${path}: is a directory`);
    file = await Deno.open(path, { read: true });
  } catch (e) {
    if (e instanceof ToolError) throw e;
    throw new ToolError(`${path}: ${describeFsError(e)}`);
  }
  noteInput(path, file);
  return file.readable;
}

/**
 * Whether two paths name the same existing file (device and inode); false when either is
 * missing. For refusing an output that would overwrite an input before either is opened.
 *
 * @example
 * ```ts
 * import { sameFile } from "./stream_io.ts";
 * sameFile("/etc/hostname", "/etc/../etc/hostname"); // true
 * ```
 */
export function sameFile(a: string, b: string): boolean {
  try {
    const x = Deno.statSync(a), y = Deno.statSync(b);
    return x.ino !== null && x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}

/** A file this process has open, by identity (device and inode), for the same-file check. */
interface OpenFile {
  path: string;
  dev: number;
  ino: number;
}
const inputs: OpenFile[] = [];
const outputs: OpenFile[] = [];
/** Output files this process created and has not closed yet: removed if the tool fails. */
const unfinished = new Set<string>();

function identity(path: string, file: Deno.FsFile): OpenFile | null {
  const st = file.statSync();
  return st.isFile && st.ino !== null ? { path, dev: st.dev, ino: st.ino } : null;
}

function findSame(a: OpenFile, list: OpenFile[]): OpenFile | undefined {
  return list.find((b) => b.dev === a.dev && b.ino === a.ino);
}

/**
 * Records a file opened for reading (openInput does it; readers that open files themselves
 * call it) and refuses one that is also an open output, so `-o` cannot eat its own input.
 */
export function noteInput(path: string, file: Deno.FsFile): void {
  const id = identity(path, file);
  if (id === null) return;
  const out = findSame(id, outputs);
  if (out !== undefined) {
    file.close();
    throw new ToolError(`${path}: is also the output file ${out.path}; write to another file`);
  }
  inputs.push(id);
}

/**
 * Removes the output files this process created and did not finish (runTool calls it when a
 * tool fails or is interrupted), so a failed run leaves no partial output behind.
 */
export function removeUnfinishedOutputs(): void {
  for (const path of unfinished) {
    try {
      Deno.removeSync(path);
    } catch { /* already gone */ }
  }
  unfinished.clear();
}

/**
 * Opens an output: a file path, or standard output when the path is absent or `-`. An existing
 * regular file is emptied only at the first write (or at close), so a run that fails before it
 * writes (a bad input, or `-o` naming the input) leaves it as it was; a file this run created is
 * removed if the run fails (removeUnfinishedOutputs). An input file cannot be the output.
 */
export async function openOutput(path?: string): Promise<WritableStream<Uint8Array>> {
  if (path === undefined || path === "-") return stdoutStream();
  const existed = await Deno.lstat(path).then(() => true, () => false);
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { write: true, create: true });
  } catch (e) {
    throw new ToolError(`${path}: ${describeFsError(e)}`);
  }
  const id = identity(path, file);
  if (id !== null) {
    const input = findSame(id, inputs);
    if (input !== undefined) {
      file.close();
      throw new ToolError(`${path}: is also the input ${input.path}; write to another file`);
    }
    outputs.push(id);
  }
  if (!existed) unfinished.add(path);
  // Only a regular file is truncated (not a FIFO or a device such as /dev/null).
  let emptied = id === null;
  const empty = async () => {
    if (emptied) return;
    // From here the file's old content is gone: a failed run removes what it left.
    unfinished.add(path);
    await file.truncate(0);
    emptied = true;
  };
  return new WritableStream({
    async write(chunk) {
      await empty();
      let off = 0;
      while (off < chunk.length) off += await file.write(chunk.subarray(off));
    },
    async close() {
      await empty();
      file.close();
      unfinished.delete(path);
    },
    abort() {
      file.close();
    },
  });
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
 * newline and CRLF. With `maxChars`, a longer line (or input without a newline past it) stops
 * the read with a ToolError naming the line, so the buffer cannot grow without bound.
 */
export async function* readLines(
  stream: ReadableStream<Uint8Array>,
  maxChars = Infinity,
): AsyncGenerator<{ line: string; n: number }> {
  const decoder = stream.pipeThrough(new TextDecoderStream());
  let rest = "";
  let n = 0;
  const tooLong = () =>
    new ToolError(`line ${n + 1}: longer than ${maxChars} characters (the longest line)`);
  for await (const chunk of decoder) {
    rest += chunk;
    let i: number;
    while ((i = rest.indexOf("\n")) >= 0) {
      const line = rest.slice(0, i);
      rest = rest.slice(i + 1);
      const text = line.endsWith("\r") ? line.slice(0, -1) : line;
      if (text.length > maxChars) throw tooLong();
      yield { line: text, n: ++n };
    }
    if (rest.length > maxChars + 1) throw tooLong();
  }
  if (rest.length > maxChars) throw tooLong();
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
