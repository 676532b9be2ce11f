/**
 * A client for QEMU's machine protocol (QMP) over a Unix socket: the greeting,
 * `qmp_capabilities`, commands with typed replies and errors, asynchronous events, and
 * `human-monitor-command` passthrough (for HMP-only views such as `info registers`).
 *
 * Wire format (qemu/docs/interop/qmp-spec.rst): one JSON object per line. The server
 * greets with `{"QMP": {...}}`; each command `{"execute", "arguments", "id"}` gets exactly
 * one `{"return", "id"}` or `{"error": {"class", "desc"}, "id"}`; events
 * `{"event", "data", "timestamp"}` may arrive at any time, between replies.
 *
 * @module
 */

/** The server's greeting: QEMU's version and the capabilities it offers. */
export interface QmpGreeting {
  version: {
    qemu: { major: number; minor: number; micro: number };
    package: string;
  };
  capabilities: string[];
}

/** One asynchronous event (`STOP`, `RESUME`, `SHUTDOWN`, `BLOCK_IO_ERROR`, ...). */
export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp: { seconds: number; microseconds: number };
}

/** An event message as {@linkcode QmpEvent}: `data` kept only when it is an object, the
 * timestamp's fields as numbers (0 when QEMU left them out). */
function toEvent(event: string, msg: Record<string, unknown>): QmpEvent {
  const t = (msg.timestamp ?? {}) as Record<string, unknown>;
  const data = msg.data;
  return {
    event,
    ...(data !== null && typeof data === "object" ? { data: data as Record<string, unknown> } : {}),
    timestamp: { seconds: Number(t.seconds ?? 0), microseconds: Number(t.microseconds ?? 0) },
  };
}

/** A command QEMU refused: its error class (`GenericError`, `CommandNotFound`, ...) and text. */
export class QmpError extends Error {
  override name = "QmpError";
  constructor(
    /** The command that failed. */
    readonly command: string,
    /** QMP's error class, e.g. `CommandNotFound`. */
    readonly errorClass: string,
    /** QEMU's description of the error. */
    readonly desc: string,
  ) {
    super(`qmp ${command}: ${errorClass}: ${desc}`);
  }
}

/** The connection failed, closed, or did not answer in time. */
export class QmpConnectionError extends Error {
  override name = "QmpConnectionError";
}

/** Options for {@linkcode QmpClient.connect}. */
export interface QmpConnectOptions {
  /**
   * Keep retrying while the socket does not exist yet or refuses (QEMU creates it a moment
   * after it starts), for at most this long. Default 10 000 ms.
   */
  timeoutMs?: number;
  /** Send `qmp_capabilities` after the greeting (default true). */
  negotiate?: boolean;
}

/** Options for {@linkcode QmpClient.waitEvent}. */
export interface WaitEventOptions {
  /** Give up after this long (default: wait until the connection closes). */
  timeoutMs?: number;
  /** Only an event this predicate accepts. */
  match?: (e: QmpEvent) => boolean;
}

interface Pending {
  command: string;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

/** Most events kept for {@linkcode QmpClient.waitEvent} (oldest dropped first). */
const EVENT_BACKLOG = 4096;

/**
 * A QMP connection. Commands may be issued concurrently; replies are matched by id.
 *
 * @example
 * ```ts
 * import { QmpClient } from "./qmp.ts";
 * const qmp = await QmpClient.connect("/tmp/vm.qmp");
 * const status = await qmp.execute<{ status: string; running: boolean }>("query-status");
 * const regs = await qmp.hmp("info registers");      // HMP text, e.g. "... CR3=000000000a1b2000 ..."
 * await qmp.execute("stop");
 * await qmp.waitEvent("STOP", { timeoutMs: 5000 });
 * qmp.close();
 * ```
 */
export class QmpClient {
  /** The server's greeting, as received. */
  readonly greeting: QmpGreeting;
  #conn: Deno.UnixConn;
  #pending = new Map<string, Pending>();
  #nextId = 1;
  #events: QmpEvent[] = [];
  /** Index into #events of the first event {@linkcode waitEvent} has not returned. */
  #waitCursor = 0;
  /** Absolute count of events dropped from the front of #events. */
  #dropped = 0;
  #listeners = new Set<() => void>();
  #closed = false;
  #closeError: Error | null = null;
  #readLoop: Promise<void>;
  #lines: AsyncIterator<string>;
  #writeChain: Promise<void> = Promise.resolve();

  private constructor(conn: Deno.UnixConn, lines: AsyncIterator<string>, greeting: QmpGreeting) {
    this.#conn = conn;
    this.#lines = lines;
    this.greeting = greeting;
    this.#readLoop = this.#read();
  }

