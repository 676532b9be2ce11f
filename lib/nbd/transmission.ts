/**
 * The transmission phase of one connection: reads pipelined requests, runs them concurrently
 * against the export's device, and answers each with a simple or structured reply (proto.md,
 * "Transmission"). Validation follows proto.md: unknown command or flag EINVAL, write past the
 * end ENOSPC (read/trim past the end EINVAL), writes to a read-only export EPERM, a length over
 * the advertised maximum EINVAL (a write's payload is read and dropped, or the connection is
 * dropped if it is absurd), a bad magic or a truncated frame ends the connection.
 *
 * @module
 */
import { BlockError } from "../block/block_device.ts";
import type { ConnReader } from "./conn_reader.ts";
import type { Negotiated } from "./handshake.ts";
import { ProtocolError } from "./handshake.ts";
import {
  CMD,
  CMD_FLAG,
  CMD_NAME,
  NBD_ERRNO,
  REPLY_FLAG_DONE,
  REPLY_TYPE,
  REQUEST_MAGIC,
  REQUEST_SIZE,
  SIMPLE_REPLY_MAGIC,
  SIMPLE_REPLY_SIZE,
  STRUCTURED_HEADER_SIZE,
  STRUCTURED_REPLY_MAGIC,
} from "./protocol.ts";
import type { ReplyWriter } from "./reply_writer.ts";
import type { NbdServerStats } from "./types.ts";

/** Requests one connection may have in flight before the reader waits. */
const MAX_INFLIGHT = 256;
/** A write payload above this is not read and dropped: the connection is dropped. */
const DISCARD_LIMIT = 64 << 20;

const enc = new TextEncoder();

/** Context a transmission loop needs from its server. */
export interface TransmissionContext {
  stats: NbdServerStats;
  isShuttingDown: () => boolean;
  log: (msg: string) => void;
}

/** Runs the transmission phase until DISC, end of stream, or a violation (thrown). */
export class Transmission {
  #inflight = 0;
  #slot: (() => void) | null = null;
  #idle: (() => void) | null = null;
  readonly #dev;
  readonly #structured: boolean;
  readonly #maxLen: number;
  readonly #minBlock: number;

  constructor(
    private readonly reader: ConnReader,
    private readonly writer: ReplyWriter,
    private readonly neg: Negotiated,
    private readonly ctx: TransmissionContext,
  ) {
    this.#dev = neg.export.device;
    this.#structured = neg.structured;
    this.#maxLen = this.#dev.blockSizes.maximum;
    this.#minBlock = this.#dev.blockSizes.minimum;
  }

  /** Waits until every request in flight has been answered. */
  settle(): Promise<void> {
    if (this.#inflight === 0) return Promise.resolve();
    return new Promise((r) => this.#idle = r);
  }

  /** The request loop. Returns on DISC or a clean end of stream. */
  async run(): Promise<void> {
    const r = this.reader;
    for (;;) {
      if (r.available < REQUEST_SIZE && !await r.fill(REQUEST_SIZE)) return;
      const v = r.view;
      const p = r.start;
      const magic = v.getUint32(p);
      const flags = v.getUint16(p + 4);
      const type = v.getUint16(p + 6);
      const cookieHi = v.getUint32(p + 8);
      const cookieLo = v.getUint32(p + 12);
      const offHi = v.getUint32(p + 16);
      const offset = offHi * 4294967296 + v.getUint32(p + 20);
      const length = v.getUint32(p + 24);
      r.skip(REQUEST_SIZE);
      if (magic !== REQUEST_MAGIC) {
        throw new ProtocolError(`bad request magic 0x${magic.toString(16)}`);
      }
      this.ctx.stats.requests++;
      if (type === CMD.DISC) return;

      // A write's payload follows its header whatever we answer: read it first.
      let payload: Uint8Array | null = null;
      if (type === CMD.WRITE) {
        if (length > this.#maxLen) {
          if (length > DISCARD_LIMIT) {
            throw new ProtocolError(`write of ${length} bytes: over any sane limit`);
          }
          await r.discard(length);
          this.#fail(cookieHi, cookieLo, type, "EINVAL", `length ${length} over the maximum`);
          continue;
        }
        payload = new Uint8Array(length);
        const got = r.copyBuffered(payload);
        if (got < length) await r.readRest(payload, got);
      }

      const err = this.#validate(type, flags, offset, length);
      if (err !== null) {
        this.#fail(cookieHi, cookieLo, type, err[0], err[1]);
        continue;
      }
      if (this.ctx.isShuttingDown()) {
        this.#fail(cookieHi, cookieLo, type, "ESHUTDOWN", "server is shutting down");
        continue;
      }
      if (this.#inflight >= MAX_INFLIGHT) await new Promise<void>((res) => this.#slot = res);
      this.#inflight++;
      this.#serve(type, flags, cookieHi, cookieLo, offset, length, payload).finally(() => {
        this.#inflight--;
        const s = this.#slot;
        if (s) {
          this.#slot = null;
          s();
        }
        if (this.#inflight === 0 && this.#idle) {
          const i = this.#idle;
          this.#idle = null;
          i();
        }
      });
    }
  }

  #validate(
    type: number,
    flags: number,
    offset: number,
    length: number,
  ): [string, string] | null {
    let allowed = 0;
    switch (type) {
      case CMD.READ:
        allowed = this.#structured ? CMD_FLAG.DF : 0;
        break;
      case CMD.WRITE:
      case CMD.TRIM:
        allowed = CMD_FLAG.FUA;
        break;
      case CMD.WRITE_ZEROES:
        allowed = CMD_FLAG.FUA | CMD_FLAG.NO_HOLE;
        break;
      case CMD.FLUSH:
        return flags === 0 ? null : ["EINVAL", `flags 0x${flags.toString(16)} on FLUSH`];
      default:
        return ["EINVAL", `unknown command ${type}`];
    }
    if ((flags & ~allowed) !== 0) {
      return ["EINVAL", `flags 0x${flags.toString(16)} not valid on ${CMD_NAME[type]}`];
    }
    if (type !== CMD.READ && this.neg.readOnly) {
      return ["EPERM", `${CMD_NAME[type]} on a read-only export`];
    }
    if (length > this.#maxLen && type === CMD.READ) {
      return ["EINVAL", `length ${length} over the maximum ${this.#maxLen}`];
    }
    if (offset + length > this.#dev.size) {
      const code = type === CMD.WRITE || type === CMD.WRITE_ZEROES ? "ENOSPC" : "EINVAL";
      return [code, `range ${offset}+${length} past the end (${this.#dev.size})`];
    }
    if (this.#minBlock > 1 && (offset % this.#minBlock !== 0 || length % this.#minBlock !== 0)) {
      return ["EINVAL", `range ${offset}+${length} not aligned to ${this.#minBlock}`];
    }
    return null;
  }

