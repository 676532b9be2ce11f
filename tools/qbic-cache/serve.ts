/**
 * `qbic-cache serve`: exports an image (or a RAM disk) over NBD with QBic's block cache in front,
 * optionally recording every request. The stack reads off the command line, top to bottom:
 * NBD server → recorder (`--record`) → cache (`--cache-size`, `--policy`, `--admit`, `--mode`)
 * → the image through the daio engine (or `memory:SIZE`).
 *
 * @module
 */
import { type Command, Option, type OptionValues } from "@commander-js/extra-typings";
import {
  addExamples,
  describeFsError,
  formatSize,
  formatTable,
  parseDuration,
  parsePositive,
  parseSize,
  sameFile,
  ToolError,
  UsageError,
  withCommonOptions,
} from "../../lib/cli/mod.ts";
import { type RunRecorder as Run, startRun } from "../../lib/results/mod.ts";
import type { BlockDevice } from "../../lib/block/block_device.ts";
import { MemoryDevice } from "../../lib/block/memory_device.ts";
import { FileDevice, openFileDevice } from "../../lib/block/file_device.ts";
import { FileExtentsLayer } from "../../lib/block/file_extents.ts";
import { CACHE_MODES, type CacheMode } from "../../lib/block/cache_layer.ts";
import type { CacheStatsLayer } from "../../lib/block/cache_stats.ts";
import { stackCache } from "./cache_stack.ts";
import { RecorderLayer, type RecordSink, RecordWriter } from "../../lib/block/recorder.ts";
import { LatencyDevice } from "../../lib/block/latency_device.ts";
import { type LatencyModel, parseLatencyModel } from "../../lib/block/latency_model.ts";
import { createPolicy, ONLINE_POLICY_NAMES } from "../../lib/cache/registry.ts";
import { ADMISSION_NAMES, createAdmission } from "../../lib/cache/admission.ts";
import type { AdmissionFilter } from "../../lib/cache/policy.ts";
import { DEFAULT_LIMITS, NbdServer } from "../../lib/nbd/mod.ts";
import type { NbdExport } from "../../lib/nbd/types.ts";
import {
  type Allocation,
  ALLOCATIONS,
  buildExportStack,
  type ExportSpec,
  ExportSpecError,
  type ExportStack,
  MAX_EXPORTS,
  parseExportSpec,
} from "./export_stack.ts";
import { exportRows, exportTable, recordExportFigures } from "./export_figures.ts";

/** Parsed options of `serve`. */
export interface ServeOptions {
  socket?: string;
  port?: number;
  readOnly: boolean;
  exportName?: string;
  cacheSize: number;
  blockSize: number;
  policy: string;
  admit: string;
  /** `--admit pdc`: how the journal is found (`auto`: located in the image, else online). */
  pdcJournal: "auto" | "exact" | "heuristic";
  /** `--admit pdc`: also keep the checkpoint writes out (the image's fixed ext4 metadata). */
  pdcCheckpoint: boolean;
  /** `--admit pdc`: demote refused requests to the eviction end instead of keeping them out. */
  pdcDemote: boolean;
  mode: CacheMode;
  cacheOnRead: boolean;
  record?: string;
  direct: "auto" | "on" | "off";
  queues: number;
  queueDepth: number;
  /** A backing-device latency model spec (lib/block/latency_model.ts), e.g. `100us`, `hdd`. */
  backingLatency?: string;
  /** `--export NAME=IMAGE[,read-only][,share=P%][,max=P%]`, repeated: many exports, one cache. */
  export?: string[];
  allocation: Allocation;
  shared: number;
  connBudget: number;
  serverBudget: number;
  handshakeLimit: number;
  idleTimeout: number;
  statsInterval?: number;
  db?: string | boolean;
  output: "text" | "json";
  quiet: boolean;
}

function defaultSocket(): string {
  return `${Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp"}/qbic-cache.sock`;
}

/** The io_uring features the images' engines run with (shown at start-up, recorded per run). */
let engineFeatures: string[] | null = null;

