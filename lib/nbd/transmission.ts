/**
 * The transmission phase of one connection: reads pipelined requests, runs them concurrently
 * against the export's device, and answers each with a simple or structured reply (proto.md,
 * "Transmission"). Validation follows proto.md:
 * - unknown command, unknown flag, or a flag not documented for the command: EINVAL. FUA is
 *   accepted on every command (proto.md: with NBD_FLAG_SEND_FUA the server "MUST accept all
 *   commands with this bit set (even by ignoring the bit)").
 * - write or write-zeroes past the end ENOSPC; read, trim or block status past the end EINVAL;
 *   write, trim or write-zeroes on a read-only export EPERM.
 * - a READ, WRITE or WRITE_ZEROES longer than the advertised maximum block size: EINVAL
 *   ("Block size constraints"). TRIM and BLOCK_STATUS have no maximum. An over-long WRITE's
 *   payload still follows its header, so it is read and dropped and the connection stays in
 *   sync; proto.md lets a server hard-disconnect when a payload is large enough to be deemed
 *   a denial of service, but says any length under 2^25 SHOULD NOT be, so the server reads
 *   and drops payloads up to {@linkcode DISCARD_LIMIT} (64 MiB) and hard-disconnects above.
 * - a bad magic or a truncated frame ends the connection (a violation of a MUST).
 *
 * @module
 */
import { BlockError } from "../block/block_device.ts";
import { extentsOf } from "../block/extents.ts";
import { DONE } from "../block/sync_done.ts";
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
import { type ConnBudget, REPLY_CHARGE } from "./budget.ts";

/** Most descriptors one BLOCK_STATUS reply carries (proto.md lets the server return fewer). */
const MAX_DESCRIPTORS = 4096;

/** Requests one connection may have in flight before the reader waits. */
const MAX_INFLIGHT = 256;
/**
 * An over-long write's payload up to this size is read and dropped (and EINVAL answered);
 * above it the connection is dropped as proto.md allows. Never below 2^25 (proto.md: lengths
 * under 2^25 SHOULD NOT be deemed a denial of service, whatever the advertised maximum).
 */
export const DISCARD_LIMIT = 64 << 20;

const enc = new TextEncoder();

/** Context a transmission loop needs from its server. */
export interface TransmissionContext {
  stats: NbdServerStats;
  isShuttingDown: () => boolean;
  log: (msg: string) => void;
  /**
   * The connection's byte budget: each request is charged before its buffers exist and credited
   * when its reply has been written (the ReplyWriter's onWritten). None: no limit (tests).
   */
  budget?: ConnBudget;
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
  /** The base:allocation context id, when the client selected it. */
  readonly #meta: number | null;

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
    this.#meta = neg.meta;
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

      // Charged before any buffer for it exists; credited when its one reply has been written.
      const cost = this.#cost(type, length);
      const budget = this.ctx.budget;
      if (budget !== undefined) {
        const admitted = budget.acquire(cost);
        if (admitted !== true) await admitted;
      }
      // The client stopped taking replies (its socket failed): serving the requests it left
      // buffered would only make replies nobody reads.
      if (this.writer.failed !== null) {
        budget?.release(cost);
        throw new ProtocolError(`replies cannot be written: ${this.writer.failed.message}`);
      }

      // A write's payload follows its header whatever we answer: read it first.
      let payload: Uint8Array | null = null;
      if (type === CMD.WRITE) {
        const taken = this.#takePayload(length, cost);
        payload = taken instanceof Promise ? await taken : taken;
        if (payload === null) {
          this.#fail(cookieHi, cookieLo, type, "EINVAL", `length ${length} over the maximum`, cost);
          continue;
        }
      }

