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
 * Parses an NBD_OPT_INFO/GO request: `u32 name length, name, u16 count, count x u16 info
 * request`; null when the lengths do not add up or the name is not UTF-8.
 */
function parseInfoRequest(data: Uint8Array): { name: string; requests: number[] } | null {
  const len = data.length;
  if (len < 6) return null;
  const dv = new DataView(data.buffer, data.byteOffset, len);
  const nlen = dv.getUint32(0);
  if (nlen > len - 6) return null;
  let name: string;
  try {
    name = dec.decode(data.subarray(4, 4 + nlen));
  } catch {
    return null;
  }
  const count = dv.getUint16(4 + nlen);
  if (len !== 6 + nlen + 2 * count) return null;
  const requests: number[] = [];
  for (let i = 0; i < count; i++) requests.push(dv.getUint16(6 + nlen + 2 * i));
  return { name, requests };
}

/**
 * What an option handler says: the handshake is over with this export (`Negotiated`), the
 * client aborted (`null`), or haggling goes on (`undefined`).
 */
type Outcome = Negotiated | null | undefined;

/** One connection's option haggling: what it has settled so far and a handler per option. */
class Haggling {
  structured = false;
  /** The export the last SET_META_CONTEXT selected base:allocation for (null: none). */
  metaFor: NbdExport | null = null;

  constructor(
    private readonly conn: Deno.Conn,
    private readonly exports: NbdExport[],
    private readonly noZeroes: boolean,
    readonly log: (msg: string) => void,
  ) {}

  send(b: Uint8Array): Promise<void> {
    return writeAll(this.conn, b);
  }

  /** The export a name selects (the empty name: the first, the default export). */
  #find(name: string): NbdExport | undefined {
    return name === "" ? this.exports[0] : this.exports.find((e) => e.name === name);
  }

  /** The export as the client gets it: its read-only state and transmission flags. */
  #settled(exp: NbdExport): Negotiated {
    const readOnly = exp.readOnly === true || exp.device.readOnly;
    const flags = transmissionFlags(readOnly, this.structured);
    const meta = this.metaFor === exp ? BASE_ALLOCATION_ID : null;
    return { export: exp, structured: this.structured, readOnly, flags, meta };
  }

  /** Handles one option. */
  handle(opt: number, data: Uint8Array): Promise<Outcome> {
    switch (opt) {
      case OPT.EXPORT_NAME:
        return this.exportName(data);
      case OPT.ABORT:
        return this.send(optReply(opt, REP.ACK)).catch(() => {}).then(() => null);
      case OPT.LIST:
        return this.list(opt, data.length);
      case OPT.STARTTLS:
        return this.send(errReply(opt, REP.ERR_POLICY, "TLS is not offered")).then(() => undefined);
      case OPT.STRUCTURED_REPLY:
        return this.structuredReply(opt, data.length);
      case OPT.INFO:
      case OPT.GO:
        return this.infoOrGo(opt, data);
      case OPT.LIST_META_CONTEXT:
      case OPT.SET_META_CONTEXT:
        return this.metaContext(opt, data);
      default:
        this.log(`unsupported option ${opt}`);
        return this.send(errReply(opt, REP.ERR_UNSUP, `option ${opt} is not supported`))
          .then(() => undefined);
    }
  }

  /** NBD_OPT_EXPORT_NAME: the old way to end the handshake; an unknown name drops the client. */
  async exportName(data: Uint8Array): Promise<Outcome> {
    let name: string;
    try {
      name = dec.decode(data);
    } catch {
      throw new ProtocolError("export name is not UTF-8");
    }
    const exp = this.#find(name);
    if (!exp) throw new ProtocolError(`no export named ${JSON.stringify(name)}`);
    const settled = this.#settled(exp);
    const b = new Uint8Array(this.noZeroes ? 10 : 134);
    const v = new DataView(b.buffer);
    v.setBigUint64(0, BigInt(exp.device.size));
    v.setUint16(8, settled.flags);
    await this.send(b);
    return settled;
  }

  async list(opt: number, len: number): Promise<Outcome> {
    if (len !== 0) {
      this.log("NBD_OPT_LIST with data");
      await this.send(errReply(opt, REP.ERR_INVALID, "NBD_OPT_LIST takes no data"));
      return;
    }
    for (const e of this.exports) {
      const n = enc.encode(e.name);
      const d = new Uint8Array(4 + n.length);
      new DataView(d.buffer).setUint32(0, n.length);
      d.set(n, 4);
      await this.send(optReply(opt, REP.SERVER, d));
    }
    await this.send(optReply(opt, REP.ACK));
  }

  async structuredReply(opt: number, len: number): Promise<Outcome> {
    if (len !== 0 || this.structured) {
      this.log(`NBD_OPT_STRUCTURED_REPLY ${len !== 0 ? "with data" : "twice"}`);
      await this.send(errReply(opt, REP.ERR_INVALID, "invalid structured reply option"));
      return;
    }
    this.structured = true;
    await this.send(optReply(opt, REP.ACK));
  }

  /** NBD_OPT_INFO describes an export; NBD_OPT_GO describes it and ends the handshake. */
  async infoOrGo(opt: number, data: Uint8Array): Promise<Outcome> {
    const req = parseInfoRequest(data);
    if (req === null) {
      this.log(`malformed ${opt === OPT.GO ? "NBD_OPT_GO" : "NBD_OPT_INFO"}`);
      await this.send(errReply(opt, REP.ERR_INVALID, "malformed request"));
      return;
    }
    const { name, requests } = req;
    const exp = this.#find(name);
    if (!exp) {
      this.log(`client asked for unknown export ${JSON.stringify(name)}`);
      await this.send(errReply(opt, REP.ERR_UNKNOWN, `no export named ${name}`));
      return;
    }
    const settled = this.#settled(exp);
    await this.send(optReply(opt, REP.INFO, infoExport(exp, settled.flags)));
    if (requests.includes(INFO.NAME)) {
      await this.send(optReply(opt, REP.INFO, infoString(INFO.NAME, exp.name)));
    }
    if (requests.includes(INFO.DESCRIPTION) && exp.description) {
      await this.send(optReply(opt, REP.INFO, infoString(INFO.DESCRIPTION, exp.description)));
    }
    await this.send(optReply(opt, REP.INFO, infoBlockSize(exp)));
    await this.send(optReply(opt, REP.ACK));
    return opt === OPT.GO ? settled : undefined;
  }

  /** NBD_OPT_LIST_META_CONTEXT and NBD_OPT_SET_META_CONTEXT: the one context, base:allocation. */
  async metaContext(opt: number, data: Uint8Array): Promise<Outcome> {
    const set = opt === OPT.SET_META_CONTEXT;
    // SET replaces the selection even when it fails (proto.md).
    if (set) this.metaFor = null;
    const what = set ? "NBD_OPT_SET_META_CONTEXT" : "NBD_OPT_LIST_META_CONTEXT";
    if (!this.structured) {
      this.log(`${what} before NBD_OPT_STRUCTURED_REPLY`);
      await this.send(errReply(opt, REP.ERR_INVALID, "structured replies first"));
      return;
    }
    const req = parseMeta(data);
    if (req === null || req.queries.some((q) => !q.includes(":"))) {
      this.log(`malformed ${what}`);
      await this.send(errReply(opt, REP.ERR_INVALID, "malformed meta context request"));
      return;
    }
    const exp = this.#find(req.name);
    if (!exp) {
      this.log(`${what} for unknown export ${JSON.stringify(req.name)}`);
      await this.send(errReply(opt, REP.ERR_UNKNOWN, `no export named ${req.name}`));
      return;
    }
    // LIST: no query or the `base:` wildcard lists it. SET: only the exact name selects
    // it; unknown namespaces and leaf names are ignored, as proto.md requires.
    const match = set ? req.queries.includes(BASE_ALLOCATION) : req.queries.length === 0 ||
      req.queries.some((q) => q === "base:" || q === BASE_ALLOCATION);
    if (match) {
      await this.send(metaContextReply(opt, set ? BASE_ALLOCATION_ID : 0));
      if (set) this.metaFor = exp;
    }
    await this.send(optReply(opt, REP.ACK));
  }
}

