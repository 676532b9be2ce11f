/**
 * An NBD server that exports any {@linkcode BlockDevice} over a Unix socket or loopback TCP.
 * It knows nothing of caches: the device it holds may be a file, memory, or a stack of layers.
 * Every connection runs on its own; a misbehaving client is logged and dropped while the others
 * keep being served. Shutdown stops accepting, answers new requests with ESHUTDOWN, waits for
 * the requests in flight, then closes the sockets.
 *
 * @module
 */
import { ConnReader, TruncatedError } from "./conn_reader.ts";
import { negotiate, type Negotiated, ProtocolError } from "./handshake.ts";
import { ReplyWriter } from "./reply_writer.ts";
import { Transmission } from "./transmission.ts";
import type { NbdExport, NbdLogger, NbdServerStats } from "./types.ts";
import { checkLimits, DEFAULT_LIMITS, type NbdLimits, ServerBudget } from "./budget.ts";

/** Where to listen: a Unix socket path, or a loopback TCP port. */
export type NbdListen = { socket: string } | { port: number; hostname?: string };

/** Options of {@linkcode NbdServer}. */
export interface NbdServerOptions {
  exports: NbdExport[];
  listen: NbdListen;
  log?: NbdLogger;
  /** Connections, bytes in flight and timeouts (docs/limits.md); unset fields take the defaults. */
  limits?: Partial<NbdLimits>;
}

interface Live {
  conn: Deno.Conn;
  tx: Transmission | null;
  done: Promise<void>;
  /** When a byte last moved in either direction (performance.now()), for the idle timeout. */
  last: number;
}

/**
 * A running NBD server.
 *
 * @example
 * ```ts
 * import { NbdServer } from "./server.ts";
 * import { MemoryDevice } from "../block/memory_device.ts";
 * const server = NbdServer.start({
 *   exports: [{ name: "", device: new MemoryDevice(1 << 20) }],
 *   listen: { socket: "/tmp/example.sock" },
 * });
 * await server.shutdown();
 * ```
 */
export class NbdServer {
  readonly stats: NbdServerStats = {
    connections: 0,
    activeConnections: 0,
    requests: 0,
    errors: 0,
    dropped: 0,
    refused: 0,
  };
  /** The limits in force (the defaults where none were given). */
  readonly limits: NbdLimits;
  /** Bytes in flight over all connections now, and the most so far. */
  readonly budget: ServerBudget;
  /** The address clients use: `nbd+unix:///?socket=PATH` or `nbd://127.0.0.1:PORT`. */
  readonly uri: string;
  #listener: Deno.Listener;
  #live = new Set<Live>();
  #shuttingDown = false;
  #acceptLoop: Promise<void>;
  #log: NbdLogger;
  #nextId = 1;

  private constructor(readonly opts: NbdServerOptions) {
    if (opts.exports.length === 0) throw new Error("nbd server: no exports");
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    const maxRequest = Math.max(...opts.exports.map((e) => e.device.blockSizes.maximum));
    const bad = checkLimits(this.limits, maxRequest);
    if (bad !== null) throw new RangeError(`nbd server: ${bad}`);
    this.budget = new ServerBudget(this.limits);
    this.#log = opts.log ?? ((level, msg) => console.error(`nbd ${level}: ${msg}`));
    const l = opts.listen;
    if ("socket" in l) {
      // A stale socket is replaced, as qemu-nbd does; any other file there is the user's.
      let existing: Deno.FileInfo | null = null;
      try {
        existing = Deno.lstatSync(l.socket);
      } catch { /* absent */ }
      if (existing !== null && !existing.isSocket) {
        throw new Error(`${l.socket}: exists and is not a socket`);
      }
      if (existing !== null) Deno.removeSync(l.socket);
      this.#listener = Deno.listen({ transport: "unix", path: l.socket });
      this.uri = `nbd+unix:///?socket=${l.socket}`;
    } else {
      const hostname = l.hostname ?? "127.0.0.1";
      this.#listener = Deno.listen({ transport: "tcp", hostname, port: l.port });
      const port = (this.#listener.addr as Deno.NetAddr).port;
      this.uri = `nbd://${hostname}:${port}`;
    }
    this.#acceptLoop = this.#accept();
    const idle = this.limits.idleTimeout;
    if (idle > 0) {
      this.#idleTimer = setInterval(
        () => this.#closeIdle(),
        Math.min(1000, Math.max(50, idle / 4)),
      );
    }
  }

  #idleTimer: ReturnType<typeof setInterval> | undefined;