async function openImage(image: string, o: ServeOptions): Promise<BlockDevice> {
  const mem = /^memory:(.+)$/.exec(image);
  if (mem) {
    let size: number;
    try {
      size = parseSize(mem[1]);
    } catch {
      throw new UsageError(`${image}: not a size after memory:`);
    }
    return new MemoryDevice(size, { name: "memory", readOnly: o.readOnly });
  }
  let dev: BlockDevice;
  try {
    dev = await openFileDevice(image, {
      readOnly: o.readOnly,
      direct: o.direct === "auto" ? "auto" : o.direct === "on",
      queues: o.queues,
      queueDepth: o.queueDepth,
    });
  } catch (e) {
    const m = (e as Error).message.split("\n")[0];
    throw new ToolError(m.startsWith(`${image}: `) ? m : `${image}: ${m}`);
  }
  if (dev instanceof FileDevice) engineFeatures ??= dev.engine.info.features;
  // Holes and data for NBD block status (qemu-img map, nbdinfo --map, sparse copies).
  try {
    return new FileExtentsLayer(dev, image);
  } catch (e) {
    console.error(`qbic-cache serve: ${image}: no block status: ${(e as Error).message}`);
    return dev;
  }
}

/** The `--backing-latency` model (if any), directly over the image and under the cache. */
function withLatency(dev: BlockDevice, o: ServeOptions): LatencyDevice | null {
  return o.backingLatency === undefined
    ? null
    : new LatencyDevice(dev, modelOf(o.backingLatency, dev.size));
}

function modelOf(spec: string, size: number): LatencyModel {
  try {
    return parseLatencyModel(spec, size);
  } catch (e) {
    throw new UsageError(`--backing-latency: ${(e as Error).message}`);
  }
}

/** The admission filter of `--admit` and the `--pdc-*` options (their wiring only). */
async function openAdmission(o: ServeOptions, image: string): Promise<AdmissionFilter> {
  if (o.admit !== "pdc") return await createAdmission(o.admit);
  const refine = { checkpoint: o.pdcCheckpoint, demote: o.pdcDemote };
  const memory = image.startsWith("memory:");
  if (memory && (o.pdcCheckpoint || o.pdcJournal === "exact")) {
    throw new UsageError(
      `--admit pdc: ${
        o.pdcCheckpoint ? "--pdc-checkpoint" : "--pdc-journal exact"
      } needs an image file, not ${image}`,
    );
  }
  if (o.pdcJournal === "heuristic" || memory) {
    return await createAdmission("pdc", { ...refine, heuristic: true, image });
  }
  try {
    return await createAdmission("pdc", { ...refine, image });
  } catch (e) {
    const m = `--admit pdc: ${(e as Error).message}`;
    if (o.pdcJournal === "exact" || o.pdcCheckpoint) throw new ToolError(m);
    console.error(`qbic-cache serve: ${m}; learning the journal online`);
    return await createAdmission("pdc", { ...refine, heuristic: true });
  }
}

function exportNameOf(image: string, given?: string): string {
  if (given !== undefined) return given;
  if (image.startsWith("memory:")) return "memory";
  return image.split("/").pop() || image;
}

/** The figures of a serve run so far, as one row (summed over the caches of all exports). */
function summaryRow(caches: CacheStatsLayer[], server: NbdServer, secs: number) {
  let accesses = 0, hits = 0, reqs = 0, whole = 0, evictions = 0, writebacks = 0, dirty = 0;
  for (const c of caches) {
    const s = c.stats;
    accesses += s.readBlocks + s.writeBlocks;
    hits += s.readHits + s.writeHits;
    reqs += s.readRequests + s.writeRequests;
    whole += s.readWholeHits + s.writeWholeHits;
    evictions += s.evictions;
    writebacks += s.writebacks;
    dirty += c.dirtyBytes;
  }
  return {
    seconds: Number(secs.toFixed(1)),
    connections: server.stats.connections,
    requests: server.stats.requests,
    iops: Math.round(server.stats.requests / Math.max(secs, 1e-9)),
    errors: server.stats.errors,
    dropped: server.stats.dropped,
    accesses,
    hits,
    hit_ratio: accesses ? Number((hits / accesses).toFixed(4)) : 0,
    whole_request_hit_share: reqs ? Number((whole / reqs).toFixed(4)) : 0,
    evictions,
    writebacks,
    dirty_bytes: dirty,
    refused_connections: server.stats.refused,
    peak_bytes_in_flight: server.budget.peak,
  };
}