/** Sends the server greeting and reads the client's flags; whether it asked for no zeroes. */
async function greet(conn: Deno.Conn, reader: ConnReader): Promise<boolean> {
  const greeting = new Uint8Array(18);
  const gv = new DataView(greeting.buffer);
  gv.setBigUint64(0, NBDMAGIC);
  gv.setBigUint64(8, IHAVEOPT);
  gv.setUint16(16, FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES);
  await writeAll(conn, greeting);
  if (!await reader.fill(4)) throw new ProtocolError("client closed before sending its flags");
  const cflags = reader.view.getUint32(reader.start);
  reader.skip(4);
  if ((cflags & ~(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES)) !== 0) {
    throw new ProtocolError(`unknown client flags 0x${cflags.toString(16)}`);
  }
  return (cflags & FLAG_C_NO_ZEROES) !== 0;
}

/**
 * Reads one option's header and data. An option whose data is too big is answered
 * NBD_REP_ERR_TOO_BIG and skipped (null); too big an export name drops the client.
 */
async function readOption(
  reader: ConnReader,
  h: Haggling,
): Promise<{ opt: number; data: Uint8Array } | null> {
  if (!await reader.fill(16)) throw new ProtocolError("client closed during option haggling");
  const magic = reader.view.getBigUint64(reader.start);
  const opt = reader.view.getUint32(reader.start + 8);
  const len = reader.view.getUint32(reader.start + 12);
  reader.skip(16);
  if (magic !== IHAVEOPT) throw new ProtocolError("bad option magic");
  if (len > MAX_OPTION_LENGTH) {
    if (opt === OPT.EXPORT_NAME) throw new ProtocolError(`export name of ${len} bytes`);
    h.log(`option ${opt} with ${len} bytes of data: too big`);
    await reader.discard(len);
    await h.send(errReply(opt, REP.ERR_TOO_BIG, "option data too large"));
    return null;
  }
  // The whole option or nothing: a short read must never leave stale buffer bytes to parse.
  if (!await reader.fill(len)) {
    throw new ProtocolError(`client closed inside option ${opt} (0 of ${len} bytes of data)`);
  }
  return { opt, data: reader.take(len).slice() };
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
  const h = new Haggling(conn, exports, await greet(conn, reader), log);
  for (;;) {
    const option = await readOption(reader, h);
    if (option === null) continue;
    const { opt, data } = option;
    if (isShuttingDown() && opt !== OPT.ABORT) {
      if (opt === OPT.EXPORT_NAME) throw new ProtocolError("shutting down");
      await h.send(errReply(opt, REP.ERR_SHUTDOWN, "server is shutting down"));
      continue;
    }
    const outcome = await h.handle(opt, data);
    if (outcome !== undefined) return outcome;
  }
}
