/**
 * xorshift32 (Marsaglia, 2003): a small, fast, seeded stream for generated inputs (traces,
 * test blocks, fill patterns), so that a seed names one input everywhere. Not for anything
 * that must be unpredictable. A seed of 0 (a fixed point of the shift) is taken as 1.
 */
export function xorshift32(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

/** The same stream as numbers in [0, 1). */
export function xorshiftUniform(seed: number): () => number {
  const next = xorshift32(seed);
  return () => next() / 4294967296;
}
