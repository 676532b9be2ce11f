/**
 * Service-time models of a slow backing device, for {@linkcode LatencyDevice}: what a cache miss
 * costs when the image sits on a real disk rather than in the host's page cache. A model turns
 * one request into a service time; the device's queues (how many requests it serves at once)
 * turn service times into completion times. Specs read like policy specs: a name and
 * parameters, e.g. `fixed(latency=100us,queues=4)` or `hdd(rpm=7200,seek=8ms)`; a bare duration
 * (`100us`) is `fixed(latency=100us)`. Every result names the model by its {@linkcode spec},
 * which lists every effective parameter.
 *
 * - `fixed`: reads and writes take `latency` plus `length / bandwidth` (no bandwidth term when
 *   `bandwidth=0`); trim and write-zeroes take `latency`; flush takes `flush` (default:
 *   `latency`). Defaults: `queues=1`, `bandwidth=0`.
 * - `hdd`: one head. A request that starts where the last one ended pays only the transfer;
 *   any other pays a seek, `track + (seek - track) * sqrt(d / (size / 3))` for a distance of d
 *   bytes (so `seek` is the mean over uniformly random pairs and a full stroke is about 1.7x
 *   it), plus a rotational delay drawn uniformly from one revolution with a seeded generator,
 *   plus the transfer at `bandwidth`. Flush costs half a revolution. Defaults: `rpm=7200`,
 *   `seek=8ms`, `track=1ms`, `bandwidth=150M` (bytes/s), `queues=1`, `seed=1`.
 *
 * @module
 */

/** The request kinds a model prices. */
export type ModelOp = "read" | "write" | "trim" | "zero" | "flush";

/** A spec that does not parse, or a parameter out of range. */
export class LatencyModelError extends Error {
  override name = "LatencyModelError";
}

/** A backing-device model: a service time per request, and how many run at once. */
export interface LatencyModel {
  /** The model with every effective parameter, e.g. `fixed(latency=100us,queues=1,...)`. */
  readonly spec: string;
  /** Requests served at once; more wait in line. */
  readonly queues: number;
  /** Service time in nanoseconds (the model may keep state, such as a head position). */
  serviceNs(op: ModelOp, offset: number, length: number): number;
}

const DURATION_UNITS: Record<string, number> = { ns: 1, us: 1e3, ms: 1e6, s: 1e9 };

/** Parses `100us`, `2ms`, `1.5s`, `250ns` into nanoseconds. */
export function parseDurationNs(text: string, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ns|us|ms|s)\s*$/.exec(text);
  if (!m) {
    throw new LatencyModelError(`${what}: not a duration with a unit (ns, us, ms, s): '${text}'`);
  }
  const ns = Number(m[1]) * DURATION_UNITS[m[2]];
  if (!Number.isFinite(ns) || ns > 60e9) {
    throw new LatencyModelError(`${what}: ${text} is over the 60 s limit`);
  }
  return ns;
}

/** Parses a byte rate `150M`, `1G`, `500K`, `0` (binary multiples, per second). */
function parseRate(text: string, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?(?:\/s)?\s*$/i.exec(text);
  if (!m) throw new LatencyModelError(`${what}: not a byte rate: '${text}'`);
  const mult = { "": 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 }[m[2].toUpperCase()]!;
  return Number(m[1]) * mult;
}

function parseCount(text: string, what: string, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || n < 1 || n > max) {
    throw new LatencyModelError(`${what}: must be a whole number from 1 to ${max}: '${text}'`);
  }
  return n;
}

function formatNs(ns: number): string {
  if (ns === 0) return "0";
  if (ns % 1e9 === 0) return `${ns / 1e9}s`;
  if (ns % 1e6 === 0) return `${ns / 1e6}ms`;
  if (ns % 1e3 === 0) return `${ns / 1e3}us`;
  return `${ns}ns`;
}

function formatRate(bps: number): string {
  if (bps === 0) return "0";
  for (const [u, m] of [["G", 2 ** 30], ["M", 2 ** 20], ["K", 2 ** 10]] as const) {
    if (bps % m === 0) return `${bps / m}${u}`;
  }
  return String(bps);
}

/** The most requests a model serves at once (a deep NVMe queue; more is not a slow device). */
export const MAX_MODEL_QUEUES = 1024;

