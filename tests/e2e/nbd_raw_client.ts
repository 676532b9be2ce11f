/**
 * A deliberately small raw NBD client for tests that need to send what real clients never
 * send: broken handshakes, bad requests, truncated frames.
 *
 * @module
 */

/** A socket with exact reads and a timeout. */
export class Raw {
  #buf = new Uint8Array(0);
  constructor(readonly conn: Deno.Conn) {}

  static async unix(path: string): Promise<Raw> {
    return new Raw(await Deno.connect({ transport: "unix", path }));
  }

  async send(b: Uint8Array): Promise<void> {
    let d = 0;
    while (d < b.length) d += await this.conn.write(b.subarray(d));
  }

  /** Reads exactly n bytes; null if the server closed first. */
  async recv(n: number, timeoutMs = 5000): Promise<Uint8Array | null> {
    const deadline = Date.now() + timeoutMs;
    while (this.#buf.length < n) {
      const chunk = new Uint8Array(65536);
      const t = setTimeout(() => this.conn.close(), Math.max(0, deadline - Date.now()));
      let got: number | null;
      try {
        got = await this.conn.read(chunk);
      } catch {
        got = null;
      } finally {
        clearTimeout(t);
      }
      if (got === null) return null;
      const nb = new Uint8Array(this.#buf.length + got);
      nb.set(this.#buf);
      nb.set(chunk.subarray(0, got), this.#buf.length);
      this.#buf = nb;
    }
    const out = this.#buf.slice(0, n);
    this.#buf = this.#buf.slice(n);
    return out;
  }

  close(): void {
    try {
      this.conn.close();
    } catch { /* closed */ }
  }
}

const IHAVEOPT = 0x49484156454f5054n;

/** An option frame. */
export function option(opt: number, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const b = new Uint8Array(16 + data.length);
  const v = new DataView(b.buffer);
  v.setBigUint64(0, IHAVEOPT);
  v.setUint32(8, opt);
  v.setUint32(12, data.length);
  b.set(data, 16);
  return b;
}

/** Reads one option reply: [option, type, data]. */
export async function optionReply(r: Raw): Promise<[number, number, Uint8Array] | null> {
  const h = await r.recv(20);
  if (!h) return null;
  const v = new DataView(h.buffer);
  const len = v.getUint32(16);
  const d = len ? await r.recv(len) : new Uint8Array(0);
  if (!d) return null;
  return [v.getUint32(8), v.getUint32(12), d];
}

/** Greeting + client flags + NBD_OPT_GO on the default export; returns the export size. */
export async function handshake(r: Raw, structured = false): Promise<number> {
  const g = await r.recv(18);
  if (!g) throw new Error("no greeting");
  await r.send(new Uint8Array([0, 0, 0, 3]));
  if (structured) {
    await r.send(option(8));
    const rep = await optionReply(r);
    if (!rep || rep[1] !== 1) throw new Error("structured replies refused");
  }
  await r.send(option(7, new Uint8Array(6)));
  let size = -1;
  for (;;) {
    const rep = await optionReply(r);
    if (!rep) throw new Error("closed during GO");
    if (rep[1] === 3 && new DataView(rep[2].buffer).getUint16(0) === 0) {
      size = Number(new DataView(rep[2].buffer).getBigUint64(2));
    }
    if (rep[1] === 1) return size;
    if (rep[1] & 0x80000000) throw new Error(`GO failed: ${rep[1]}`);
  }
}

/** A request frame. */
export function request(
  type: number,
  offset: number,
  length: number,
  opts: { flags?: number; cookie?: number; magic?: number } = {},
): Uint8Array {
  const b = new Uint8Array(28);
  const v = new DataView(b.buffer);
  v.setUint32(0, opts.magic ?? 0x25609513);
  v.setUint16(4, opts.flags ?? 0);
  v.setUint16(6, type);
  v.setBigUint64(8, BigInt(opts.cookie ?? 1));
  v.setBigUint64(16, BigInt(offset));
  v.setUint32(24, length);
  return b;
}

/** Reads a simple reply: [error, cookie]. */
export async function simpleReply(r: Raw): Promise<[number, number] | null> {
  const h = await r.recv(16);
  if (!h) return null;
  const v = new DataView(h.buffer);
  if (v.getUint32(0) !== 0x67446698) throw new Error("not a simple reply");
  return [v.getUint32(4), Number(v.getBigUint64(8))];
}

/** Reads one structured reply chunk: flags, type, cookie and payload. */
export async function structuredReply(
  r: Raw,
): Promise<{ flags: number; type: number; cookie: number; payload: Uint8Array } | null> {
  const h = await r.recv(20);
  if (!h) return null;
  const v = new DataView(h.buffer);
  if (v.getUint32(0) !== 0x668e33ef) throw new Error("not a structured reply");
  const len = v.getUint32(16);
  const payload = len ? await r.recv(len) : new Uint8Array(0);
  if (!payload) return null;
  return {
    flags: v.getUint16(4),
    type: v.getUint16(6),
    cookie: Number(v.getBigUint64(8)),
    payload,
  };
}

/** The data of NBD_OPT_LIST/SET_META_CONTEXT: export name and queries. */
export function metaQuery(name: string, queries: string[]): Uint8Array {
  const enc = new TextEncoder();
  const parts = [name, ...queries].map((s) => enc.encode(s));
  const b = new Uint8Array(4 + parts.reduce((n, p) => n + 4 + p.length, 0));
  const v = new DataView(b.buffer);
  let at = 0;
  v.setUint32(at, parts[0].length);
  b.set(parts[0], at + 4);
  at += 4 + parts[0].length;
  v.setUint32(at, queries.length);
  at += 4;
  for (const p of parts.slice(1)) {
    v.setUint32(at, p.length);
    b.set(p, at + 4);
    at += 4 + p.length;
  }
  return b;
}