  /**
   * Connects to a QMP Unix socket, reads the greeting and (by default) negotiates
   * capabilities, retrying while QEMU has not created the socket yet.
   */
  static async connect(path: string, opts: QmpConnectOptions = {}): Promise<QmpClient> {
    const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
    let conn: Deno.UnixConn | null = null;
    let lastErr: unknown = null;
    while (conn === null) {
      try {
        conn = await Deno.connect({ transport: "unix", path });
      } catch (e) {
        lastErr = e;
        const retriable = e instanceof Deno.errors.NotFound ||
          e instanceof Deno.errors.ConnectionRefused;
        if (!retriable || Date.now() >= deadline) {
          throw new QmpConnectionError(
            `qmp: cannot connect to ${path}: ${(lastErr as Error).message}`,
          );
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const lines = splitLines(conn.readable)[Symbol.asyncIterator]();
    let greetingLine: IteratorResult<string>;
    try {
      greetingLine = await withTimeout(
        lines.next(),
        Math.max(1000, deadline - Date.now()),
        `qmp: no greeting from ${path}`,
      );
    } catch (e) {
      safeClose(conn);
      throw e;
    }
    let greeting: QmpGreeting;
    try {
      if (greetingLine.done) throw new Error("connection closed before the greeting");
      const msg = JSON.parse(greetingLine.value);
      if (!msg || typeof msg !== "object" || !("QMP" in msg)) {
        throw new Error(`not a QMP greeting: ${greetingLine.value.slice(0, 120)}`);
      }
      greeting = msg.QMP as QmpGreeting;
    } catch (e) {
      safeClose(conn);
      throw new QmpConnectionError(`qmp: ${path}: ${(e as Error).message}`);
    }
    const client = new QmpClient(conn, lines, greeting);
    if (opts.negotiate ?? true) {
      try {
        await client.execute("qmp_capabilities");
      } catch (e) {
        client.close();
        throw e;
      }
    }
    return client;
  }

  /** Whether the connection has closed (by {@linkcode close} or by QEMU exiting). */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Runs one QMP command and returns its `return` value, typed as `T`. Rejects with
   * {@linkcode QmpError} when QEMU answers with an error, or {@linkcode QmpConnectionError}
   * when the connection closes first or `timeoutMs` passes.
   */
  execute<T = unknown>(
    command: string,
    args?: Record<string, unknown>,
    opts: { timeoutMs?: number } = {},
  ): Promise<T> {
    if (this.#closed) {
      return Promise.reject(
        new QmpConnectionError(`qmp ${command}: connection closed` + this.#why()),
      );
    }
    const id = `hvkit-${this.#nextId++}`;
    const msg: Record<string, unknown> = { execute: command, id };
    if (args !== undefined) msg.arguments = args;
    const reply = new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { command, resolve: resolve as (v: unknown) => void, reject });
    });
    const bytes = new TextEncoder().encode(JSON.stringify(msg) + "\n");
    this.#writeChain = this.#writeChain.then(() => writeAll(this.#conn, bytes)).catch((e) => {
      const p = this.#pending.get(id);
      this.#pending.delete(id);
      p?.reject(new QmpConnectionError(`qmp ${command}: write failed: ${(e as Error).message}`));
    });
    if (opts.timeoutMs === undefined) return reply;
    return withTimeout(reply, opts.timeoutMs, `qmp ${command}: no reply in ${opts.timeoutMs} ms`)
      .finally(() => this.#pending.delete(id));
  }

  /**
   * Runs a human monitor (HMP) command line through `human-monitor-command` and returns
   * its text output, e.g. `hmp("info registers", 0)` for vCPU 0's registers (with CR3).
   */
  hmp(commandLine: string, cpuIndex?: number): Promise<string> {
    const args: Record<string, unknown> = { "command-line": commandLine };
    if (cpuIndex !== undefined) args["cpu-index"] = cpuIndex;
    return this.execute<string>("human-monitor-command", args);
  }

