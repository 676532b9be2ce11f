/**
 * Miss-ratio curves for LRU. Exact: one pass of stack distances (Mattson) gives the miss ratio at
 * every size. Approximate, for large traces: SHARDS (Waldspurger et al., FAST '15) with a fixed
 * sampling rate — only blocks whose hash falls under `rate * 2^32` are tracked, and each sampled
 * distance is scaled by 1/rate — with the paper's adjustment (SHARDS_adj): the sampled set holds
 * more or fewer references than the expected `rate * N` (a few hot blocks sampled or not swing
 * it), and the difference is added to the first histogram bucket, so the miss ratio is the
 * sampled misses over `rate * N` rather than over the sampled references. Without it the curve
 * is off by the sampling luck of the hottest blocks at every size (issue 18: +0.11 at 0.01).
 *
 * @module
 */
import {
  lruHits,
  StackDistanceCounter,
  stackDistances,
  type StackHistogram,
} from "./stack_distance.ts";

/** One point of a miss-ratio curve. */
export interface MrcPoint {
  sizeBlocks: number;
  missRatio: number;
}

/** Exact LRU miss ratios at `sizes` (blocks) for an access sequence. */
export function exactMrc(seq: Float64Array, sizes: number[]): MrcPoint[] {
  return exactPoints(stackDistances(seq), sizes);
}

/** Exact LRU miss ratios at `sizes` (blocks) from a stack-distance histogram. */
export function exactPoints(h: StackHistogram, sizes: number[]): MrcPoint[] {
  const hits = lruHits(h, sizes);
  return sizes.map((c, i) => ({ sizeBlocks: c, missRatio: h.total ? 1 - hits[i] / h.total : 0 }));
}

/**
 * SHARDS' spatial hash: MurmurHash3's 32-bit finalizer over the key's two halves, so whether a
 * block is sampled does not follow its number (a multiplicative hash maps block 0 to 0, always
 * sampled, and block 0 is often the hottest: at rate 0.1 the bench's Zipf trace put 1.5x the
 * expected references in the sample).
 */
