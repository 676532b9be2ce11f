/**
 * How daio prints and records what a job measured: fio's figures (IOPS, bandwidth, latency
 * percentiles, CPU) as text or JSON, metrics and the latency histogram into the results store.
 *
 * @module
 */
import type { RunRecorder } from "../../lib/results/mod.ts";
import type { TableSpec } from "../../lib/results/schema.ts";
import type { Histogram } from "../../lib/stats/histogram.ts";

/** The figures of one run, engine-independent (bench and replay both fill it). */
export interface Figures {
  label: string;
  elapsedSec: number;
  cpuUsr: number;
  cpuSys: number;
  read: { ios: number; bytes: number; lat: Histogram };
  write: { ios: number; bytes: number; lat: Histogram };
  /** Other operations (flush, trim, zero) in replay. */
  other?: { ios: number; lat: Histogram };
}

/** The latency histogram table: one row per non-empty bucket. */
export const HISTOGRAM_TABLE: TableSpec = {
  name: "daio_latency_histogram",
  columns: [
    ["job", "VARCHAR"],
    ["direction", "VARCHAR"],
    ["low_ns", "BIGINT"],
    ["high_ns", "BIGINT"],
    ["count", "BIGINT"],
  ],
};

function latJson(h: Histogram) {
  const s = h.summary();
  return {
    count: s.count,
    min_ns: s.min,
    max_ns: s.max,
    mean_ns: Math.round(s.mean),
    p50_ns: s.p50,
    p90_ns: s.p90,
    p99_ns: s.p99,
    p99_9_ns: s.p999,
  };
}

/** The JSON form of the figures (fio-like keys, nanosecond latencies). */
export function figuresJson(f: Figures) {
  const dir = (d: { ios: number; bytes: number; lat: Histogram }) => ({
    ios: d.ios,
    bytes: d.bytes,
    iops: d.ios / f.elapsedSec,
    bw_bytes: d.bytes / f.elapsedSec,
    lat: latJson(d.lat),
  });
  return {
    job: f.label,
    elapsed_sec: f.elapsedSec,
    read: dir(f.read),
    write: dir(f.write),
    ...(f.other ? { other: { ios: f.other.ios, lat: latJson(f.other.lat) } } : {}),
    cpu: { usr: f.cpuUsr, sys: f.cpuSys, total: f.cpuUsr + f.cpuSys },
  };
}

function us(ns: number): string {
  return ns >= 10_000_000 ? `${(ns / 1e6).toFixed(1)}ms` : `${(ns / 1000).toFixed(1)}us`;
}

function bw(bytesPerSec: number): string {
  const mib = bytesPerSec / (1024 * 1024);
  return mib >= 1024 ? `${(mib / 1024).toFixed(2)}GiB/s` : `${mib.toFixed(1)}MiB/s`;
}

/** fio-style text lines. */
export function figuresText(f: Figures): string {
  const lines = [`${f.label}: ${f.elapsedSec.toFixed(2)}s`];
  const dir = (name: string, d: { ios: number; bytes: number; lat: Histogram }) => {
    if (d.ios === 0) return;
    const s = d.lat.summary();
    lines.push(
      `  ${name}: IOPS=${Math.round(d.ios / f.elapsedSec)}, BW=${bw(d.bytes / f.elapsedSec)}` +
        ` (${d.ios} ios)`,
      `    lat: min=${us(s.min)} p50=${us(s.p50)} p90=${us(s.p90)} p99=${us(s.p99)}` +
        ` p99.9=${us(s.p999)} max=${us(s.max)} mean=${us(s.mean)}`,
    );
  };
  dir("read", f.read);
  dir("write", f.write);
  if (f.other && f.other.ios > 0) {
    const s = f.other.lat.summary();
    lines.push(
      `  other (flush/trim/zero): ${f.other.ios} ios, p50=${us(s.p50)} p99=${us(s.p99)}`,
    );
  }
  // The kernel's total is exact (scheduler run time); its usr/sys split is sampled at the timer
  // tick (TICK_CPU_ACCOUNTING, 4 ms at HZ=250), so a thread that spends ~1% of its time in user
  // mode in short bursts after each wakeup can show usr=0.0% on a short run. Say so.
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  lines.push(
    `  cpu: usr=${pct(f.cpuUsr)}, sys=${pct(f.cpuSys)}, total=${pct(f.cpuUsr + f.cpuSys)}` +
      ` (of one core; usr/sys split tick-sampled)`,
  );
  return lines.join("\n");
}

/** Records the figures as metrics (labelled) and the histograms as rows. */
export function recordFigures(
  run: RunRecorder,
  f: Figures,
  labels: Record<string, string | number | boolean>,
): void {
  const all = { ...labels, job: f.label };
  const dirs: [string, { ios: number; bytes: number; lat: Histogram }][] = [
    ["read", f.read],
    ["write", f.write],
  ];
  if (f.other) dirs.push(["other", { ios: f.other.ios, bytes: 0, lat: f.other.lat }]);
  for (const [name, d] of dirs) {
    if (d.ios === 0) continue;
    const l = { ...all, direction: name };
    const s = d.lat.summary();
    run.metric("iops", d.ios / f.elapsedSec, "1/s", l);
    run.metric("bw", d.bytes / f.elapsedSec, "B/s", l);
    run.metric("lat_p50", s.p50, "ns", l);
    run.metric("lat_p90", s.p90, "ns", l);
    run.metric("lat_p99", s.p99, "ns", l);
    run.metric("lat_p99_9", s.p999, "ns", l);
    run.metric("lat_max", s.max, "ns", l);
    run.metric("lat_mean", s.mean, "ns", l);
    run.rows(
      HISTOGRAM_TABLE,
      d.lat.buckets().map(([lo, hi, n]) => [f.label, name, lo, hi, n]),
    );
  }
  run.metric("cpu_usr", f.cpuUsr, "cores", all);
  run.metric("cpu_sys", f.cpuSys, "cores", all);
  run.metric("cpu_total", f.cpuUsr + f.cpuSys, "cores", all);
  run.metric("elapsed", f.elapsedSec, "s", all);
}
