/**
 * An HDR-style log-linear histogram for latencies (nanoseconds, non-negative integers): O(1)
 * record, fixed memory, percentiles with a relative error under 0.4% (the bucket's midpoint is
 * reported, clamped to the exact min and max). Values below 2^8 each have a bucket; above, every
 * power of two is cut into 128 equal buckets. native/daio_hist.c uses the same layout, so counts
 * made in C load here unchanged ({@linkcode Histogram.fromNative}).
 *
 * @module
 */

/** Precision bits (daio.h's DAIO_HIST_P). */
export const HIST_P = 8;
const HALF = 1 << (HIST_P - 1);
/** Number of buckets, covering every 64-bit value. */
export const HIST_BUCKETS = (64 - HIST_P + 1) * HALF + HALF;

/** The bucket index of a value. */
export function bucketIndex(v: number): number {
  if (v < 1 << HIST_P) return Math.max(0, Math.floor(v));
  const msb = Math.floor(Math.log2(v));
  // log2 can round up just below a power of two; correct it.
  const m = 2 ** msb > v ? msb - 1 : msb;
  const shift = m - HIST_P + 1;
  return shift * HALF + Math.floor(v / 2 ** shift);
}

/** The lowest and highest value a bucket holds. */
export function bucketRange(i: number): [number, number] {
  if (i < 1 << HIST_P) return [i, i];
  const shift = Math.floor(i / HALF) - 1;
  const top = i - shift * HALF;
  return [top * 2 ** shift, (top + 1) * 2 ** shift - 1];
}

/** The percentiles storage people read (fio's): p50, p90, p99, p99.9. */
export const STANDARD_PERCENTILES = [50, 90, 99, 99.9] as const;

/**
 * A latency histogram.
 *
 * @example
 * ```ts
 * import { Histogram } from "./histogram.ts";
 * const h = new Histogram();
 * for (const ns of [1200, 1500, 98000]) h.record(ns);
 * h.percentile(50); // ~1500
 * ```
 */
export class Histogram {
  readonly counts = new Float64Array(HIST_BUCKETS);
  count = 0;
  min = Infinity;
  max = 0;
  sum = 0;

  /** Adds one value (`n` times). */
  record(v: number, n = 1): void {
    this.counts[bucketIndex(v)] += n;
    this.count += n;
    this.sum += v * n;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
  }

  /** Adds another histogram's counts. */
  merge(other: Histogram): void {
    if (other.count === 0) return;
    for (let i = 0; i < HIST_BUCKETS; i++) this.counts[i] += other.counts[i];
    this.count += other.count;
    this.sum += other.sum;
    this.min = Math.min(this.min, other.min);
    this.max = Math.max(this.max, other.max);
  }

  get mean(): number {
    return this.count ? this.sum / this.count : 0;
  }

  /** The value at percentile `p` (0..100); 0 when empty. */
  percentile(p: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < HIST_BUCKETS; i++) {
      seen += this.counts[i];
      if (seen >= rank) {
        const [lo, hi] = bucketRange(i);
        const mid = lo === hi ? lo : (lo + hi) / 2;
        return Math.min(this.max, Math.max(this.min, mid));
      }
    }
    return this.max;
  }

  /** Non-empty buckets as [low, high, count] rows (for the results store). */
  buckets(): [number, number, number][] {
    const out: [number, number, number][] = [];
    for (let i = 0; i < HIST_BUCKETS; i++) {
      if (this.counts[i] > 0) out.push([...bucketRange(i), this.counts[i]]);
    }
    return out;
  }

  /** Summary in fio's words: count, min, max, mean and the standard percentiles. */
  summary(): HistogramSummary {
    return {
      count: this.count,
      min: this.count ? this.min : 0,
      max: this.max,
      mean: this.mean,
      p50: this.percentile(50),
      p90: this.percentile(90),
      p99: this.percentile(99),
      p999: this.percentile(99.9),
    };
  }

  /**
   * Loads a histogram written by native/daio_hist.c: words count, min, max, sum (the bits of
   * a double), then the bucket counts.
   */
  static fromNative(words: BigUint64Array): Histogram {
    const h = new Histogram();
    h.count = Number(words[0]);
    h.min = h.count ? Number(words[1]) : Infinity;
    h.max = Number(words[2]);
    h.sum = new Float64Array(words.buffer, words.byteOffset + 24, 1)[0];
    for (let i = 0; i < HIST_BUCKETS; i++) h.counts[i] = Number(words[4 + i]);
    return h;
  }
}

/** What {@linkcode Histogram.summary} returns (values in the recorded unit). */
export interface HistogramSummary {
  count: number;
  min: number;
  max: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
}