  async #serve(
    type: number,
    flags: number,
    cookieHi: number,
    cookieLo: number,
    offset: number,
    length: number,
    payload: Uint8Array | null,
  ): Promise<void> {
    const dev = this.#dev;
    try {
      switch (type) {
        case CMD.READ: {
          const hdr = this.#structured ? STRUCTURED_HEADER_SIZE + 8 : SIMPLE_REPLY_SIZE;
          const frame = this.writer.acquire(hdr + length);
          if (length > 0) await dev.read(offset, frame.subarray(hdr));
          const v = new DataView(frame.buffer, frame.byteOffset, hdr);
          if (this.#structured) {
            v.setUint32(0, STRUCTURED_REPLY_MAGIC);
            v.setUint16(4, REPLY_FLAG_DONE);
            v.setUint16(6, REPLY_TYPE.OFFSET_DATA);
            v.setUint32(8, cookieHi);
            v.setUint32(12, cookieLo);
            v.setUint32(16, 8 + length);
            v.setUint32(20, Math.floor(offset / 4294967296));
            v.setUint32(24, offset >>> 0);
          } else {
            v.setUint32(0, SIMPLE_REPLY_MAGIC);
            v.setUint32(4, 0);
            v.setUint32(8, cookieHi);
            v.setUint32(12, cookieLo);
          }
          this.writer.send(frame, true);
          return;
        }
        case CMD.WRITE:
          if (length > 0) await dev.write(offset, payload!, { fua: (flags & CMD_FLAG.FUA) !== 0 });
          break;
        case CMD.FLUSH:
          await dev.flush();
          break;
        case CMD.TRIM:
          if (length > 0) await dev.trim(offset, length, { fua: (flags & CMD_FLAG.FUA) !== 0 });
          break;
        case CMD.WRITE_ZEROES:
          if (length > 0) {
            await dev.zero(offset, length, {
              fua: (flags & CMD_FLAG.FUA) !== 0,
              noHole: (flags & CMD_FLAG.NO_HOLE) !== 0,
            });
          }
          break;
      }
      this.#ok(cookieHi, cookieLo);
    } catch (e) {
      const code = e instanceof BlockError ? e.code : "EIO";
      const msg = (e as Error)?.message ?? String(e);
      this.#fail(cookieHi, cookieLo, type, code, msg);
    }
  }

  #ok(cookieHi: number, cookieLo: number): void {
    const frame = this.writer.acquire(SIMPLE_REPLY_SIZE);
    const v = new DataView(frame.buffer, 0, SIMPLE_REPLY_SIZE);
    v.setUint32(0, SIMPLE_REPLY_MAGIC);
    v.setUint32(4, 0);
    v.setUint32(8, cookieHi);
    v.setUint32(12, cookieLo);
    this.writer.send(frame, true);
  }

  /** Answers with an error: a structured ERROR chunk with a message when negotiated. */
  #fail(cookieHi: number, cookieLo: number, type: number, code: string, msg: string): void {
    this.ctx.stats.errors++;
    this.ctx.log(`${CMD_NAME[type] ?? `command ${type}`}: ${code}: ${msg}`);
    const errno = NBD_ERRNO[code] ?? NBD_ERRNO.EINVAL;
    if (this.#structured) {
      const text = enc.encode(msg.slice(0, 1000));
      const frame = new Uint8Array(STRUCTURED_HEADER_SIZE + 6 + text.length);
      const v = new DataView(frame.buffer);
      v.setUint32(0, STRUCTURED_REPLY_MAGIC);
      v.setUint16(4, REPLY_FLAG_DONE);
      v.setUint16(6, REPLY_TYPE.ERROR);
      v.setUint32(8, cookieHi);
      v.setUint32(12, cookieLo);
      v.setUint32(16, 6 + text.length);
      v.setUint32(20, errno);
      v.setUint16(24, text.length);
      frame.set(text, 26);
      this.writer.send(frame);
    } else {
      const frame = new Uint8Array(SIMPLE_REPLY_SIZE);
      const v = new DataView(frame.buffer);
      v.setUint32(0, SIMPLE_REPLY_MAGIC);
      v.setUint32(4, errno);
      v.setUint32(8, cookieHi);
      v.setUint32(12, cookieLo);
      this.writer.send(frame);
    }
  }
}
