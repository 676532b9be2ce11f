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
import { negotiate, ProtocolError } from "./handshake.ts";
import { ReplyWriter } from "./reply_writer.ts";
import { Transmission } from "./transmission.ts";
import type { NbdExport, NbdLogger, NbdServerStats } from "./types.ts";

/** Where to listen: a Unix socket path, or a loopback TCP port. */
export type NbdListen = { socket: string } | { port: number; hostname?: string };

/** Options of {@linkcode NbdServer}. */
export interface NbdServerOptions {
  exports: NbdExport[];
  listen: NbdListen;
  log?: NbdLogger;
}

interface Live {
  conn: Deno.Conn;
  tx: Transmission | null;
  done: Promise<void>;
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
  };
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
      const live: Live = { conn, tx: null, done: Promise.resolve() };
      live.done = this.#handle(live, this.#nextId++);
      this.#live.add(live);
    }
  }

  async #handle(live: Live, id: number): Promise<void> {
    const { conn } = live;
    this.stats.connections++;
    this.stats.activeConnections++;
    const log = (msg: string) => this.#log("warn", `connection ${id}: ${msg}`);
    const reader = new ConnReader(conn);
    const writer = new ReplyWriter(conn);
    try {
      const neg = await negotiate(
        conn,
        reader,
        this.opts.exports,
        () => this.#shuttingDown,
        log,
      );
      if (neg) {
        const tx = new Transmission(reader, writer, neg, {
          stats: this.stats,
          isShuttingDown: () => this.#shuttingDown,
          log,
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
      this.stats.activeConnections--;
      this.#live.delete(live);
    }
  }

  /**
   * Stops accepting, lets requests in flight finish (new ones get ESHUTDOWN), then closes every
   * connection. Does not close the exported devices: their owner does.
   */
  async shutdown(): Promise<void> {
    if (this.#shuttingDown) return;
    this.#shuttingDown = true;
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
