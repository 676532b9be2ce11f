/**
 * The NBD server's byte budget for requests in flight: a request is charged when it is admitted
 * (before its read buffer exists or its write payload is read off the socket) and credited when
 * its reply has been written to the socket, so a client that sends and never reads its replies
 * holds at most its connection's budget. Each connection has a reserve of its own
 * ({@linkcode CONNECTION_RESERVE}, taken out of the server budget up front for every connection
 * the server may hold); beyond it, bytes come from the server's shared rest. So clients that
 * exhaust the shared bytes never stop another connection's small requests.
 *
 * @module
 */

/** The server's resource limits (docs/limits.md, "NBD server"). */
export interface NbdLimits {
  /** Connections open at once; more are accepted and closed at once (logged). */
  maxConnections: number;
  /** Bytes one connection may have in flight (request data and reply frames). */
  connectionBudget: number;
  /** Bytes all connections together may have in flight. */
  serverBudget: number;
  /** Milliseconds a client has to finish the handshake; 0 = no limit. */
  handshakeLimit: number;
  /** Milliseconds without a byte in either direction before a connection is closed; 0 = never. */
  idleTimeout: number;
}

/** The defaults, shown by `qbic-cache serve` at start-up. */
export const DEFAULT_LIMITS: NbdLimits = {
  maxConnections: 128,
  connectionBudget: 64 << 20,
  serverBudget: 512 << 20,
  handshakeLimit: 10_000,
  idleTimeout: 0,
};

/** Bytes every connection may always have in flight, whatever the others hold. */
export const CONNECTION_RESERVE = 1 << 20;
/** Bytes charged to every request for its reply frame (header, error text, block status). */
export const REPLY_CHARGE = 4096;

/**
 * Checks limits against each other and the largest request; returns the first problem as a
 * sentence naming the option, or null.
 */
export function checkLimits(l: NbdLimits, maxRequest: number): string | null {
  const pos = (v: number) => Number.isSafeInteger(v) && v > 0;
  if (!pos(l.maxConnections)) return `max connections ${l.maxConnections}: not a positive integer`;
  const need = maxRequest + REPLY_CHARGE;
  if (!pos(l.connectionBudget) || l.connectionBudget < need) {
    return `connection budget ${l.connectionBudget}: below the largest request (${need} bytes ` +
      `with its reply)`;
  }
  const floor = l.maxConnections * CONNECTION_RESERVE + l.connectionBudget - CONNECTION_RESERVE;
  if (!pos(l.serverBudget) || l.serverBudget < floor) {
    return `server budget ${l.serverBudget}: below ${floor} (${l.maxConnections} connections x ` +
      `${CONNECTION_RESERVE} reserved + one connection's budget)`;
  }
  if (!(l.handshakeLimit >= 0) || !(l.idleTimeout >= 0)) return "timeouts must be >= 0";
  return null;
}

/** The shared part of the server budget, and the connections waiting for some of it. */
export class ServerBudget {
  /** Shared bytes not lent out. */
  free: number;
  /** Bytes in flight over all connections (reserves included), and the most ever. */
  inFlight = 0;
  peak = 0;
  #waiting: ConnBudget[] = [];

  constructor(readonly limits: NbdLimits) {
    this.free = limits.serverBudget - limits.maxConnections * CONNECTION_RESERVE;
  }

  /** A budget for one new connection. */
  connection(): ConnBudget {
    return new ConnBudget(this, this.limits.connectionBudget);
  }

  /** Queues `c` for shared bytes (FIFO: a large request is not starved by small ones). */
  wait(c: ConnBudget): void {
    this.#waiting.push(c);
  }

  /** Forgets a connection that went away while waiting. */
  forget(c: ConnBudget): void {
    const i = this.#waiting.indexOf(c);
    if (i >= 0) this.#waiting.splice(i, 1);
  }

  /** Shared bytes came back: admits waiting connections in order while they fit. */
  returned(): void {
    while (this.#waiting.length > 0) {
      const c = this.#waiting[0];
      if (c.retry() === "shared") return;
      this.#waiting.shift();
      c.queued = false;
    }
  }
}

/** One connection's bytes in flight; at most one request waits for admission at a time. */
export class ConnBudget {
  /** Bytes in flight on this connection. */
  used = 0;
  /** Whether it sits in the server's queue for shared bytes. */
  queued = false;
  #pending: { n: number; resolve: () => void } | null = null;

  constructor(private readonly server: ServerBudget, readonly cap: number) {}

  /** Shared bytes `used` takes beyond the reserve. */
  #shared(used: number): number {
    return Math.max(0, used - CONNECTION_RESERVE);
  }

  #tryTake(n: number): boolean {
    if (this.used + n > this.cap) return false;
    const extra = this.#shared(this.used + n) - this.#shared(this.used);
    if (extra > this.server.free) return false;
    this.server.free -= extra;
    this.used += n;
    this.server.inFlight += n;
    if (this.server.inFlight > this.server.peak) this.server.peak = this.server.inFlight;
    return true;
  }

  /**
   * Charges `n` bytes: true at once when they fit, else a promise that resolves once they have
   * been charged. `n` never exceeds the connection budget (checkLimits made sure).
   */
  acquire(n: number): true | Promise<void> {
    if (this.#pending === null && this.#tryTake(n)) return true;
    return new Promise<void>((resolve) => {
      this.#pending = { n, resolve };
      this.#park();
    });
  }

  /** Waits in the server's queue when shared bytes are what is missing. */
  #park(): void {
    const p = this.#pending!;
    if (this.used + p.n <= this.cap && !this.queued) {
      this.queued = true;
      this.server.wait(this);
    }
  }

  /**
   * Tries the pending request again: "done" (admitted, or none pending), or what it still lacks:
   * "own" (its connection budget: a release on it retries) or "shared" (server bytes).
   */
  retry(): "done" | "own" | "shared" {
    const p = this.#pending;
    if (p === null) return "done";
    if (this.#tryTake(p.n)) {
      this.#pending = null;
      p.resolve();
      return "done";
    }
    return this.used + p.n > this.cap ? "own" : "shared";
  }

  /** Credits `n` bytes (a reply was written, or the connection dropped it). */
  release(n: number): void {
    if (n <= 0) return;
    const back = this.#shared(this.used) - this.#shared(this.used - n);
    this.used -= n;
    this.server.inFlight -= n;
    this.server.free += back;
    if (this.#pending !== null) {
      const s = this.retry();
      if (s !== "shared" && this.queued) {
        this.server.forget(this);
        this.queued = false;
      } else if (s === "shared" && !this.queued) {
        this.queued = true;
        this.server.wait(this);
      }
    }
    if (back > 0) this.server.returned();
  }

  /** The connection is gone: leaves the server's queue (its bytes come back through release). */
  close(): void {
    this.server.forget(this);
    this.queued = false;
    this.#pending = null;
  }
}
