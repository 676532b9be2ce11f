/* cache: QBic, the twin of lib/cache/qbic.ts with its defaults: every access counts (saturating
 * at 65535) in a table of 4 x capacity + 64 blocks; every table-size accesses all counts halve
 * and non-resident zeros are forgotten (a new block arriving at a full table ages it early, up to
 * 17 times); a miss is admitted at count >= 2; the coldest resident block (lowest count, then
 * least recent) is evicted and keeps its count; remove keeps the count. */
#include "cache.h"

#define QBIC_MAX_COUNT 65535
#define QBIC_THRESHOLD 2

typedef struct {
  kpool p; /* keys + index */
  cheap h;
  uint64_t cap, used, clock, since_aging, history, aging_period;
} qbic_t;

static void *qbic_create(uint64_t cap) {
  qbic_t *q = calloc(1, sizeof *q);
  if (!q) return NULL;
  uint64_t h = 4 * cap + 64;
  if (h < cap + 1) h = cap + 1;
  q->cap = cap;
  q->history = h;
  q->aging_period = h;
  if (kpool_init(&q->p, h) < 0) {
    free(q);
    return NULL;
  }
  if (cheap_init(&q->h, h, cap) < 0) { /* the heap holds the residents only */
    kpool_fini(&q->p);
    free(q);
    return NULL;
  }
  return q;
}

static void qbic_destroy(void *self) {
  qbic_t *q = self;
  kpool_fini(&q->p);
  cheap_fini(&q->h);
  free(q);
}

static void qbic_age(qbic_t *q) {
  q->since_aging = 0;
  cheap *h = &q->h;
  kpool *p = &q->p;
  for (uint64_t i = 0; i < q->history; i++) {
    int32_t s = (int32_t)i;
    if (kpool_is_free(p, s)) continue;
    uint64_t f = h->freq[s] / 2;
    h->freq[s] = f;
    if (f == 0 && !cheap_contains(h, s)) {
      kpool_release(p, s);
    }
  }
  cheap_heapify(h);
}

static int32_t qbic_remember(qbic_t *q, uint64_t key) {
  for (int i = 0; i < 17 && q->p.free < 0; i++) qbic_age(q);
  int32_t s = kpool_alloc(&q->p, key);
  if (s >= 0) q->h.freq[s] = 0;
  return s;
}

static int qbic_access(void *self, uint64_t key, int is_write) {
  (void)is_write;
  qbic_t *q = self;
  cheap *h = &q->h;
  uint64_t now = ++q->clock;
  int32_t s = kpool_get(&q->p, key);
  int hit = 0;
  if (s >= 0 && cheap_contains(h, s)) {
    if (h->freq[s] < QBIC_MAX_COUNT) h->freq[s]++;
    h->seq[s] = now;
    cheap_down(h, h->pos[s]);
    hit = 1;
  } else {
    if (s < 0) s = qbic_remember(q, key);
    if (s >= 0) {
      if (h->freq[s] < QBIC_MAX_COUNT) h->freq[s]++;
      h->seq[s] = now;
      if (h->freq[s] >= QBIC_THRESHOLD && q->cap > 0) {
        if (q->used == q->cap) {
          cheap_delete(h, cheap_peek(h));
          q->used--;
        }
        cheap_push(h, s);
        q->used++;
      }
    }
  }
  if (++q->since_aging >= q->aging_period) qbic_age(q);
  return hit;
}

static int qbic_has(void *self, uint64_t key) {
  qbic_t *q = self;
  int32_t s = kpool_get(&q->p, key);
  return s >= 0 && cheap_contains(&q->h, s);
}

static void qbic_remove(void *self, uint64_t key) {
  qbic_t *q = self;
  int32_t s = kpool_get(&q->p, key);
  if (s < 0 || !cheap_contains(&q->h, s)) return;
  cheap_delete(&q->h, s);
  q->used--;
}

static void qbic_prefetch(void *self, uint64_t key, int stage) { kpool_prefetch(&((qbic_t *)self)->p, key, stage); }
static uint64_t qbic_used(void *self) { return ((qbic_t *)self)->used; }
static uint64_t qbic_bytes(void *self) {
  qbic_t *q = self;
  return q->p.bytes + q->h.bytes + sizeof *q;
}

const cache_ops cache_qbic_ops = {
    "qbic", qbic_create, qbic_destroy, qbic_access, qbic_has, qbic_remove, qbic_prefetch,
    qbic_used, qbic_bytes, NULL /* no parameters */,
};