/** The modelled device's figures for the shutdown table (only when `--backing-latency`). */
function deviceRow(latency: LatencyDevice) {
  const s = latency.stats;
  return {
    device_requests: s.requests,
    device_mean_latency_us: s.requests ? Math.round(s.latencyNs / s.requests / 1e3) : 0,
  };
}

/** The modelled backing device's figures: what reached the slow device and how long it took. */
function recordDeviceFigures(
  run: { metric(name: string, value: number, unit: string, labels: Record<string, string>): void },
  latency: LatencyDevice,
  labels: Record<string, string>,
): void {
  const s = latency.stats;
  const l = { ...labels, backing_latency: latency.model.spec };
  run.metric("device_requests", s.requests, "", l);
  run.metric("device_bytes", s.bytes, "B", l);
  run.metric("device_busy", s.busyNs / 1e6, "ms", l);
  run.metric("device_queue_wait", s.queueWaitNs / 1e6, "ms", l);
  run.metric("device_mean_latency", s.requests ? s.latencyNs / s.requests / 1e3 : 0, "us", l);
  run.metric("device_max_latency", s.maxLatencyNs / 1e3, "us", l);
}

/** What `serve` exports and how to take it down: one image, or many behind one cache. */
interface ServedStack {
  /** For the start-up line and the run's labels: the image, or `N exports`. */
  label: string;
  /** The admission filter as results name it, e.g. `all`, `pdc(exact,demote)`. */
  admit: string;
  exports: NbdExport[];
  caches: CacheStatsLayer[];
  /** The trace being recorded (`--record`): records so far, and the sink's error. */
  recorder: { readonly records: number; readonly error: Error | null } | null;
  latency: LatencyDevice | null;
  many: ExportStack | null;
  close(): Promise<void>;
}

/** The single-image stack: recorder → cache → (latency model) → image. */
async function openSingleStack(image: string, o: ServeOptions): Promise<ServedStack> {
  const opened = await openImage(image, o);
  const latency = withLatency(opened, o);
  const base: BlockDevice = latency ?? opened;
  const exportName = exportNameOf(image, o.exportName);
  let dev: BlockDevice = base;
  let cache: CacheStatsLayer | null = null;
  let recorder: RecorderLayer | null = null;
  let admit = o.admit;
  try {
    if (o.cacheSize > 0) {
      const admission = await openAdmission(o, image);
      admit = admission.label ?? admission.name;
      const blocks = Math.floor(o.cacheSize / o.blockSize);
      cache = stackCache(base, {
        policy: createPolicy(o.policy, blocks),
        blockSize: o.blockSize,
        mode: o.mode,
        cacheOnRead: o.cacheOnRead,
        admission,
        log: (m) => console.error(`qbic-cache serve: ${m}`),
      });
      dev = cache;
    }
    if (o.record !== undefined) {
      recorder = await openRecorder(dev, o.record, image, exportName);
      dev = recorder;
    }
  } catch (e) {
    await base.close().catch(() => {});
    throw e;
  }
  const top = dev;
  return {
    label: image,
    admit,
    exports: [{ name: exportName, description: image, device: top, readOnly: o.readOnly }],
    caches: cache ? [cache] : [],
    recorder,
    latency,
    many: null,
    close: () => top.close(),
  };
}

/** Opens `--record`'s sink: stdout for `-`, else the file (never one of the served images). */
async function openRecordSink(
  record: string,
  images: string[],
): Promise<RecordSink & { close?: () => void }> {
  for (const image of images) {
    if (record !== "-" && sameFile(record, image)) {
      // Opening the record file truncates it: that would empty the image being served.
      throw new UsageError(`--record ${record}: is the image being served`);
    }
  }
  try {
    return record === "-"
      ? Deno.stdout
      : await Deno.open(record, { write: true, create: true, truncate: true });
  } catch (e) {
    throw new ToolError(`--record ${record}: ${describeFsError(e)}`);
  }
}

async function openRecorder(
  dev: BlockDevice,
  record: string,
  image: string,
  exportName: string,
): Promise<RecorderLayer> {
  const sink = await openRecordSink(record, [image]);
  return new RecorderLayer(dev, sink, { dev: exportName, closeSink: record !== "-" });
}

