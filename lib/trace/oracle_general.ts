/**
 * libCacheSim's `oracleGeneral` binary trace: no header, 24-byte little-endian records
 * `u32 real_time (s), u64 obj_id, u32 obj_size, i64 next_access_vtime` (libCacheSim's
 * traceReader/customizedReader/oracle/oracleGeneralBin.h; the same layout in every release
 * since 0.1). It has no operation and no device: every record is one object access.
 *
 * Read: a record is a read of `obj_size` bytes at `obj_id * obj_size` (so the block traces
 * hvkit writes come back block for block), `ts` = real_time in ns. Written: each R/W/Z request
 * is split into its blocks, one record per block access (obj_id = the block number, obj_size =
 * the block size), so libCacheSim's hit ratio over the file, for a cache of the same bytes, is
 * hvkit's per-block hit ratio. Flushes and trims have no record (they are counted); the op and
 * the device are not kept; next_access_vtime is written as -1 ("no next access known", which
 * libCacheSim reads as never again: its Belady needs traceConv's oracle pass first).
 *
 * The format has no magic: it is read when named (`--format oracleGeneral`) or when the file
 * name says so (`*.oracleGeneral*`).
 *
 * @module
 */
import { type BinaryChunk, newChunk } from "./binary.ts";
import type { IoRecord } from "./io_record.ts";
import { TraceFormatError } from "./jsonl.ts";
import { checkExtent } from "./limits.ts";
import { queuedReads } from "./queued_reads.ts";

/** Bytes per oracleGeneral record. */
export const ORACLE_RECORD_SIZE = 24;

/**
 * The byte offset of the record at `p` in `dv` (record number `recNo`, for the error):
 * obj_id * obj_size, which must end at or below 2^53 (and obj_id itself, for size 0). The
 * native replay (native/cache_sim.c) refuses the same records and names them through this.
 */
export function oracleOffset(dv: DataView, p: number, recNo: number): number {
  const lo = dv.getUint32(p + 4, true), hi = dv.getUint32(p + 8, true);
  const size = dv.getUint32(p + 12, true);
  const id = hi * 4294967296 + lo;
  if (hi >= 2 ** 21) {
    throw new TraceFormatError(recNo, `obj_id ${id} is past 2^53`);
  }
  const off = id * size;
  checkExtent(off, size, recNo, { off: "obj_id * obj_size", len: "obj_size" });
  return off;
}

/** Reads an oracleGeneral stream as column chunks (op R, no device). */
export async function* readOracleChunks(
  stream: ReadableStream<Uint8Array>,
  maxRecords = 1 << 16,
): AsyncGenerator<BinaryChunk> {
  const devNames = [""];
  let recNo = 0;
  for await (const { queue, done } of queuedReads(stream)) {
    const buf = queue.peek();
    let pos = 0;
    while (buf.length - pos >= ORACLE_RECORD_SIZE) {
      const n = Math.min(maxRecords, Math.floor((buf.length - pos) / ORACLE_RECORD_SIZE));
      const c = newChunk(n, devNames);
      c.count = n;
      const dv = new DataView(buf.buffer, buf.byteOffset + pos, n * ORACLE_RECORD_SIZE);
      for (let k = 0; k < n; k++) {
        const p = k * ORACLE_RECORD_SIZE;
        recNo++;
        c.off[k] = oracleOffset(dv, p, recNo);
        c.ts[k] = dv.getUint32(p, true) * 1e9;
        c.len[k] = dv.getUint32(p + 12, true);
      }
      pos += n * ORACLE_RECORD_SIZE;
      yield c;
    }
    queue.skip(pos);
    if (done && queue.length !== 0) {
      throw new TraceFormatError(recNo + 1, "truncated oracleGeneral record at the end");
    }
  }
}

/** Writes records as oracleGeneral, one record per block access; call `close()` at the end. */
export class OracleGeneralWriter {
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #buf = new Uint8Array(ORACLE_RECORD_SIZE * 8192);
  #dv = new DataView(this.#buf.buffer);
  #pos = 0;
  /** Block accesses written. */
  written = 0;
  /** Flushes and trims, which have no oracleGeneral record. */
  dropped = 0;

  constructor(stream: WritableStream<Uint8Array>, readonly blockSize = 4096) {
    if (!(blockSize >= 1 && blockSize <= 0xffffffff && Number.isInteger(blockSize))) {
      throw new RangeError(`block size must be a whole number of bytes below 4 GiB: ${blockSize}`);
    }
    this.#writer = stream.getWriter();
  }

  /** Appends one request: a record per block it covers (none for F, T, or a zero length). */
  async write(rec: IoRecord): Promise<void> {
    if (rec.op === "F" || rec.op === "T") {
      this.dropped++;
      return;
    }
    if (rec.len === 0) return;
    const bs = this.blockSize;
    const first = Math.floor(rec.off / bs), last = Math.floor((rec.off + rec.len - 1) / bs);
    const secs = Math.min(0xffffffff, Math.max(0, Math.floor(rec.ts / 1e9)));
    for (let b = first; b <= last; b++) {
      if (this.#pos === this.#buf.length) await this.flush();
      const p = this.#pos, dv = this.#dv;
      dv.setUint32(p, secs, true);
      dv.setUint32(p + 4, b % 4294967296, true);
      dv.setUint32(p + 8, Math.floor(b / 4294967296), true);
      dv.setUint32(p + 12, bs, true);
      dv.setInt32(p + 16, -1, true);
      dv.setInt32(p + 20, -1, true);
      this.#pos += ORACLE_RECORD_SIZE;
      this.written++;
    }
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
