/**
 * The recorder layer: passes every request to the device below and writes it as an I/O record
 * (DESIGN.md, JSON lines) — `{"ts":ns,"op":"R","off":..,"len":..,"dev":"name"}`, plus
 * `"fua":true` on FUA writes and `"hit":true|false` when the layer below is a cache (it reads
 * {@linkcode HitSource.lastHit}). It sits ABOVE the cache in `qbic-cache serve`, so the trace is
 * exactly the stream the client sent, in arrival order, and replaying it through the simulator
 * reproduces the live cache's decisions. `ts` is nanoseconds since the recorder started.
 *
 * Lines are buffered and written in batches (every 64 KiB, every 200 ms, and on close) by a
 * {@linkcode RecordWriter}; several recorders (one per export of a shared cache) can share one
 * writer, so one trace holds every export's requests in arrival order, each with its `dev`.
 *
 * @module
 */
import type { BlockDevice, WriteFlags, ZeroFlags } from "./block_device.ts";
import { type HitSource, isHitSource } from "./hit_source.ts";
import { type BlockExtent, extentsOf, type ExtentSource } from "./extents.ts";

const BATCH_BYTES = 64 * 1024;
const BATCH_MS = 200;

/** Where record lines go: any writer (a file, stdout). */
export interface RecordSink {
  write(p: Uint8Array): Promise<number>;
}

/** Options of {@linkcode RecorderLayer}. */
export interface RecorderOptions {
  /** The `dev` field (default: the device's name). */
  dev?: string;
  /** Close the sink when the layer closes (default true). */
  closeSink?: boolean;
}

/**
 * Where recorders' lines go: one buffer in arrival order, batched into the sink; one time origin,
 * so `ts` is comparable across the recorders sharing it.
 */
export class RecordWriter {
  #lines: string[] = [];
  #bytes = 0;
  #t0 = performance.now();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #writing: Promise<void> = Promise.resolve();
  #enc = new TextEncoder();
  #error: Error | null = null;
  #closed = false;

  constructor(private readonly sink: RecordSink & { close?: () => void }) {}

  /** The write error of the sink, if the trace could not be written. */
  get error(): Error | null {
    return this.#error;
  }

  /** Nanoseconds since the writer started. */
  now(): number {
    return Math.round((performance.now() - this.#t0) * 1e6);
  }

  /** Appends one line (with its newline). */
  add(line: string): void {
    this.#lines.push(line);
    this.#bytes += line.length;
    if (this.#bytes >= BATCH_BYTES) this.sync();
    else if (this.#timer === undefined && !this.#closed) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.sync();
      }, BATCH_MS);
    }
  }

  /** Writes out buffered lines now. */
  sync(): Promise<void> {
    if (this.#lines.length === 0) return this.#writing;
    const data = this.#enc.encode(this.#lines.join(""));
    this.#lines = [];
    this.#bytes = 0;
    this.#writing = this.#writing.then(async () => {
      if (this.#error) return;
      try {
        let done = 0;
        while (done < data.length) done += await this.sink.write(data.subarray(done));
      } catch (e) {
        this.#error = e as Error;
      }
    });
    return this.#writing;
  }

  /** Writes the last lines; closes the sink when `closeSink`. */
  async close(closeSink: boolean): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.sync();
    if (closeSink) {
      try {
        this.sink.close?.();
      } catch { /* closed */ }
    }
  }
}

/** A BlockDevice that records every request it passes on. */
export class RecorderLayer implements BlockDevice, ExtentSource {
  readonly name: string;
  readonly size: number;
  readonly readOnly: boolean;
  readonly blockSizes;
  /** Records written so far. */
  records = 0;
  #writer: RecordWriter;
  #ownWriter: boolean;
  #devJson: string;
  #hits: HitSource | null;

  /** `sink`: a file or stdout (this layer's own writer), or a {@linkcode RecordWriter} shared. */
  constructor(
    private readonly inner: BlockDevice,
    sink: (RecordSink & { close?: () => void }) | RecordWriter,
    private readonly opts: RecorderOptions = {},
  ) {
    this.name = inner.name;
    this.size = inner.size;
    this.readOnly = inner.readOnly;
    this.blockSizes = inner.blockSizes;
    this.#ownWriter = !(sink instanceof RecordWriter);
    this.#writer = sink instanceof RecordWriter ? sink : new RecordWriter(sink);
    this.#devJson = JSON.stringify(opts.dev ?? inner.name);
    this.#hits = isHitSource(inner) ? inner : null;
  }

  /** The write error of the sink, if the trace could not be written. */
  get error(): Error | null {
    return this.#writer.error;
  }

  #add(op: string, off: number, len: number, fua: boolean, ts: number): void {
    let line = `{"ts":${ts},"op":"${op}","off":${off},"len":${len},"dev":${this.#devJson}`;
    if (fua) line += `,"fua":true`;
    const hit = this.#hits?.lastHit;
    if (hit !== undefined) line += hit ? `,"hit":true` : `,"hit":false`;
    line += "}\n";
    this.records++;
    this.#writer.add(line);
  }

  #now(): number {
    return this.#writer.now();
  }
  read(offset: number, buf: Uint8Array): Promise<void> {
    const ts = this.#now();
    const p = this.inner.read(offset, buf);
    this.#add("R", offset, buf.length, false, ts);
    return p;
  }

  write(offset: number, data: Uint8Array, flags?: WriteFlags): Promise<void> {
    const ts = this.#now();
    const p = this.inner.write(offset, data, flags);
    this.#add("W", offset, data.length, flags?.fua === true, ts);
    return p;
  }

  flush(): Promise<void> {
    const ts = this.#now();
    const p = this.inner.flush();
    this.#add("F", 0, 0, false, ts);
    return p;
  }

  trim(offset: number, length: number, flags?: WriteFlags): Promise<void> {
    const ts = this.#now();
    const p = this.inner.trim(offset, length, flags);
    this.#add("T", offset, length, flags?.fua === true, ts);
    return p;
  }

  zero(offset: number, length: number, flags?: ZeroFlags): Promise<void> {
    const ts = this.#now();
    const p = this.inner.zero(offset, length, flags);
    this.#add("Z", offset, length, flags?.fua === true, ts);
    return p;
  }

  /** Asks the layer below (block status is a query, not an I/O: it is not recorded). */
  extents(offset: number, length: number): Promise<BlockExtent[]> {
    return extentsOf(this.inner, offset, length);
  }

  /** Writes out buffered records now (the trace file then holds every request so far). */
  sync(): Promise<void> {
    return this.#writer.sync();
  }

  /**
   * Closes the device below, then writes the last records and closes the sink (its own writer
   * only: a shared writer is closed by whoever made it).
   */
  async close(): Promise<void> {
    try {
      await this.inner.close();
    } finally {
      if (this.#ownWriter) await this.#writer.close(this.opts.closeSink !== false);
      else await this.#writer.sync();
    }
  }
}