/** One trace for many exports: a recorder on top of each, one writer in arrival order. */
async function recordExports(
  exports: NbdExport[],
  record: string,
  images: string[],
): Promise<{ writer: RecordWriter; layers: RecorderLayer[] }> {
  const writer = new RecordWriter(await openRecordSink(record, images));
  const layers = exports.map((e) => {
    const layer = new RecorderLayer(e.device, writer, { dev: e.name });
    e.device = layer;
    return layer;
  });
  return { writer, layers };
}

/** Many exports behind one cache (`--export NAME=IMAGE`, repeated); see export_stack.ts. */
async function openManyStack(specs: ExportSpec[], o: ServeOptions): Promise<ServedStack> {
  if (o.admit !== "all") throw new UsageError(`--admit ${o.admit} takes one image, not --export`);
  if (o.exportName !== undefined) throw new UsageError("--export-name takes one image");
  if (specs.length > MAX_EXPORTS) {
    throw new UsageError(`--export: at most ${MAX_EXPORTS} exports (got ${specs.length})`);
  }
  const names = new Set<string>();
  for (const s of specs) {
    if (names.has(s.name)) throw new UsageError(`--export: the name '${s.name}' is given twice`);
    names.add(s.name);
  }
  const images: BlockDevice[] = [];
  try {
    for (const s of specs) {
      images.push(
        await openImage(s.image, { ...o, readOnly: o.readOnly || s.readOnly }),
      );
    }
    const many = buildExportStack(
      specs.map((s) => ({ ...s, readOnly: s.readOnly || o.readOnly })),
      images,
      {
        cacheSize: o.cacheSize,
        blockSize: o.blockSize,
        policy: o.policy,
        mode: o.mode,
        cacheOnRead: o.cacheOnRead,
        allocation: o.allocation,
        model: o.backingLatency === undefined
          ? undefined
          : (size) => modelOf(o.backingLatency!, size),
        log: (m) => console.error(`qbic-cache serve: ${m}`),
      },
    );
    const rec = o.record === undefined
      ? null
      : await recordExports(many.exports, o.record, specs.map((s) => s.image));
    return {
      label: `${specs.length} exports`,
      admit: o.admit,
      exports: many.exports,
      caches: many.caches,
      recorder: rec && {
        get records() {
          return rec.layers.reduce((n, l) => n + l.records, 0);
        },
        get error() {
          return rec.writer.error;
        },
      },
      latency: many.latency,
      many,
      close: async () => {
        try {
          await many.close();
        } finally {
          await rec?.writer.close(o.record !== "-");
        }
      },
    };
  } catch (e) {
    await Promise.allSettled(images.map((d) => d.close()));
    if (e instanceof ExportSpecError) throw new UsageError(`--export: ${e.message}`);
    throw e;
  }
}

function checkServeOptions(o: ServeOptions): void {
  if (o.socket !== undefined && o.port !== undefined) {
    throw new UsageError("--socket and --port are exclusive");
  }
  if (o.cacheSize > 0 && o.cacheSize < o.blockSize) {
    throw new UsageError(`--cache-size ${o.cacheSize} is smaller than one block`);
  }
  if (!ONLINE_POLICY_NAMES.includes(o.policy)) {
    throw new UsageError(
      `--policy: unknown or offline-only policy '${o.policy}' (live: ${
        ONLINE_POLICY_NAMES.join(", ")
      })`,
    );
  }
  if (!(ADMISSION_NAMES as readonly string[]).includes(o.admit)) {
    throw new UsageError(
      `--admit: unknown filter '${o.admit}' (known: ${ADMISSION_NAMES.join(", ")})`,
    );
  }
  if (o.backingLatency !== undefined) modelOf(o.backingLatency, 0);
  const pdcOpts = o.pdcJournal !== "auto" || o.pdcCheckpoint || o.pdcDemote;
  if (pdcOpts && o.admit !== "pdc") {
    throw new UsageError("--pdc-journal, --pdc-checkpoint and --pdc-demote need --admit pdc");
  }
  if (o.pdcDemote && typeof createPolicy(o.policy, 1).demote !== "function") {
    throw new UsageError(`--pdc-demote: policy ${o.policy} cannot demote (lru, arc, s3fifo, qbic)`);
  }
}

