/**
 * Miss-ratio curves for LRU. Exact: one pass of stack distances (Mattson) gives the miss ratio at
 * every size. Approximate, for large traces: SHARDS (Waldspurger et al., FAST '15), at a fixed rate
 * or fixed-size, with hot blocks tracked exactly (lib/cache/shards.ts says why and how).
 *
 * @module
 */
import {
  lruHits,
  StackDistanceCounter,
  stackDistances,
  type StackHistogram,
} from "./stack_distance.ts";
import { type ShardsOptions, ShardsSampler } from "./shards.ts";
export { shardsHash } from "./shards.ts";

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
 * Approximate LRU miss ratios by SHARDS (lib/cache/shards.ts) at `rate` (0 < rate <= 1), or
 * fixed-size SHARDS from that rate with `maxSamples`.
 */
export function shardsMrc(
  seq: Float64Array,
  sizes: number[],
  rate: number,
  opts: Omit<ShardsOptions, "rate"> = {},
): MrcPoint[] {
  const s = new ShardsSampler({ ...opts, rate });
  for (let i = 0; i < seq.length; i++) s.access(seq[i]);
  return s.points(sizes);
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
 * `exact` counts every access, `shards` samples them (lib/cache/shards.ts), `auto` does both until
 * the exact count reaches `maxAccesses` and then only SHARDS.
 */
export class MrcBuilder {
  #exact?: StackDistanceCounter;
  readonly #shards?: ShardsSampler;
  /** Every access seen, sampled or not. */
  accesses = 0;

  constructor(
    readonly method: MrcMethod,
    readonly rate: number,
    readonly maxAccesses = MRC_MAX_ACCESSES,
    /** Fixed-size SHARDS: the most sampled blocks (undefined: a fixed rate). */
    readonly maxSamples?: number,
  ) {
    if (method !== "shards") this.#exact = new StackDistanceCounter();
    if (method !== "exact") this.#shards = new ShardsSampler({ rate, maxSamples });
  }

  /** True once the curve is SHARDS' (asked for, or `auto` past the limit). */
  get sampleOnly(): boolean {
    return this.#exact === undefined;
  }

  /** SHARDS' current sampling rate (lower than `rate` once a fixed-size sample has filled). */
  get shardsRate(): number {
    return this.#shards?.rate ?? this.rate;
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
    const shards = this.#shards;
    if (shards) {
      shards.access(block);
      if (shards.tracked > this.maxAccesses) {
        throw new MrcLimitError(
          `more than ${this.maxAccesses} sampled blocks (the limit): lower --rate or set --shards-max`,
        );
      }
    }
  }

  /** Miss ratios at `sizes` (blocks) from what was seen so far. */
  points(sizes: number[]): MrcPoint[] {
    return this.#exact ? exactPoints(this.#exact.histogram(), sizes) : this.#shards!.points(sizes);
  }

  /** Distinct blocks seen (estimated under SHARDS). */
  footprint(): number {
    return this.#exact ? this.#exact.histogram().cold : this.#shards!.footprint();
  }
}