      const err = this.#validate(type, flags, offset, length);
      if (err !== null) {
        this.#fail(cookieHi, cookieLo, type, err[0], err[1], cost);
        continue;
      }
      if (this.ctx.isShuttingDown()) {
        this.#fail(cookieHi, cookieLo, type, "ESHUTDOWN", "server is shutting down", cost);
        continue;
      }
      // A read the device completes at once is answered inside #startRead (null).
      if (type === CMD.READ && length > 0) {
        const pending = this.#startRead(cookieHi, cookieLo, offset, length, cost);
        if (pending === null) continue;
        if (this.#inflight >= MAX_INFLIGHT) await new Promise<void>((res) => this.#slot = res);
        const { done, frame } = pending;
        this.#track(this.#finishRead(done, frame, type, cookieHi, cookieLo, offset, length, cost));
        continue;
      }
      if (this.#inflight >= MAX_INFLIGHT) await new Promise<void>((res) => this.#slot = res);
      this.#track(this.#serve(type, flags, cookieHi, cookieLo, offset, length, payload, cost));
    }
  }

  /** What a request is charged against the connection's budget: its reply and its buffers. */
  #cost(type: number, length: number): number {
    if ((type === CMD.READ || type === CMD.WRITE) && length <= this.#maxLen) {
      return REPLY_CHARGE + length;
    }
    if (type === CMD.BLOCK_STATUS) return REPLY_CHARGE + 8 * MAX_DESCRIPTORS;
    return REPLY_CHARGE;
  }

  /**
   * Reads a write's payload; null when it is over the maximum length (then discarded, and
   * answered EINVAL by the caller; past DISCARD_LIMIT the client is dropped). A connection that
   * ends inside it gives the request's charge back (it will never have a reply). A payload
   * already buffered is returned as it is, not as a promise: awaiting one per write cost the
   * write path a third of its IOPS (bench/nbd miss path, writethrough 19.8k -> 7.9k, quiet).
   */
  #takePayload(length: number, cost: number): Uint8Array | null | Promise<Uint8Array | null> {
    if (length > this.#maxLen) return this.#discardPayload(length, cost);
    const payload = new Uint8Array(length);
    const got = this.reader.copyBuffered(payload);
    return got === length ? payload : this.#readPayloadRest(payload, got, cost);
  }

  async #readPayloadRest(payload: Uint8Array, got: number, cost: number): Promise<Uint8Array> {
    try {
      await this.reader.readRest(payload, got);
      return payload;
    } catch (e) {
      this.ctx.budget?.release(cost);
      throw e;
    }
  }

  async #discardPayload(length: number, cost: number): Promise<null> {
    try {
      if (length > DISCARD_LIMIT) {
        throw new ProtocolError(
          `write of ${length} bytes: payload over ${DISCARD_LIMIT}, disconnecting`,
        );
      }
      await this.reader.discard(length);
      return null;
    } catch (e) {
      this.ctx.budget?.release(cost);
      throw e;
    }
  }

  /**
   * Starts a read into its reply frame. A read the device completes at once (a cache hit
   * returns DONE) is answered right here, with no promise, microtask or in-flight slot (null);
   * otherwise the read under way and its frame.
   */
  #startRead(
    cookieHi: number,
    cookieLo: number,
    offset: number,
    length: number,
    cost: number,
  ): { done: Promise<void>; frame: Uint8Array } | null {
    const hdr = this.#structured ? STRUCTURED_HEADER_SIZE + 8 : SIMPLE_REPLY_SIZE;
    const frame = this.writer.acquire(hdr + length);
    let done: Promise<void>;
    try {
      done = this.#dev.read(offset, frame.subarray(hdr));
    } catch (e) {
      done = Promise.reject(e); // a layer that throws instead of rejecting
    }
    if (done === DONE) {
      this.#readHeader(frame, cookieHi, cookieLo, offset, length);
      this.writer.send(frame, true, cost);
      return null;
    }
    return { done, frame };
  }

  /** Counts a request in flight until `p` settles (it never rejects: errors are answered). */
  #track(p: Promise<void>): void {
    this.#inflight++;
    p.finally(this.#untrack);
  }

  #untrack = (): void => {
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
  };

  /** Writes a read reply's header into the start of `frame` (no DataView: the hot path). */
  #readHeader(
    frame: Uint8Array,
    cookieHi: number,
    cookieLo: number,
    offset: number,
    length: number,
  ): void {
    if (this.#structured) {
      put32(frame, 0, STRUCTURED_REPLY_MAGIC);
      put32(frame, 4, (REPLY_FLAG_DONE << 16) | REPLY_TYPE.OFFSET_DATA);
      put32(frame, 8, cookieHi);
      put32(frame, 12, cookieLo);
      put32(frame, 16, 8 + length);
      put32(frame, 20, Math.floor(offset / 4294967296));
      put32(frame, 24, offset >>> 0);
    } else {
      put32(frame, 0, SIMPLE_REPLY_MAGIC);
      put32(frame, 4, 0);
      put32(frame, 8, cookieHi);
      put32(frame, 12, cookieLo);
    }
  }

  /** The rest of a read the device could not complete at once. */
  async #finishRead(
    done: Promise<void>,
    frame: Uint8Array,
    type: number,
    cookieHi: number,
    cookieLo: number,
    offset: number,
    length: number,
    cost: number,
  ): Promise<void> {
    try {
      await done;
    } catch (e) {
      const code = e instanceof BlockError ? e.code : "EIO";
      this.#fail(cookieHi, cookieLo, type, code, (e as Error)?.message ?? String(e), cost);
      return;
    }
    this.#readHeader(frame, cookieHi, cookieLo, offset, length);
    this.writer.send(frame, true, cost);
  }

  #validate(
    type: number,
    flags: number,
    offset: number,
    length: number,
  ): [string, string] | null {
    // FUA is valid on every command once NBD_FLAG_SEND_FUA is advertised (it always is).
    let allowed = CMD_FLAG.FUA;
    switch (type) {
      case CMD.READ:
        if (this.#structured) allowed |= CMD_FLAG.DF;
        break;
      case CMD.WRITE:
      case CMD.TRIM:
      case CMD.FLUSH:
        break;
      case CMD.WRITE_ZEROES:
        allowed |= CMD_FLAG.NO_HOLE;
        break;
      case CMD.BLOCK_STATUS:
        if (this.#meta === null) {
          return ["EINVAL", "BLOCK_STATUS without a metadata context selected"];
        }
        allowed |= CMD_FLAG.REQ_ONE;
        break;
      default:
        return ["EINVAL", `unknown command ${type}`];
    }
    if ((flags & ~allowed) !== 0) {
      return ["EINVAL", `flags 0x${flags.toString(16)} not valid on ${CMD_NAME[type]}`];
    }
    if (type === CMD.FLUSH) return null;
    const writes = type === CMD.WRITE || type === CMD.WRITE_ZEROES || type === CMD.TRIM;
    if (writes && this.neg.readOnly) {
      return ["EPERM", `${CMD_NAME[type]} on a read-only export`];
    }
    if (length > this.#maxLen && (type === CMD.READ || type === CMD.WRITE_ZEROES)) {
      return ["EINVAL", `length ${length} over the maximum ${this.#maxLen}`];
    }
    if (type === CMD.BLOCK_STATUS && length === 0) {
      return ["EINVAL", "BLOCK_STATUS of length 0"];
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
    cost: number,
  ): Promise<void> {
    const dev = this.#dev;
    try {
      switch (type) {
        case CMD.READ: {
          // Length 0 only (run() answers the others); a structured READ needs a data chunk.
          const hdr = this.#structured ? STRUCTURED_HEADER_SIZE + 8 : SIMPLE_REPLY_SIZE;
          const frame = new Uint8Array(hdr);
          if (this.#structured) {
            // proto.md: an OFFSET_DATA chunk holds at least one byte; answer with NONE.
            put32(frame, 0, STRUCTURED_REPLY_MAGIC);
            put32(frame, 4, (REPLY_FLAG_DONE << 16) | REPLY_TYPE.NONE);
            put32(frame, 8, cookieHi);
            put32(frame, 12, cookieLo);
            put32(frame, 16, 0);
            this.writer.send(frame.subarray(0, STRUCTURED_HEADER_SIZE), false, cost);
          } else {
            this.#readHeader(frame, cookieHi, cookieLo, offset, 0);
            this.writer.send(frame, false, cost);
          }
          return;
        }
        case CMD.BLOCK_STATUS:
          await this.#blockStatus(flags, cookieHi, cookieLo, offset, length, cost);
          return;
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
      this.#ok(cookieHi, cookieLo, cost);
    } catch (e) {
      const code = e instanceof BlockError ? e.code : "EIO";
      const msg = (e as Error)?.message ?? String(e);
      this.#fail(cookieHi, cookieLo, type, code, msg, cost);
    }
  }

  /** One NBD_REPLY_TYPE_BLOCK_STATUS chunk for base:allocation (the only context). */
  async #blockStatus(
    flags: number,
    cookieHi: number,
    cookieLo: number,
    offset: number,
    length: number,
    cost: number,
  ): Promise<void> {
    const extents = await extentsOf(this.#dev, offset, length);
    const one = (flags & CMD_FLAG.REQ_ONE) !== 0;
    const max = one ? 1 : Math.min(extents.length, MAX_DESCRIPTORS);
    const frame = new Uint8Array(STRUCTURED_HEADER_SIZE + 4 + 8 * max);
    const v = new DataView(frame.buffer);
    let n = 0;
    let covered = 0;
    for (const e of extents) {
      if (n === max || covered >= length) break;
      // Never describe past the request: the sum before the last descriptor must stay below
      // the requested length, and with REQ_ONE the one descriptor must not exceed it.
      const len = Math.min(e.length, length - covered);
      if (len <= 0) break;
      v.setUint32(STRUCTURED_HEADER_SIZE + 4 + 8 * n, len);
      v.setUint32(STRUCTURED_HEADER_SIZE + 8 + 8 * n, e.flags);
      covered += len;
      n++;
    }
    if (n === 0) throw new BlockError("EIO", `${this.#dev.name}: no extent for ${offset}`);
    v.setUint32(0, STRUCTURED_REPLY_MAGIC);
    v.setUint16(4, REPLY_FLAG_DONE);
    v.setUint16(6, REPLY_TYPE.BLOCK_STATUS);
    v.setUint32(8, cookieHi);
    v.setUint32(12, cookieLo);
    v.setUint32(16, 4 + 8 * n);
    v.setUint32(20, this.#meta!);
    this.writer.send(frame.subarray(0, STRUCTURED_HEADER_SIZE + 4 + 8 * n), false, cost);
  }

  #ok(cookieHi: number, cookieLo: number, cost: number): void {
    const frame = this.writer.acquire(SIMPLE_REPLY_SIZE);
    const v = new DataView(frame.buffer, 0, SIMPLE_REPLY_SIZE);
    v.setUint32(0, SIMPLE_REPLY_MAGIC);
    v.setUint32(4, 0);
    v.setUint32(8, cookieHi);
    v.setUint32(12, cookieLo);
    this.writer.send(frame, true, cost);
  }

  /** Answers with an error: a structured ERROR chunk with a message when negotiated. */
  #fail(
    cookieHi: number,
    cookieLo: number,
    type: number,
    code: string,
    msg: string,
    cost: number,
  ): void {
    this.ctx.stats.errors++;
    this.ctx.log(`${CMD_NAME[type] ?? `command ${type}`}: ${code}: ${msg}`);
    const errno = NBD_ERRNO[code] ?? NBD_ERRNO.EINVAL;
    if (this.#structured) {
      // At most 1000 bytes of text: the frame stays within REPLY_CHARGE.
      const text = enc.encode(msg.slice(0, 1000)).subarray(0, 1000);
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
      this.writer.send(frame, false, cost);
    } else {
      const frame = new Uint8Array(SIMPLE_REPLY_SIZE);
      const v = new DataView(frame.buffer);
      v.setUint32(0, SIMPLE_REPLY_MAGIC);
      v.setUint32(4, errno);
      v.setUint32(8, cookieHi);
      v.setUint32(12, cookieLo);
      this.writer.send(frame, false, cost);
    }
  }
}

/** Big-endian 32-bit store. */
function put32(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = v >>> 16;
  b[at + 2] = v >>> 8;
  b[at + 3] = v;
}