/** The export specs of `--export`, or null for the one-image form; a usage error if both/none. */
function exportSpecsOf(image: string | undefined, o: ServeOptions): ExportSpec[] | null {
  const given = o.export ?? [];
  if (given.length > 0 && image !== undefined) {
    throw new UsageError("give either IMAGE or --export NAME=IMAGE, not both");
  }
  if (given.length === 0 && image === undefined) {
    throw new UsageError("no image: give IMAGE, or --export NAME=IMAGE (repeatable)");
  }
  if (given.length === 0) return null;
  try {
    return given.map(parseExportSpec);
  } catch (e) {
    throw new UsageError(`--export: ${(e as Error).message}`);
  }
}

/** Runs the server until SIGINT/SIGTERM; returns after a clean shutdown. */
export async function serve(image: string | undefined, o: ServeOptions): Promise<void> {
  checkServeOptions(o);
  const specs = exportSpecsOf(image, o);
  const stack = specs ? await openManyStack(specs, o) : await openSingleStack(image!, o);
  const run = await startRun({ db: o.db }, {
    tool: "qbic-cache",
    command: "serve",
    args: { image: stack.label, ...o, db: undefined, backingLatency: stack.latency?.model.spec },
  });
  const server = await startServer(stack, o, run);
  if (!o.quiet) announce(stack, server, o);
  if (engineFeatures) run.event("engine", { engine: "io_uring", features: engineFeatures });
  const figures: Figures = {
    stack,
    server,
    run,
    t0: performance.now(),
    labels: {
      image: stack.label,
      policy: stack.caches.length ? o.policy : "none",
      admit: stack.admit,
      mode: o.mode,
    },
  };
  const stopLive = startLiveFigures(figures, o);
  const stop = stopSignals();
  const sig = await stop.signal;
  stopLive();
  if (!o.quiet) console.error(`qbic-cache serve: ${sig}: finishing requests and flushing`);
  await server.shutdown();
  const cachedAtStop = stack.many?.bytesCached(); // what each VM held; closing empties the cache
  let failure: Error | null = null;
  try {
    await stack.close();
  } catch (e) {
    failure = e as Error;
  }
  if (stack.recorder?.error) failure ??= new ToolError(`--record: ${stack.recorder.error.message}`);
  stop.remove();
  await reportShutdown(figures, o, sig, failure, cachedAtStop);
  if (failure) throw new ToolError(`shutdown: ${failure.message}`);
}

/** What the figures of a run are read from and written to. */
interface Figures {
  stack: ServedStack;
  server: NbdServer;
  run: Run;
  /** When serving started (performance.now()). */
  t0: number;
  labels: Record<string, string>;
}

/** The listen address `--port`/`--socket` give. */
function listenOf(o: ServeOptions): { port: number } | { socket: string } {
  return o.port !== undefined ? { port: o.port } : { socket: o.socket ?? defaultSocket() };
}

/**
 * Starts the NBD server over the stack. On failure closes the stack and fails the run; a limit
 * that cannot work is a usage error naming the option it came from.
 */
async function startServer(stack: ServedStack, o: ServeOptions, run: Run): Promise<NbdServer> {
  const listen = listenOf(o);
  try {
    return NbdServer.start({
      exports: stack.exports,
      listen,
      limits: {
        maxConnections: o.shared,
        connectionBudget: o.connBudget,
        serverBudget: o.serverBudget,
        handshakeLimit: o.handshakeLimit,
        idleTimeout: o.idleTimeout,
      },
      log: (level, msg) => {
        if (!o.quiet || level === "warn") console.error(`qbic-cache serve: ${msg}`);
        if (level === "warn") run.event("nbd", { message: msg });
      },
    });
  } catch (e) {
    await stack.close().catch(() => {});
    await run.finish("failed").catch(() => {});
    if (e instanceof RangeError) {
      // A limit that cannot work (checkLimits): name the option it came from.
      const m = e.message.replace(/^nbd server: /, "");
      const opt = /^max connections/.test(m)
        ? "--shared"
        : /^connection budget/.test(m)
        ? "--conn-budget"
        : /^server budget/.test(m)
        ? "--server-budget"
        : "--handshake-limit/--idle-timeout";
      throw new UsageError(`${opt}: ${m}`);
    }
    const where = "socket" in listen ? `--socket ${listen.socket}` : `--port ${listen.port}`;
    throw new ToolError(`${where}: cannot listen: ${describeFsError(e).replace(/^.*: /, "")}`);
  }
}

