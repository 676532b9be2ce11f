/**
 * hvkit's compact binary trace: fixed-size little-endian records, the fast path for large
 * traces (`qbic-cache trace convert` writes it, `sim` and `mrc` read it without parsing text).
 *
 * Layout: a 16-byte header, `HVKTRC01` then u32 record size (24) and u32 0; then 24-byte
 * records: f64 ts (ns), f64 off, u32 len, u8 op (0 R, 1 W, 2 F, 3 T, 4 Z), u8 flags (bit 0
 * fua, bit 1 hit, bits 2-4 class: 1 journal, 2 metadata, 3 data, 4 other), u16 dev (0 = none,
 * else an id defined earlier). A device name is defined by a record with op 255, `len` = the
 * name's UTF-8 length, `dev` = its id, followed by the name in ceil(len/24) zero-padded slots.
 * Other tags of the JSON form are not kept. Offsets and timestamps are exact up to 2^53; the
 * reader refuses a record outside lib/trace/limits.ts (an offset that is not a whole number,
 * a request ending past 2^53, a timestamp that is not finite, a name longer than 4096 bytes).
 *
 * @module
 */
import type { IoClass, IoOp, IoRecord } from "./io_record.ts";
import { TraceFormatError } from "./jsonl.ts";
import { queuedReads } from "./queued_reads.ts";
import { checkExtent, MAX_DEV_NAME_BYTES } from "./limits.ts";

/** The first 8 bytes of a binary trace. */
export const BINARY_MAGIC = new TextEncoder().encode("HVKTRC01");
/** Bytes per record. */
export const RECORD_SIZE = 24;
const HEADER_SIZE = 16;
const OP_DEV = 255;
const OPS: IoOp[] = ["R", "W", "F", "T", "Z"];
/** The binary form's op byte for each I/O op (native/cache_sim.c reads the same values). */
export const OP_CODES: Readonly<Record<IoOp, number>> = { R: 0, W: 1, F: 2, T: 3, Z: 4 };
/** Flush and trim: ops that touch no block, so no cache access (the simulator skips them). */
export function isNoAccessOp(code: number): boolean {
  return code === OP_CODES.F || code === OP_CODES.T;
}
const CLASSES: (IoClass | undefined)[] = [undefined, "journal", "metadata", "data", "other"];
const CLASS_CODES: Record<string, number> = { journal: 1, metadata: 2, data: 3, other: 4 };

/** A batch of records in column form. */
export interface BinaryChunk {
  count: number;
  ts: Float64Array;
  op: Uint8Array;
  off: Float64Array;
  len: Float64Array;
  flags: Uint8Array;
  dev: Uint16Array;
  /** Device names by id (shared across the chunks of one stream). */
  devNames: string[];
}

/** True when `head` starts with the binary magic. */
export function isBinaryTrace(head: Uint8Array): boolean {
  if (head.length < BINARY_MAGIC.length) return false;
  for (let i = 0; i < BINARY_MAGIC.length; i++) if (head[i] !== BINARY_MAGIC[i]) return false;
  return true;
}

/** Rebuilds record `i` of a chunk. */
export function chunkRecord(c: BinaryChunk, i: number): IoRecord {
  const rec: IoRecord = { ts: c.ts[i], op: OPS[c.op[i]], off: c.off[i], len: c.len[i] };
  if (c.dev[i] !== 0) rec.dev = c.devNames[c.dev[i]];
  const f = c.flags[i];
  if (f & 1) rec.fua = true;
  if (f & 2) rec.hit = true;
  const cls = CLASSES[(f >> 2) & 7];
  if (cls) rec.class = cls;
  return rec;
}

/**
 * Reads a binary trace stream as chunks of columns. Throws TraceFormatError (with the record
 * number as the "line") on a bad header, a bad op code or a truncated record.
 */