  /**
   * Resolves with the next event called `name` that {@linkcode waitEvent} has not returned
   * before, including events that arrived before the call (so `execute("stop")` followed by
   * `waitEvent("STOP")` cannot miss it). Rejects on timeout or when the connection closes.
   */
  waitEvent(name: string, opts: WaitEventOptions = {}): Promise<QmpEvent> {
    return new Promise((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const check = (): boolean => {
        let i = Math.max(0, this.#waitCursor - this.#dropped);
        for (; i < this.#events.length; i++) {
          const e = this.#events[i];
          if (e.event === name && (!opts.match || opts.match(e))) {
            this.#waitCursor = this.#dropped + i + 1;
            done();
            resolve(e);
            return true;
          }
        }
        if (this.#closed) {
          done();
          reject(new QmpConnectionError(`qmp: closed while waiting for ${name}` + this.#why()));
          return true;
        }
        return false;
      };
      const listener = () => void check();
      const done = () => {
        this.#listeners.delete(listener);
        if (timer !== undefined) clearTimeout(timer);
      };
      if (check()) return;
      this.#listeners.add(listener);
      if (opts.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          done();
          reject(new QmpConnectionError(`qmp: no ${name} event in ${opts.timeoutMs} ms`));
        }, opts.timeoutMs);
      }
    });
  }

  /**
   * Every event that arrives from now on, in order, until the connection closes or the
   * loop breaks.
   */
  async *events(): AsyncGenerator<QmpEvent> {
    let next = this.#dropped + this.#events.length;
    while (true) {
      while (next - this.#dropped < this.#events.length) {
        yield this.#events[Math.max(0, next - this.#dropped)];
        next++;
      }
      if (this.#closed) return;
      await new Promise<void>((resolve) => {
        const l = () => {
          this.#listeners.delete(l);
          resolve();
        };
        this.#listeners.add(l);
      });
    }
  }

  /** Every event received so far (up to the last 4096). */
  receivedEvents(): readonly QmpEvent[] {
    return this.#events;
  }

  /** Closes the connection; pending commands reject. Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#finish(null);
    safeClose(this.#conn);
  }

  /** Resolves when the reader has stopped (after close or when QEMU exits). */
  async closedPromise(): Promise<void> {
    await this.#readLoop;
  }

  #why(): string {
    return this.#closeError ? `: ${this.#closeError.message}` : "";
  }

  #finish(err: Error | null): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeError = err;
    for (const [, p] of this.#pending) {
      p.reject(new QmpConnectionError(`qmp ${p.command}: connection closed` + this.#why()));
    }
    this.#pending.clear();
    this.#wake();
  }

  #wake(): void {
    for (const l of [...this.#listeners]) l();
  }

  async #read(): Promise<void> {
    try {
      while (true) {
        const r = await this.#lines.next();
        if (r.done) break;
        this.#handle(r.value);
      }
      this.#finish(null);
    } catch (e) {
      this.#finish(this.#closed ? null : (e as Error));
    }
  }

  #handle(line: string): void {
    if (line.trim() === "") return;
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line);
    } catch {
      return; // not JSON: QMP never sends this; ignore rather than kill the session
    }
    if (msg === null || typeof msg !== "object") return;
    if (typeof msg.event === "string") {
      this.#events.push(toEvent(msg.event, msg));
      if (this.#events.length > EVENT_BACKLOG) {
        this.#events.shift();
        this.#dropped++;
      }
      this.#wake();
      return;
    }
    const id = typeof msg.id === "string" ? msg.id : undefined;
    const p = id === undefined ? undefined : this.#pending.get(id);
    if (!p || id === undefined) return; // a reply to nobody (e.g. timed out): drop it
    this.#pending.delete(id);
    if ("error" in msg) {
      const err = (msg.error ?? {}) as { class?: string; desc?: string };
      p.reject(new QmpError(p.command, err.class ?? "Unknown", err.desc ?? ""));
    } else {
      p.resolve(msg.return);
    }
  }
}

/**
 * Parses the text of HMP `info registers` into a map of register name to value (as a
 * bigint), e.g. `CR3`, `RIP`, `RSP`, `EFL`. Segment and table registers (`CS =...`,
 * `GDT=...`) map to their base address.
 *
 * @example
 * ```ts
 * import { parseRegisters } from "./qmp.ts";
 * parseRegisters("RAX=0000000000000001 RBX=0000000000000002\nCR0=80050033 CR2=0 CR3=000000000a1b2000")
 *   .get("CR3"); // 0xa1b2000n
 * ```
 */
export function parseRegisters(text: string): Map<string, bigint> {
  const regs = new Map<string, bigint>();
  // "RAX=0000000000000001", "CR3=000000000a1b2000", "CS =0010 0000000000000000 ..."
  const re = /\b([A-Z][A-Z0-9]{1,5})\s*=\s*([0-9a-fA-F]+)(?:\s+([0-9a-fA-F]{8,16})\b)?/g;
  for (const m of text.matchAll(re)) {
    const name = m[1];
    if (regs.has(name)) continue;
    const segment = /^(CS|DS|ES|FS|GS|SS|LDT|TR)$/.test(name);
    const raw = segment && m[3] ? m[3] : m[2];
    try {
      regs.set(name, BigInt("0x" + raw));
    } catch {
      // not a number: skip
    }
  }
  return regs;
}

async function* splitLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buf = "";
  for await (const chunk of stream) {
    buf += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      yield buf.slice(0, nl).replace(/\r$/, "");
      buf = buf.slice(nl + 1);
    }
  }
  buf += decoder.decode();
  if (buf.length > 0) yield buf;
}

async function writeAll(conn: Deno.UnixConn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

function safeClose(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new QmpConnectionError(message)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
