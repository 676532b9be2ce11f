/**
 * Framing of requests and replies on a byte stream (stdin/stdout or a Unix socket), where
 * there is no virtqueue to delimit buffers: each frame is a little-endian u32 length and
 * that many bytes. A request frame holds the whole request buffer; a reply frame holds the
 * device-written bytes, its length being the virtqueue's "used length" (0 = not written).
 *
 * @module
 */

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
  let buf = new Uint8Array(0);
  for await (const chunk of stream) {
    const joined = new Uint8Array(buf.length + chunk.length);
    joined.set(buf);
    joined.set(chunk, buf.length);
    buf = joined;
    let off = 0;
    while (buf.length - off >= 4) {
      const len = new DataView(buf.buffer, off).getUint32(0, true);
      if (len > MAX_FRAME) throw new FrameError(`frame of ${len} bytes (limit ${MAX_FRAME})`);
      if (buf.length - off - 4 < len) break;
      yield buf.slice(off + 4, off + 4 + len);
      off += 4 + len;
    }
    buf = buf.slice(off);
  }
  if (buf.length !== 0) throw new FrameError(`stream ended inside a frame (${buf.length} bytes)`);
}