  /** Closes connections where no byte moved for the idle timeout (their handlers then end). */
  #closeIdle(): void {
    const now = performance.now();
    for (const l of this.#live) {
      if (now - l.last < this.limits.idleTimeout) continue;
      this.#log(
        "warn",
        `connection closed: idle for ${Math.round((now - l.last) / 1000)} s ` +
          `(idle timeout ${this.limits.idleTimeout / 1000} s)`,
      );
      l.last = Infinity; // once
      try {
        l.conn.close();
      } catch { /* closed */ }
    }
  }

  /** Starts listening. */
  static start(opts: NbdServerOptions): NbdServer {
    return new NbdServer(opts);
  }

  /** The bound address (the TCP port is known here when 0 was asked for). */
  get addr(): Deno.Addr {
    return this.#listener.addr;
  }

  async #accept(): Promise<void> {
    for (;;) {
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch (e) {
        if (this.#shuttingDown) return;
        this.#log("warn", `accept failed: ${(e as Error).message}`);
        continue;
      }
      if (conn.remoteAddr.transport === "tcp") {
        try {
          (conn as Deno.TcpConn).setNoDelay(true);
        } catch { /* not fatal */ }
      }
      if (this.#live.size >= this.limits.maxConnections) {
        // Refused before the greeting: the client sees the connection closed.
        this.stats.refused++;
        if (this.stats.refused === 1 || this.stats.refused % 1000 === 0) {
          this.#log(
            "warn",
            `connection refused: ${this.#live.size} open, the most allowed ` +
              `(max connections ${this.limits.maxConnections}; ${this.stats.refused} refused so far)`,
          );
        }
        try {
          conn.close();
        } catch { /* closed */ }
        continue;
      }
      const live: Live = { conn, tx: null, done: Promise.resolve(), last: performance.now() };
      live.done = this.#handle(live, this.#nextId++);
      this.#live.add(live);
    }
  }

  /** One connection: handshake, then transmission; a violation drops it (counted, logged). */
  async #handle(live: Live, id: number): Promise<void> {
    const { conn } = live;
    this.stats.connections++;
    this.stats.activeConnections++;
    const log = (msg: string) => this.#log("warn", `connection ${id}: ${msg}`);
    const io = this.#connIo(live);
    const budget = this.budget.connection();
    const reader = new ConnReader(io);
    const writer = new ReplyWriter(io, (n) => budget.release(n));
    try {
      const neg = await this.#handshake(conn, reader, log);
      if (neg) {
        const tx = new Transmission(reader, writer, neg, {
          stats: this.stats,
          isShuttingDown: () => this.#shuttingDown,
          log,
          budget,
        });
        live.tx = tx;
        try {
          await tx.run();
        } finally {
          await tx.settle();
          await writer.drain();
        }
      }
    } catch (e) {
      if (!(this.#shuttingDown && e instanceof Deno.errors.BadResource)) {
        this.stats.dropped++;
        const why = e instanceof ProtocolError || e instanceof TruncatedError
          ? e.message
          : `${(e as Error).name}: ${(e as Error).message}`;
        log(`dropped: ${why}`);
      }
    } finally {
      try {
        conn.close();
      } catch { /* already closed */ }
      budget.close();
      this.stats.activeConnections--;
      this.#live.delete(live);
    }
  }

  /** The connection's reads and writes; with an idle timeout, each marks it alive. */
  #connIo(live: Live) {
    const { conn } = live;
    if (!(this.limits.idleTimeout > 0)) return conn;
    return {
      read: async (p: Uint8Array) => {
        const n = await conn.read(p);
        live.last = performance.now();
        return n;
      },
      write: async (p: Uint8Array) => {
        const n = await conn.write(p);
        live.last = performance.now();
        return n;
      },
    };
  }

  /** The handshake, closed (a ProtocolError) when it outlasts the handshake limit. */
  async #handshake(
    conn: Deno.Conn,
    reader: ConnReader,
    log: (msg: string) => void,
  ): Promise<Negotiated | null> {
    let handshakeTimer: ReturnType<typeof setTimeout> | undefined;
    let timedOut = false;
    const limit = this.limits.handshakeLimit;
    if (limit > 0) {
      handshakeTimer = setTimeout(() => {
        timedOut = true;
        try {
          conn.close();
        } catch { /* closed */ }
      }, limit);
    }
    try {
      return await negotiate(conn, reader, this.opts.exports, () => this.#shuttingDown, log);
    } catch (e) {
      if (timedOut) {
        throw new ProtocolError(
          `handshake not finished within ${limit / 1000} s (handshake limit)`,
        );
      }
      throw e;
    } finally {
      clearTimeout(handshakeTimer);
    }
  }

  /**
   * Stops accepting, lets requests in flight finish (new ones get ESHUTDOWN), then closes every
   * connection. Does not close the exported devices: their owner does.
   */
  async shutdown(): Promise<void> {
    if (this.#shuttingDown) return;
    this.#shuttingDown = true;
    clearInterval(this.#idleTimer);
    try {
      this.#listener.close();
    } catch { /* closed */ }
    await this.#acceptLoop;
    // Clients blocked in read would keep us waiting: wait for in-flight work, then close.
    await Promise.all([...this.#live].map((l) => l.tx?.settle()));
    for (const l of this.#live) {
      try {
        l.conn.closeWrite();
      } catch { /* closed */ }
    }
    await Promise.race([
      Promise.all([...this.#live].map((l) => l.done)),
      new Promise((r) => setTimeout(r, 2000)),
    ]);
    for (const l of this.#live) {
      try {
        l.conn.close();
      } catch { /* closed */ }
    }
    if ("socket" in this.opts.listen) {
      try {
        Deno.removeSync(this.opts.listen.socket);
      } catch { /* gone */ }
    }
  }
}