function fixedModel(p: Map<string, string>): LatencyModel {
  const latency = parseDurationNs(take(p, "latency") ?? "100us", "latency");
  const flushText = take(p, "flush");
  const flush = flushText === undefined ? latency : parseDurationNs(flushText, "flush");
  const bandwidth = parseRate(take(p, "bandwidth") ?? "0", "bandwidth");
  const queues = parseCount(take(p, "queues") ?? "1", "queues", MAX_MODEL_QUEUES);
  rejectRest(p, "fixed");
  const spec = `fixed(latency=${formatNs(latency)},flush=${formatNs(flush)},bandwidth=${
    formatRate(bandwidth)
  },queues=${queues})`;
  return {
    spec,
    queues,
    serviceNs(op, _offset, length) {
      if (op === "flush") return flush;
      if ((op === "read" || op === "write") && bandwidth > 0) {
        return latency + Math.round(length / bandwidth * 1e9);
      }
      return latency;
    },
  };
}

function hddModel(p: Map<string, string>, deviceSize: number): LatencyModel {
  const rpm = parseCount(take(p, "rpm") ?? "7200", "rpm", 100_000);
  const seek = parseDurationNs(take(p, "seek") ?? "8ms", "seek");
  const track = parseDurationNs(take(p, "track") ?? "1ms", "track");
  const bandwidth = parseRate(take(p, "bandwidth") ?? "150M", "bandwidth");
  const queues = parseCount(take(p, "queues") ?? "1", "queues", MAX_MODEL_QUEUES);
  const seed = parseCount(take(p, "seed") ?? "1", "seed", 2 ** 31 - 1);
  rejectRest(p, "hdd");
  if (track > seek) throw new LatencyModelError(`hdd: track (${formatNs(track)}) exceeds seek`);
  if (bandwidth <= 0) throw new LatencyModelError("hdd: bandwidth must be above 0");
  const revolution = 60e9 / rpm;
  const third = Math.max(deviceSize / 3, 1);
  let head = 0;
  let state = seed >>> 0 || 1;
  const uniform = () => { // xorshift32: the same delays for the same seed and requests
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 2 ** 32;
  };
  return {
    spec: `hdd(rpm=${rpm},seek=${formatNs(seek)},track=${formatNs(track)},bandwidth=${
      formatRate(bandwidth)
    },queues=${queues},seed=${seed})`,
    queues,
    serviceNs(op, offset, length) {
      if (op === "flush") return Math.round(revolution / 2);
      const transfer = op === "read" || op === "write" ? length / bandwidth * 1e9 : 0;
      let position = 0;
      if (offset !== head) {
        const d = Math.abs(offset - head);
        position = track + (seek - track) * Math.sqrt(d / third) + uniform() * revolution;
      }
      head = offset + length;
      return Math.round(position + transfer);
    },
  };
}

function take(p: Map<string, string>, key: string): string | undefined {
  const v = p.get(key);
  p.delete(key);
  return v;
}

function rejectRest(p: Map<string, string>, model: string): void {
  for (const k of p.keys()) throw new LatencyModelError(`${model}: unknown parameter '${k}'`);
}

/**
 * Builds a model from its spec; `deviceSize` (bytes) scales the HDD's seek curve.
 *
 * @example
 * ```ts
 * import { parseLatencyModel } from "./latency_model.ts";
 * const m = parseLatencyModel("100us", 1 << 30);
 * m.spec; // "fixed(latency=100us,flush=100us,bandwidth=0,queues=1)"
 * m.serviceNs("read", 0, 4096); // 100000
 * ```
 */
export function parseLatencyModel(text: string, deviceSize: number): LatencyModel {
  const t = text.trim();
  if (/^\d/.test(t)) return fixedModel(new Map([["latency", t]]));
  const m = /^([a-z]+)(?:\((.*)\))?$/.exec(t);
  if (!m) {
    throw new LatencyModelError(`not a latency model: '${text}' (e.g. 100us, hdd, fixed(...))`);
  }
  const params = new Map<string, string>();
  for (const part of (m[2] ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "")) {
    const eq = part.indexOf("=");
    if (eq <= 0) throw new LatencyModelError(`${m[1]}: parameter '${part}' is not key=value`);
    const key = part.slice(0, eq).trim();
    if (params.has(key)) throw new LatencyModelError(`${m[1]}: parameter '${key}' given twice`);
    params.set(key, part.slice(eq + 1).trim());
  }
  if (m[1] === "fixed") return fixedModel(params);
  if (m[1] === "hdd") return hddModel(params, deviceSize);
  throw new LatencyModelError(`unknown latency model '${m[1]}' (known: fixed, hdd)`);
}
