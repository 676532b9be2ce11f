/**
 * Framing of requests and replies on a byte stream (stdin/stdout or a Unix socket), where
 * there is no virtqueue to delimit buffers: each frame is a little-endian u32 length and
 * that many bytes. A request frame holds the whole request buffer; a reply frame holds the
 * device-written bytes, its length being the virtqueue's "used length" (0 = not written).
 *
 * @module
 */
import { ByteQueue } from "../bytes/byte_queue.ts";

/** Largest frame accepted (a PROBE with a large probe_size fits easily). */
export const MAX_FRAME = 1 << 20;

/** Prefixes bytes with their u32 length. */
export function frame(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + bytes.length);
  new DataView(out.buffer).setUint32(0, bytes.length, true);
  out.set(bytes, 4);
  return out;
}

/** A stream that is not a sequence of frames. */
export class FrameError extends Error {
  override name = "FrameError";
}

/**
 * Splits a byte stream into frames. Throws {@linkcode FrameError} on a frame longer than
 * {@linkcode MAX_FRAME} or a stream that ends inside a frame.
 */
export async function* readFrames(
  stream: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  const pending = new ByteQueue();
  for await (const chunk of stream) {
    pending.push(chunk);
    while (pending.length >= 4) {
      const head = pending.peek();
      const len = new DataView(head.buffer, head.byteOffset, 4).getUint32(0, true);
      if (len > MAX_FRAME) throw new FrameError(`frame of ${len} bytes (limit ${MAX_FRAME})`);
      if (pending.length - 4 < len) break;
      pending.skip(4);
      yield pending.take(len);
    }
  }
  if (pending.length !== 0) {
    throw new FrameError(`stream ended inside a frame (${pending.length} bytes)`);
  }
}
