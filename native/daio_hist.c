/* daio: the HDR-style log-linear latency histogram (layout in daio.h; the
 * TypeScript twin is lib/stats/histogram.ts). Recording is O(1), no allocation. */
#include "daio.h"

#include <string.h>

#define HALF (1u << (DAIO_HIST_P - 1))

uint32_t daio_hist_bucket_count(void) { return DAIO_HIST_BUCKETS; }

uint32_t daio_hist_index(uint64_t v) {
  if (v < (1ull << DAIO_HIST_P)) return (uint32_t)v;
  uint32_t msb = 63 - (uint32_t)__builtin_clzll(v);
  uint32_t shift = msb - DAIO_HIST_P + 1;
  return shift * HALF + (uint32_t)(v >> shift);
}

void daio_hist_reset(daio_hist *h) {
  memset(h, 0, sizeof *h);
  h->min = UINT64_MAX;
}

void daio_hist_record(daio_hist *h, uint64_t v) {
  h->count++;
  h->sum += (double)v;
  if (v < h->min) h->min = v;
  if (v > h->max) h->max = v;
  h->buckets[daio_hist_index(v)]++;
}

void daio_hist_merge(daio_hist *into, const daio_hist *from) {
  if (from->count == 0) return;
  into->count += from->count;
  into->sum += from->sum;
  if (from->min < into->min) into->min = from->min;
  if (from->max > into->max) into->max = from->max;
  for (uint32_t i = 0; i < DAIO_HIST_BUCKETS; i++) into->buckets[i] += from->buckets[i];
}