/** The start-up lines on stderr: what is served where, the engine, the limits. */
function announce(stack: ServedStack, server: NbdServer, o: ServeOptions): void {
  const what = stack.caches.length > 0
    ? `${o.policy} cache ${formatSize(o.cacheSize)} (${o.mode}, ${o.blockSize}-byte blocks${
      stack.many ? `, ${o.allocation}` : ""
    })`
    : "no cache";
  const slow = stack.latency ? `; backing device modelled as ${stack.latency.model.spec}` : "";
  const adm = stack.admit !== "all" ? `; admission ${stack.admit}` : "";
  console.error(`qbic-cache serve: ${stack.label} on ${server.uri} — ${what}${adm}${slow}`);
  if (engineFeatures) {
    console.error(`qbic-cache serve: engine: io_uring (${engineFeatures.join(", ")})`);
  }
  const l = server.limits;
  const secs = (ms: number) => ms > 0 ? `${ms / 1000}s` : "off";
  console.error(
    `qbic-cache serve: limits: ${l.maxConnections} connections, in flight ` +
      `${formatSize(l.connectionBudget)} per connection and ${formatSize(l.serverBudget)} ` +
      `in all, handshake ${secs(l.handshakeLimit)}, idle ${secs(l.idleTimeout)}`,
  );
}

/** The summary row of the run so far. */
function rowNow(f: Figures) {
  return summaryRow(f.stack.caches, f.server, (performance.now() - f.t0) / 1000);
}

/**
 * Figures while serving: a status line on a terminal every second, the store every
 * `--stats-interval`, the table on SIGUSR1 (as `dd` answers it). Returns what stops them.
 */
function startLiveFigures(f: Figures, o: ServeOptions): () => void {
  const enc = new TextEncoder();
  let lastReq = 0;
  let lastT = f.t0;
  const ticker = !o.quiet && Deno.stderr.isTerminal()
    ? setInterval(() => {
      const now = performance.now();
      const row = rowNow(f);
      const iops = Math.round((row.requests - lastReq) / ((now - lastT) / 1000));
      lastReq = row.requests;
      lastT = now;
      const line = `${row.connections} conn  ${iops} IOPS  hit ${
        (row.hit_ratio * 100).toFixed(1)
      }%  dirty ${formatSize(row.dirty_bytes)}  requests ${row.requests}`;
      Deno.stderr.writeSync(enc.encode(`\r\x1b[2K${line}`));
    }, 1000)
    : undefined;
  const storeTicker = o.statsInterval
    ? setInterval(() => {
      for (const [k, v] of Object.entries(rowNow(f))) f.run.metric(`live_${k}`, v, "", f.labels);
      if (f.stack.many) recordExportFigures(f.run, f.stack.many, f.labels, "live_");
      f.run.flush().catch(() => {});
    }, o.statsInterval)
    : undefined;
  const onUsr1 = () => {
    const many = f.stack.many;
    const table = many ? exportTable(many) : oneRowTable(rowNow(f));
    console.error(formatTable(...table, "text").trimEnd());
  };
  Deno.addSignalListener("SIGUSR1", onUsr1);
  return () => {
    if (ticker !== undefined) {
      clearInterval(ticker);
      Deno.stderr.writeSync(enc.encode("\r\x1b[2K"));
    }
    if (storeTicker !== undefined) clearInterval(storeTicker);
    Deno.removeSignalListener("SIGUSR1", onUsr1);
  };
}

/**
 * SIGINT/SIGTERM: `signal` resolves with the first one's name. The listeners stay until
 * `remove()` (after the flush), so a second signal cannot kill the process mid-flush.
 */
