/**
 * Compressed traces, detected from their first bytes (never from the name): gzip, zstd and xz
 * through zlib, libzstd and liblzma in the native layer (native/trace_decompress.c), off the JS
 * thread. Streaming: memory is a few MiB whatever the file's size. Concatenated gzip members,
 * zstd frames and xz streams read as one, as `zcat`, `zstd -d` and `xz -d` do (`cat a.gz b.gz`
 * makes such a gzip file; the platform's `DecompressionStream` stops after the first member).
 * Corrupt or truncated data fails with a {@linkcode CompressedTraceError} naming the format.
 *
 * @module
 */
import { native } from "../ffi/ffi.ts";
import { openInput } from "../cli/stream_io.ts";
import { peek } from "./peek.ts";

/** What the first bytes say. */
export type Compression = "gzip" | "zstd" | "xz";

/** Corrupt or truncated compressed input. */
export class CompressedTraceError extends Error {
  override name = "CompressedTraceError";
}

const MAGIC: [Compression, number[]][] = [
  ["gzip", [0x1f, 0x8b]],
  ["zstd", [0x28, 0xb5, 0x2f, 0xfd]],
  ["xz", [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
];

/** The compression `head` starts with, or undefined. */
export function detectCompression(head: Uint8Array): Compression | undefined {
  for (const [name, magic] of MAGIC) {
    if (head.length >= magic.length && magic.every((b, i) => head[i] === b)) return name;
  }
  return undefined;
}

/** Output bytes per native call. */
const OUT_CHUNK = 1 << 20;
const KIND = { zstd: 1, xz: 2, gzip: 3 } as const;

/** A TransformStream that decompresses with the native decoder. */
function nativeDecoder(kind: Compression): TransformStream<Uint8Array, Uint8Array> {
  const lib = native();
  const h = lib.tz_open(KIND[kind]);
  if (h < 0) throw new Error(`${kind}: cannot start the decoder (errno ${-h})`);
  const io = new Uint32Array(3);
  let out = new Uint8Array(OUT_CHUNK);
  let closed = false;
  const close = () => {
    if (!closed) lib.tz_close(h);
    closed = true;
  };
  const error = (rc: number): Error => {
    const why = rc === -74 ? Deno.UnsafePointerView.getCString(lib.tz_error(h)!) : `errno ${-rc}`;
    close();
    return new CompressedTraceError(`${kind}: ${why}`);
  };
  return new TransformStream(
    {
      async transform(chunk, ctl) {
        let off = 0;
        for (;;) {
          // Off the JS thread: the reader parses what came before meanwhile (as `zcat |` would).
          const rc = await lib.tz_step_async(
            h,
            chunk.subarray(off),
            chunk.length - off,
            out,
            out.length,
            io,
          );
          if (rc < 0) throw error(rc);
          off += io[0];
          if (io[1] > 0) {
            ctl.enqueue(out.subarray(0, io[1]));
            out = new Uint8Array(OUT_CHUNK); // the enqueued view keeps the old buffer
          }
          if (io[1] === OUT_CHUNK) continue; // more output may be pending
          if (off >= chunk.length) break;
          if (io[0] === 0 && io[1] === 0) {
            throw error(-74); // no progress: the decoder refuses the rest
          }
        }
      },
      flush(ctl) {
        for (;;) {
          const rc = lib.tz_finish(h, out, out.length, io);
          if (rc < 0) throw error(rc);
          if (io[1] > 0) {
            ctl.enqueue(out.subarray(0, io[1]));
            out = new Uint8Array(OUT_CHUNK);
          }
          if (io[1] < OUT_CHUNK) break;
        }
        const ended = io[2] === 1;
        close();
        if (!ended) {
          throw new CompressedTraceError(`${kind}: truncated (the input ends mid-stream)`);
        }
      },
      cancel() {
        close();
      },
    },
    { highWaterMark: 2 },
    { highWaterMark: 8 },
  ); // decompress ahead of the reader
}

/** The decompressed bytes of `stream`, compressed as `kind`. */
export function decompress(
  stream: ReadableStream<Uint8Array>,
  kind: Compression,
): ReadableStream<Uint8Array> {
  const plain = stream.pipeThrough(nativeDecoder(kind));
  // Any other error on the way becomes one named error a tool reports in one line.
  const reader = plain.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(ctl) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await reader.read();
      } catch (e) {
        if (e instanceof CompressedTraceError) throw e;
        throw new CompressedTraceError(`${kind}: ${(e as Error).message ?? e}`);
      }
      if (r.done) ctl.close();
      else ctl.enqueue(r.value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

/**
 * Opens a trace path (`-` = stdin) the way lib/cli's `openInput` does, decompressing gzip, zstd
 * or xz as it is read (detected from the first bytes): for tools that read JSON lines
 * themselves (pdc-filter classify|eval, daio replay).
 */
export async function openTraceInput(path: string): Promise<ReadableStream<Uint8Array>> {
  // Six bytes tell every magic; a live pipe (serve --record -) is not held for more.
  const { head, stream } = await peek(await openInput(path), 6);
  const kind = detectCompression(head);
  return kind ? decompress(stream, kind) : stream;
}