export function shardsHash(block: number): number {
  let h = (block | 0) ^ Math.imul((block / 4294967296) | 0, 0x85ebca6b) ^ 0x5bd1e995;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** True when SHARDS samples `block` at `rate` (spatial sampling by a hash of the block). */
export function shardsSampled(block: number, rate: number): boolean {
  return shardsHash(block) < rate * 4294967296;
}

/**
 * Approximate LRU miss ratios by SHARDS_adj at a fixed `rate` (0 < rate <= 1): the sampled
 * sub-sequence's stack distances, scaled by 1/rate, adjusted to `rate * seq.length` references.
 */
export function shardsMrc(seq: Float64Array, sizes: number[], rate: number): MrcPoint[] {
  let n = 0;
  for (let i = 0; i < seq.length; i++) if (shardsSampled(seq[i], rate)) n++;
  const sub = new Float64Array(n);
  let k = 0;
  for (let i = 0; i < seq.length; i++) if (shardsSampled(seq[i], rate)) sub[k++] = seq[i];
  return shardsPoints(stackDistances(sub), sizes, rate, seq.length);
}

/**
 * SHARDS miss ratios at `sizes` (blocks) from the histogram of the sampled accesses. With
 * `accesses` (every access, sampled or not) the curve is SHARDS_adj's: the first bucket takes
 * the difference between the expected `rate * accesses` and the sampled count, i.e. the miss
 * ratio is sampled misses / (rate * accesses); without it, sampled misses / sampled accesses.
 */
export function shardsPoints(
  h: StackHistogram,
  sizes: number[],
  rate: number,
  accesses?: number,
): MrcPoint[] {
  // A sampled distance d stands for about d / rate blocks: hits(c) = sampled distances up to
  // c * rate, the bucket that straddles it counted in proportion (a sampled distance of 1 says
  // only that fewer than 1 / rate blocks came between).
  const hits = sizes.map((c) => {
    const x = c * rate, k = Math.floor(x);
    const [whole, next] = lruHits(h, [k, k + 1]);
    return whole + (x - k) * (next - whole);
  });
  const expected = accesses === undefined ? h.total : rate * accesses;
  return sizes.map((c, i) => ({
    sizeBlocks: c,
    missRatio: expected > 0 ? Math.min(1, Math.max(0, (h.total - hits[i]) / expected)) : 0,
  }));
}

/**
 * The most block accesses an MRC holds (docs/limits.md): every access for the exact method,
 * the sampled ones for SHARDS; about 40 bytes each, so under 1 GB at the limit.
 */
export const MRC_MAX_ACCESSES = 20_000_000;

/** How an MRC is computed: exact, SHARDS, or exact until the limit and SHARDS past it. */
export type MrcMethod = "auto" | "exact" | "shards";

/** More accesses than an MRC holds; the message names the way out. */
export class MrcLimitError extends Error {
  override name = "MrcLimitError";
}

/**
 * Stack distances of a block access stream, online (nothing but the distance state is held):
 * `exact` counts every access, `shards` the sampled ones, `auto` both until the exact count
 * reaches `maxAccesses` and then only the sampled ones.
 */
export class MrcBuilder {
  #exact?: StackDistanceCounter;
  readonly #sampled?: StackDistanceCounter;
  /** Every access seen, sampled or not. */
  accesses = 0;

  constructor(
    readonly method: MrcMethod,
    readonly rate: number,
    readonly maxAccesses = MRC_MAX_ACCESSES,
  ) {
    if (method !== "shards") this.#exact = new StackDistanceCounter();
    if (method !== "exact") this.#sampled = new StackDistanceCounter();
  }

  /** True once the curve is SHARDS' (asked for, or `auto` past the limit). */
  get sampleOnly(): boolean {
    return this.#exact === undefined;
  }

  /** One block access. Throws MrcLimitError past the limit (`auto` switches instead). */
  access(block: number): void {
    this.accesses++;
    const exact = this.#exact;
    if (exact) {
      if (exact.fed < this.maxAccesses) exact.add(block);
      else if (this.method === "exact") {
        throw new MrcLimitError(
          `more than ${this.maxAccesses} block accesses (the limit of the exact method): ` +
            "use --method shards or auto",
        );
      } else this.#exact = undefined; // auto: SHARDS from here on
    }
    const sampled = this.#sampled;
    if (sampled && shardsSampled(block, this.rate)) {
      if (sampled.fed >= this.maxAccesses) {
        throw new MrcLimitError(
          `more than ${this.maxAccesses} sampled block accesses (the limit): lower --rate`,
        );
      }
      sampled.add(block);
    }
  }

  /** The histogram so far (of every access, or of the sampled ones when `sampleOnly`). */
  histogram(): StackHistogram {
    return (this.#exact ?? this.#sampled!).histogram();
  }

  /** Miss ratios at `sizes` (blocks) from what was seen so far. */
  points(sizes: number[]): MrcPoint[] {
    const h = this.histogram();
    return this.sampleOnly
      ? shardsPoints(h, sizes, this.rate, this.accesses)
      : exactPoints(h, sizes);
  }

  /** Distinct blocks seen (sampled ones scaled by 1/rate under SHARDS). */
  footprint(): number {
    const h = this.histogram();
    return this.sampleOnly ? Math.round(h.cold / this.rate) : h.cold;
  }
}

/** A small SVG plot of one or more curves (x: cache size, log scale when it spans > 10x). */
export function mrcSvg(
  curves: { label: string; points: { x: number; y: number }[] }[],
  xLabel: string,
): string {
  const W = 640, H = 400, L = 60, R = 20, T = 20, B = 50;
  const xs = curves.flatMap((c) => c.points.map((p) => p.x)).filter((x) => x > 0);
  const xmin = Math.min(...xs, 1), xmax = Math.max(...xs, 2);
  const log = xmax / xmin > 10;
  const fx = (x: number) => {
    const t = log
      ? (Math.log(Math.max(x, xmin)) - Math.log(xmin)) / (Math.log(xmax) - Math.log(xmin))
      : (x - xmin) / (xmax - xmin || 1);
    return L + t * (W - L - R);
  };
  const fy = (y: number) => T + (1 - y) * (H - T - B);
  const colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];
  const esc = (s: string) => s.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<line x1="${L}" y1="${fy(0)}" x2="${W - R}" y2="${fy(0)}" stroke="black"/>`,
    `<line x1="${L}" y1="${fy(0)}" x2="${L}" y2="${fy(1)}" stroke="black"/>`,
  ];
  for (const y of [0, 0.25, 0.5, 0.75, 1]) {
    parts.push(`<text x="${L - 8}" y="${fy(y) + 4}" text-anchor="end">${y.toFixed(2)}</text>`);
  }
  parts.push(`<text x="${fx(xmin)}" y="${H - B + 18}">${esc(String(xmin))}</text>`);
  parts.push(
    `<text x="${fx(xmax)}" y="${H - B + 18}" text-anchor="end">${esc(String(xmax))}</text>`,
  );
  parts.push(
    `<text x="${(L + W - R) / 2}" y="${H - 10}" text-anchor="middle">${esc(xLabel)}${
      log ? " (log)" : ""
    }</text>`,
  );
  parts.push(
    `<text x="14" y="${(T + H - B) / 2}" transform="rotate(-90 14 ${
      (T + H - B) / 2
    })" text-anchor="middle">miss ratio</text>`,
  );
  curves.forEach((c, i) => {
    const col = colors[i % colors.length];
    const pts = c.points.filter((p) => p.x > 0).map((p) =>
      `${fx(p.x).toFixed(1)},${fy(p.y).toFixed(1)}`
    );
    parts.push(
      `<polyline fill="none" stroke="${col}" stroke-width="2" points="${pts.join(" ")}"/>`,
    );
    parts.push(
      `<text x="${W - R - 150}" y="${T + 16 * (i + 1)}" fill="${col}">${esc(c.label)}</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}