function stopSignals(): { signal: Promise<string>; remove(): void } {
  let stop!: (sig: string) => void;
  const signal = new Promise<string>((r) => stop = r);
  const handlers = (["SIGINT", "SIGTERM"] as Deno.Signal[]).map((s) => {
    const h = () => stop(s);
    Deno.addSignalListener(s, h);
    return [s, h] as const;
  });
  return {
    signal,
    remove: () => {
      for (const [s, h] of handlers) Deno.removeSignalListener(s, h);
    },
  };
}

/** The figures at shutdown: to the store (metrics, the shutdown event), then printed. */
async function reportShutdown(
  f: Figures,
  o: ServeOptions,
  sig: string,
  failure: Error | null,
  cachedAtStop: number[] | undefined,
): Promise<void> {
  const { run, labels, stack: { recorder, latency, many, admit } } = f;
  const row = { ...rowNow(f), ...(latency ? deviceRow(latency) : {}) };
  for (const [k, v] of Object.entries(row)) run.metric(k, v, "", labels);
  if (recorder) run.metric("records", recorder.records, "", labels);
  if (latency) recordDeviceFigures(run, latency, labels);
  if (many) recordExportFigures(run, many, labels, "", cachedAtStop);
  run.event("shutdown", { signal: sig, admit, ...row });
  await run.finish(failure ? "failed" : "ok").catch(() => {});
  if (o.quiet && o.output !== "json") return;
  if (o.output === "json") {
    const one = { admit, ...row };
    const out = many ? { ...one, exports: exportRows(many, cachedAtStop) } : one;
    await Deno.stdout.write(new TextEncoder().encode(JSON.stringify(out) + "\n"));
  } else {
    console.error(formatTable(...oneRowTable({ admit, ...row }), "text").trimEnd());
    if (many) console.error(formatTable(...exportTable(many, cachedAtStop), "text").trimEnd());
  }
}

function oneRowTable(row: Record<string, unknown>): [string[], unknown[][]] {
  return [Object.keys(row), [Object.values(row)]];
}

/** Adds `serve` to the `qbic-cache` program: the options in groups (below), then examples. */
export function addServeCommand(program: Command) {
  const cmd = withCommonOptions(
    exportOptions(limitOptions(engineOptions(cacheOptions(listenOptions(
      program.command("serve")
        .description(
          "export IMAGE (or memory:SIZE) over NBD with QBic's block cache in front; " +
            "SIGINT/SIGTERM finishes requests, writes dirty blocks back and exits",
        )
        .argument("[image]", "image file or block device, or memory:SIZE for a RAM disk"),
    ))))),
  ).action(async (image, opts) => {
    await serve(image, opts);
  });
  addExamples(cmd as never, [
    "qbic-cache serve --socket /run/q.sock disk.img",
    "qbic-cache serve --policy qbic --admit pdc --record trace.jsonl --cache-size 256M disk.img",
    "qbic-cache serve --port 10809 --read-only --mode writethrough disk.img",
    "qbic-cache serve --cache-size 0 memory:1G",
    "qbic-cache serve --direct on --backing-latency 'hdd(rpm=7200)' --cache-size 128M disk.img",
    "qbic-cache serve --export vm1=vm1.img --export vm2=vm2.img,read-only --cache-size 256M",
  ]);
  return cmd;
}

/** Where to listen and what to export: socket or port, read-only, the export's name. */
function listenOptions<A extends unknown[], O extends OptionValues, G extends OptionValues>(
  cmd: Command<A, O, G>,
) {
  return cmd
    .option("--socket <path>", `Unix socket to listen on (default ${defaultSocket()})`)
    .option("-p, --port <port>", "listen on TCP 127.0.0.1:PORT instead of a socket", (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 65535) {
        throw new UsageError(`--port: bad port ${v}`);
      }
      return n;
    })
    .option("-r, --read-only", "export read-only (writes get EPERM)", false)
    .option("-x, --export-name <name>", "export name (default: the image's file name)");
}

