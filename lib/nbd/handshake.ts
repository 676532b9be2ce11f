/**
 * The fixed newstyle handshake (proto.md, "Newstyle negotiation"): server greeting, client
 * flags, then option haggling until NBD_OPT_GO or NBD_OPT_EXPORT_NAME selects an export.
 * Options: EXPORT_NAME, ABORT, LIST, STARTTLS (refused: no TLS), INFO, GO, STRUCTURED_REPLY,
 * LIST_META_CONTEXT and SET_META_CONTEXT (the one context is `base:allocation`); everything
 * else gets NBD_REP_ERR_UNSUP.
 *
 * @module
 */
import type { ConnReader } from "./conn_reader.ts";
import {
  BASE_ALLOCATION,
  BASE_ALLOCATION_ID,
  FLAG_C_FIXED_NEWSTYLE,
  FLAG_C_NO_ZEROES,
  FLAG_FIXED_NEWSTYLE,
  FLAG_NO_ZEROES,
  IHAVEOPT,
  INFO,
  MAX_OPTION_LENGTH,
  NBDMAGIC,
  OPT,
  OPT_REPLY_MAGIC,
  REP,
  TFLAG,
} from "./protocol.ts";
import type { NbdExport } from "./types.ts";

/** A violation that ends the connection (logged by the caller). */
export class ProtocolError extends Error {
  override name = "ProtocolError";
}

/** What the handshake settled. */
export interface Negotiated {
  export: NbdExport;
  structured: boolean;
  readOnly: boolean;
  /** Transmission flags sent to the client. */
  flags: number;
  /** The id of `base:allocation` when the client selected it for this export, else null. */
  meta: number | null;
}

/** A parsed LIST/SET_META_CONTEXT request: the export name and the query strings. */
interface MetaRequest {
  name: string;
  queries: string[];
}

/**
 * Parses `u32 name length, name, u32 query count, count x (u32 length, query)`; null when
 * the lengths do not add up to the option's length or a string is not UTF-8.
 */
function parseMeta(data: Uint8Array): MetaRequest | null {
  const v = new DataView(data.buffer, data.byteOffset, data.length);
  let at = 0;
  const str = (): string | null => {
    if (at + 4 > data.length) return null;
    const n = v.getUint32(at);
    at += 4;
    if (n > data.length - at) return null;
    try {
      const t = dec.decode(data.subarray(at, at + n));
      at += n;
      return t;
    } catch {
      return null;
    }
  };
  const name = str();
  if (name === null || at + 4 > data.length) return null;
  const count = v.getUint32(at);
  at += 4;
  const queries: string[] = [];
  for (let i = 0; i < count; i++) {
    const q = str();
    if (q === null) return null;
    queries.push(q);
  }
  return at === data.length ? { name, queries } : null;
}

function metaContextReply(opt: number, id: number): Uint8Array {
  const name = enc.encode(BASE_ALLOCATION);
  const d = new Uint8Array(4 + name.length);
  new DataView(d.buffer).setUint32(0, id);
  d.set(name, 4);
  return optReply(opt, REP.META_CONTEXT, d);
}

const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });

async function writeAll(
  conn: { write(p: Uint8Array): Promise<number> },
  buf: Uint8Array,
): Promise<void> {
  let done = 0;
  while (done < buf.length) done += await conn.write(buf.subarray(done));
}

function optReply(opt: number, type: number, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const b = new Uint8Array(20 + data.length);
  const v = new DataView(b.buffer);
  v.setBigUint64(0, OPT_REPLY_MAGIC);
  v.setUint32(8, opt);
  v.setUint32(12, type);
  v.setUint32(16, data.length);
  b.set(data, 20);
  return b;
}

function errReply(opt: number, type: number, message: string): Uint8Array {
  return optReply(opt, type, enc.encode(message));
}

/** Transmission flags for an export. */
export function transmissionFlags(readOnly: boolean, structured: boolean): number {
  let f = TFLAG.HAS_FLAGS | TFLAG.SEND_FLUSH | TFLAG.SEND_FUA | TFLAG.CAN_MULTI_CONN;
  if (readOnly) f |= TFLAG.READ_ONLY;
  else f |= TFLAG.SEND_TRIM | TFLAG.SEND_WRITE_ZEROES;
  // Reads always go out as one chunk, so "don't fragment" is always honoured.
  if (structured) f |= TFLAG.SEND_DF;
  return f;
}

function infoExport(exp: NbdExport, flags: number): Uint8Array {
  const b = new Uint8Array(12);
  const v = new DataView(b.buffer);
  v.setUint16(0, INFO.EXPORT);
  v.setBigUint64(2, BigInt(exp.device.size));
  v.setUint16(10, flags);
  return b;
}