export async function* readBinaryChunks(
  stream: ReadableStream<Uint8Array>,
  maxRecords = 1 << 16,
): AsyncGenerator<BinaryChunk> {
  const d = new RecordDecoder();
  let headerSeen = false;
  for await (const { queue, done } of queuedReads(stream)) {
    if (!headerSeen) {
      const head = queue.peek();
      if (head.length < HEADER_SIZE) {
        if (done && head.length > 0) throw new TraceFormatError(0, "truncated binary trace header");
        continue;
      }
      checkHeader(head);
      queue.skip(HEADER_SIZE);
      headerSeen = true;
    }
    const buf = queue.peek();
    let pos = 0;
    while (buf.length - pos >= RECORD_SIZE) {
      const n = Math.min(maxRecords, Math.floor((buf.length - pos) / RECORD_SIZE));
      const { chunk, used, stalled } = d.decode(buf, pos, n);
      pos += used;
      if (chunk.count > 0) yield chunk;
      if (stalled) break;
    }
    queue.skip(pos);
    if (done && queue.length !== 0) {
      throw new TraceFormatError(d.recNo + 1, "truncated binary record at the end");
    }
  }
}

/** An empty chunk of columns with room for `n` records. */
export function newChunk(n: number, devNames: string[]): BinaryChunk {
  return {
    count: 0,
    ts: new Float64Array(n),
    op: new Uint8Array(n),
    off: new Float64Array(n),
    len: new Float64Array(n),
    flags: new Uint8Array(n),
    dev: new Uint16Array(n),
    devNames,
  };
}

/** The 16-byte header: the magic and this reader's record size. */
function checkHeader(head: Uint8Array): void {
  if (!isBinaryTrace(head)) throw new TraceFormatError(0, "not an hvkit binary trace");
  const rs = new DataView(head.buffer, head.byteOffset).getUint32(8, true);
  if (rs !== RECORD_SIZE) throw new TraceFormatError(0, `unsupported record size ${rs}`);
}

/** Decodes records into column chunks, keeping the record count and the device names. */
class RecordDecoder {
  readonly devNames: string[] = [""];
  recNo = 0;
  #dec = new TextDecoder();

  /**
   * Up to `n` records from `buf` at `pos`: the chunk, the bytes used, and whether a device
   * record's name runs past the buffer (then it waits for more bytes).
   */
  decode(buf: Uint8Array, pos: number, n: number) {
    const chunk = newChunk(n, this.devNames);
    const dv = new DataView(buf.buffer, buf.byteOffset + pos, n * RECORD_SIZE);
    let k = 0, p = 0;
    let stalled = false;
    while (p + RECORD_SIZE <= n * RECORD_SIZE) {
      const op = dv.getUint8(p + 20);
      this.recNo++;
      if (op === OP_DEV) {
        const need = this.#deviceRecord(buf, pos + p, dv, p);
        if (need < 0) {
          this.recNo--;
          stalled = true;
          break;
        }
        p += need;
        if (p > n * RECORD_SIZE) break;
        continue;
      }
      if (op > 4) throw new TraceFormatError(this.recNo, `bad op code ${op} in binary record`);
      const ts = dv.getFloat64(p, true), off = dv.getFloat64(p + 8, true);
      const len = dv.getUint32(p + 16, true);
      if (!Number.isFinite(ts)) throw new TraceFormatError(this.recNo, `ts is not finite: ${ts}`);
      checkExtent(off, len, this.recNo);
      chunk.ts[k] = ts;
      chunk.off[k] = off;
      chunk.len[k] = len;
      chunk.op[k] = op;
      chunk.flags[k] = dv.getUint8(p + 21);
      chunk.dev[k] = dv.getUint16(p + 22, true);
      k++;
      p += RECORD_SIZE;
    }
    chunk.count = k;
    return { chunk, used: p, stalled };
  }