/** The cache's layers: size, blocks, policy, admission, mode; and the recorder above it. */
function cacheOptions<A extends unknown[], O extends OptionValues, G extends OptionValues>(
  cmd: Command<A, O, G>,
) {
  return cmd
    .option("--cache-size <size>", "cache size; 0 serves without a cache", parseSize, 64 << 20)
    .option("--block-size <size>", "cache block size", parseSize, 4096)
    .addOption(
      new Option("--policy <name>", "eviction/admission policy").choices(ONLINE_POLICY_NAMES)
        .default("qbic"),
    )
    .addOption(
      new Option("--admit <name>", "admission filter").choices(ADMISSION_NAMES).default("all"),
    )
    .addOption(
      new Option(
        "--pdc-journal <how>",
        "pdc: find the journal in the image (exact), online (heuristic), or exact else online",
      ).choices(["auto", "exact", "heuristic"] as const).default("auto" as const),
    )
    .option(
      "--pdc-checkpoint",
      "pdc: keep checkpoint writes (to the ext4 image's fixed metadata) out too",
      false,
    )
    .option("--pdc-demote", "pdc: cache refused requests at the eviction end instead", false)
    .addOption(
      new Option("--mode <mode>", "durability mode").choices(CACHE_MODES).default(
        "writeback" as CacheMode,
      ),
    )
    .option("--cache-on-read", "keep blocks read misses bring in (default)", true)
    .option("--no-cache-on-read", "cache written blocks only")
    .option("--record <file>", "write every request as an I/O record (JSON lines; - = stdout)");
}

/** The image's engine: O_DIRECT, io_uring queues and their depth. */
function engineOptions<A extends unknown[], O extends OptionValues, G extends OptionValues>(
  cmd: Command<A, O, G>,
) {
  return cmd
    .addOption(
      new Option("--direct <mode>", "O_DIRECT on the image").choices(
        ["auto", "on", "off"] as const,
      )
        .default("auto" as const),
    )
    .option("--queues <n>", "daio engine queues (io_uring instances)", parsePositive, 1)
    .option("--queue-depth <n>", "daio engine requests in flight per queue", parsePositive, 64);
}

/** Many exports behind one cache, the modelled backing device, live figures to the store. */
function exportOptions<A extends unknown[], O extends OptionValues, G extends OptionValues>(
  cmd: Command<A, O, G>,
) {
  return cmd
    .option(
      "--export <name=image>",
      "export IMAGE as NAME (repeat for many VMs behind one cache); options after a comma: " +
        "read-only, share=P% (static allocation), max=P% (most of the shared pool)",
      (v: string, prev: string[] | undefined) => [...(prev ?? []), v],
    )
    .addOption(
      new Option("--allocation <how>", "how exports share the cache memory").choices(ALLOCATIONS)
        .default("shared" as Allocation),
    )
    .option(
      "--backing-latency <model>",
      "make the image as slow as a disk: 100us (fixed), fixed(latency=,queues=,bandwidth=,flush=), " +
        "hdd(rpm=,seek=,track=,bandwidth=,seed=); only cache misses and write-backs pay it",
    )
    .option(
      "--stats-interval <duration>",
      "write live figures to the store this often",
      parseDuration,
    );
}

/** What clients may hold: connections, bytes in flight, handshake and idle time. */
function limitOptions<A extends unknown[], O extends OptionValues, G extends OptionValues>(
  cmd: Command<A, O, G>,
) {
  return cmd
    .addOption(
      new Option(
        "-e, --shared <n>",
        "most connections at once (qemu-nbd's word); more are closed",
      )
        .argParser(parsePositive).default(DEFAULT_LIMITS.maxConnections),
    )
    .addOption(
      new Option(
        "--conn-budget <size>",
        "bytes one connection may have in flight (request data and replies not yet sent)",
      ).argParser(parseSize).default(DEFAULT_LIMITS.connectionBudget, "64M"),
    )
    .addOption(
      new Option("--server-budget <size>", "bytes all connections may have in flight together")
        .argParser(parseSize).default(DEFAULT_LIMITS.serverBudget, "512M"),
    )
    .addOption(
      new Option(
        "--handshake-limit <duration>",
        "time a client has to finish the handshake; 0 = no limit (qemu-nbd's word)",
      ).argParser(parseDuration).default(DEFAULT_LIMITS.handshakeLimit, "10s"),
    )
    .addOption(
      new Option(
        "--idle-timeout <duration>",
        "close a connection after this long with no byte either way; 0 = never",
      ).argParser(parseDuration).default(DEFAULT_LIMITS.idleTimeout, "0, never"),
    );
}