function infoBlockSize(exp: NbdExport): Uint8Array {
  const b = new Uint8Array(14);
  const v = new DataView(b.buffer);
  const s = exp.device.blockSizes;
  v.setUint16(0, INFO.BLOCK_SIZE);
  v.setUint32(2, s.minimum);
  v.setUint32(6, s.preferred);
  v.setUint32(10, s.maximum);
  return b;
}

function infoString(type: number, text: string): Uint8Array {
  const t = enc.encode(text);
  const b = new Uint8Array(2 + t.length);
  new DataView(b.buffer).setUint16(0, type);
  b.set(t, 2);
  return b;
}

/**
 * Runs the handshake on a fresh connection. Returns the negotiated export, or null when the
 * client aborted politely. Throws {@linkcode ProtocolError} (or a TruncatedError) when the
 * connection must be dropped.
 */
export async function negotiate(
  conn: Deno.Conn,
  reader: ConnReader,
  exports: NbdExport[],
  isShuttingDown: () => boolean,
  log: (msg: string) => void,
): Promise<Negotiated | null> {
  const greet = new Uint8Array(18);
  const gv = new DataView(greet.buffer);
  gv.setBigUint64(0, NBDMAGIC);
  gv.setBigUint64(8, IHAVEOPT);
  gv.setUint16(16, FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES);
  await writeAll(conn, greet);

  if (!await reader.fill(4)) throw new ProtocolError("client closed before sending its flags");
  const cflags = reader.view.getUint32(reader.start);
  reader.skip(4);
  if ((cflags & ~(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES)) !== 0) {
    throw new ProtocolError(`unknown client flags 0x${cflags.toString(16)}`);
  }
  const noZeroes = (cflags & FLAG_C_NO_ZEROES) !== 0;
  let structured = false;
  /** The export the last SET_META_CONTEXT selected base:allocation for (null: none). */
  let metaFor: NbdExport | null = null;

  const find = (name: string) => name === "" ? exports[0] : exports.find((e) => e.name === name);

  for (;;) {
    if (!await reader.fill(16)) throw new ProtocolError("client closed during option haggling");
    const magic = reader.view.getBigUint64(reader.start);
    const opt = reader.view.getUint32(reader.start + 8);
    const len = reader.view.getUint32(reader.start + 12);
    reader.skip(16);
    if (magic !== IHAVEOPT) throw new ProtocolError("bad option magic");
    if (len > MAX_OPTION_LENGTH) {
      if (opt === OPT.EXPORT_NAME) throw new ProtocolError(`export name of ${len} bytes`);
      log(`option ${opt} with ${len} bytes of data: too big`);
      await reader.discard(len);
      await writeAll(conn, errReply(opt, REP.ERR_TOO_BIG, "option data too large"));
      continue;
    }
    // The whole option or nothing: a short read must never leave stale buffer bytes to parse.
    if (!await reader.fill(len)) {
      throw new ProtocolError(`client closed inside option ${opt} (0 of ${len} bytes of data)`);
    }
    const data = reader.take(len).slice();
    const dv = new DataView(data.buffer);

    if (isShuttingDown() && opt !== OPT.ABORT) {
      if (opt === OPT.EXPORT_NAME) throw new ProtocolError("shutting down");
      await writeAll(conn, errReply(opt, REP.ERR_SHUTDOWN, "server is shutting down"));
      continue;
    }

    switch (opt) {
      case OPT.EXPORT_NAME: {
        let name: string;
        try {
          name = dec.decode(data);
        } catch {
          throw new ProtocolError("export name is not UTF-8");
        }
        const exp = find(name);
        if (!exp) throw new ProtocolError(`no export named ${JSON.stringify(name)}`);
        const readOnly = exp.readOnly === true || exp.device.readOnly;
        const flags = transmissionFlags(readOnly, structured);
        const b = new Uint8Array(noZeroes ? 10 : 134);
        const v = new DataView(b.buffer);
        v.setBigUint64(0, BigInt(exp.device.size));
        v.setUint16(8, flags);
        await writeAll(conn, b);
        const meta = metaFor === exp ? BASE_ALLOCATION_ID : null;
        return { export: exp, structured, readOnly, flags, meta };
      }
      case OPT.ABORT:
        await writeAll(conn, optReply(opt, REP.ACK)).catch(() => {});
        return null;
      case OPT.LIST: {
        if (len !== 0) {
          log("NBD_OPT_LIST with data");
          await writeAll(conn, errReply(opt, REP.ERR_INVALID, "NBD_OPT_LIST takes no data"));
          break;
        }
        for (const e of exports) {
          const n = enc.encode(e.name);
          const d = new Uint8Array(4 + n.length);
          new DataView(d.buffer).setUint32(0, n.length);
          d.set(n, 4);
          await writeAll(conn, optReply(opt, REP.SERVER, d));
        }
        await writeAll(conn, optReply(opt, REP.ACK));
        break;
      }
      case OPT.STARTTLS:
        await writeAll(conn, errReply(opt, REP.ERR_POLICY, "TLS is not offered"));
        break;
      case OPT.STRUCTURED_REPLY:
        if (len !== 0 || structured) {
          log(`NBD_OPT_STRUCTURED_REPLY ${len !== 0 ? "with data" : "twice"}`);
          await writeAll(conn, errReply(opt, REP.ERR_INVALID, "invalid structured reply option"));
          break;
        }
        structured = true;
        await writeAll(conn, optReply(opt, REP.ACK));
        break;
      case OPT.INFO:
      case OPT.GO: {
        // 32-bit name length, name, 16-bit count, 16-bit info requests.
        let bad = len < 6;
        let name = "";
        const requests: number[] = [];
        if (!bad) {
          const nlen = dv.getUint32(0);
          if (nlen > len - 6) bad = true;
          else {
            try {
              name = dec.decode(data.subarray(4, 4 + nlen));
            } catch {
              bad = true;
            }
            const count = dv.getUint16(4 + nlen);
            if (len !== 6 + nlen + 2 * count) bad = true;
            else for (let i = 0; i < count; i++) requests.push(dv.getUint16(6 + nlen + 2 * i));
          }
        }
        if (bad) {
          log(`malformed ${opt === OPT.GO ? "NBD_OPT_GO" : "NBD_OPT_INFO"}`);
          await writeAll(conn, errReply(opt, REP.ERR_INVALID, "malformed request"));
          break;
        }
        const exp = find(name);
        if (!exp) {
          log(`client asked for unknown export ${JSON.stringify(name)}`);
          await writeAll(conn, errReply(opt, REP.ERR_UNKNOWN, `no export named ${name}`));
          break;
        }
        const readOnly = exp.readOnly === true || exp.device.readOnly;
        const flags = transmissionFlags(readOnly, structured);
        await writeAll(conn, optReply(opt, REP.INFO, infoExport(exp, flags)));
        if (requests.includes(INFO.NAME)) {
          await writeAll(conn, optReply(opt, REP.INFO, infoString(INFO.NAME, exp.name)));
        }
        if (requests.includes(INFO.DESCRIPTION) && exp.description) {
          await writeAll(
            conn,
            optReply(opt, REP.INFO, infoString(INFO.DESCRIPTION, exp.description)),
          );
        }
        await writeAll(conn, optReply(opt, REP.INFO, infoBlockSize(exp)));
        await writeAll(conn, optReply(opt, REP.ACK));
        if (opt === OPT.GO) {
          const meta = metaFor === exp ? BASE_ALLOCATION_ID : null;
          return { export: exp, structured, readOnly, flags, meta };
        }
        break;
      }
      case OPT.LIST_META_CONTEXT:
      case OPT.SET_META_CONTEXT: {
        const set = opt === OPT.SET_META_CONTEXT;
        // SET replaces the selection even when it fails (proto.md).
        if (set) metaFor = null;
        const what = set ? "NBD_OPT_SET_META_CONTEXT" : "NBD_OPT_LIST_META_CONTEXT";
        if (!structured) {
          log(`${what} before NBD_OPT_STRUCTURED_REPLY`);
          await writeAll(conn, errReply(opt, REP.ERR_INVALID, "structured replies first"));
          break;
        }
        const req = parseMeta(data);
        if (req === null || req.queries.some((q) => !q.includes(":"))) {
          log(`malformed ${what}`);
          await writeAll(conn, errReply(opt, REP.ERR_INVALID, "malformed meta context request"));
          break;
        }
        const exp = find(req.name);
        if (!exp) {
          log(`${what} for unknown export ${JSON.stringify(req.name)}`);
          await writeAll(conn, errReply(opt, REP.ERR_UNKNOWN, `no export named ${req.name}`));
          break;
        }
        // LIST: no query or the `base:` wildcard lists it. SET: only the exact name selects
        // it; unknown namespaces and leaf names are ignored, as proto.md requires.
        const match = set ? req.queries.includes(BASE_ALLOCATION) : req.queries.length === 0 ||
          req.queries.some((q) => q === "base:" || q === BASE_ALLOCATION);
        if (match) {
          await writeAll(conn, metaContextReply(opt, set ? BASE_ALLOCATION_ID : 0));
          if (set) metaFor = exp;
        }
        await writeAll(conn, optReply(opt, REP.ACK));
        break;
      }
      default:
        log(`unsupported option ${opt}`);
        await writeAll(conn, errReply(opt, REP.ERR_UNSUP, `option ${opt} is not supported`));
    }
  }
}
