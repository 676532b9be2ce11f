/**
 * Bytes of native policy memory per cached block that issue 16 allows: 20 for the one-list
 * policies, 40 with ghosts. bench/sim reports against these; the size-bound test checks them.
 */
export const MEMORY_TARGETS: Readonly<Record<string, number>> = {
  fifo: 20,
  lru: 20,
  clock: 20,
  sieve: 20,
  arc: 40,
  s3fifo: 40,
  "2q": 40,
};