  /** A device record at `at` in `buf`: names the id; its bytes, or -1 if its name is not all here. */
  #deviceRecord(buf: Uint8Array, at: number, dv: DataView, p: number): number {
    const nameLen = dv.getUint32(p + 16, true);
    if (nameLen > MAX_DEV_NAME_BYTES) {
      throw new TraceFormatError(
        this.recNo,
        `device name of ${nameLen} bytes, above ${MAX_DEV_NAME_BYTES}`,
      );
    }
    const slots = Math.ceil(nameLen / RECORD_SIZE);
    const need = RECORD_SIZE * (1 + slots);
    if (at + need > buf.length) return -1;
    const id = dv.getUint16(p + 22, true);
    const start = at + RECORD_SIZE;
    this.devNames[id] = this.#dec.decode(buf.subarray(start, start + nameLen));
    this.recNo += slots;
    return need;
  }
}

/** Writes records in the binary form; call `close()` at the end. */
export class BinaryTraceWriter {
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #buf = new Uint8Array(RECORD_SIZE * 8192);
  #dv = new DataView(this.#buf.buffer);
  #pos = 0;
  #devIds = new Map<string, number>();
  #enc = new TextEncoder();

  constructor(stream: WritableStream<Uint8Array>) {
    this.#writer = stream.getWriter();
    const h = new Uint8Array(HEADER_SIZE);
    h.set(BINARY_MAGIC);
    new DataView(h.buffer).setUint32(8, RECORD_SIZE, true);
    this.#buf.set(h);
    this.#pos = HEADER_SIZE;
  }

  async #room(bytes: number): Promise<void> {
    if (this.#pos + bytes <= this.#buf.length) return;
    await this.flush();
    if (bytes > this.#buf.length) {
      this.#buf = new Uint8Array(bytes);
      this.#dv = new DataView(this.#buf.buffer);
    }
  }

  /** Appends one record (a new `dev` name is defined first). */
  async write(rec: IoRecord): Promise<void> {
    let dev = 0;
    if (rec.dev !== undefined) {
      const known = this.#devIds.get(rec.dev);
      if (known !== undefined) dev = known;
      else {
        dev = this.#devIds.size + 1;
        if (dev > 65535) throw new RangeError("more than 65535 device names");
        const name = this.#enc.encode(rec.dev);
        if (name.length > MAX_DEV_NAME_BYTES) {
          throw new RangeError(`device name of ${name.length} bytes, above ${MAX_DEV_NAME_BYTES}`);
        }
        this.#devIds.set(rec.dev, dev);
        const slots = Math.ceil(name.length / RECORD_SIZE);
        await this.#room(RECORD_SIZE * (1 + slots));
        const p = this.#pos;
        this.#buf.fill(0, p, p + RECORD_SIZE * (1 + slots));
        this.#dv.setUint32(p + 16, name.length, true);
        this.#dv.setUint8(p + 20, OP_DEV);
        this.#dv.setUint16(p + 22, dev, true);
        this.#buf.set(name, p + RECORD_SIZE);
        this.#pos += RECORD_SIZE * (1 + slots);
      }
    }
    if (rec.len > 0xffffffff) throw new RangeError(`len ${rec.len} does not fit the binary form`);
    await this.#room(RECORD_SIZE);
    const p = this.#pos, dv = this.#dv;
    dv.setFloat64(p, rec.ts, true);
    dv.setFloat64(p + 8, rec.off, true);
    dv.setUint32(p + 16, rec.len, true);
    dv.setUint8(p + 20, OP_CODES[rec.op]);
    const cls = rec.class ? CLASS_CODES[rec.class] ?? 0 : 0;
    dv.setUint8(p + 21, (rec.fua ? 1 : 0) | (rec.hit ? 2 : 0) | (cls << 2));
    dv.setUint16(p + 22, dev, true);
    this.#pos += RECORD_SIZE;
  }

  /** Writes what is buffered. */
  async flush(): Promise<void> {
    if (this.#pos === 0) return;
    await this.#writer.write(this.#buf.slice(0, this.#pos));
    this.#pos = 0;
  }

  /** Flushes and closes the stream. */
  async close(): Promise<void> {
    await this.flush();
    await this.#writer.close();
  }
}
