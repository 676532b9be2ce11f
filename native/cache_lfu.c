/* cache: LFU, the twin of lib/cache/lfu.ts (libCacheSim's LFU: count 1 on insert, +1 per hit;
 * evict the lowest count, ties by least recent access; an evicted block's count is forgotten). */
#include "cache.h"

typedef struct {
  kpool p;
  cheap h;
  uint64_t cap, used, clock;
} lfu_t;

static void *lfu_create(uint64_t cap) {
  lfu_t *l = calloc(1, sizeof *l);
  if (!l) return NULL;
  if (kpool_init(&l->p, cap) < 0) {
    free(l);
    return NULL;
  }
  if (cheap_init(&l->h, cap, cap) < 0) {
    kpool_fini(&l->p);
    free(l);
    return NULL;
  }
  l->cap = cap;
  return l;
}

static void lfu_destroy(void *self) {
  lfu_t *l = self;
  kpool_fini(&l->p);
  cheap_fini(&l->h);
  free(l);
}

static int lfu_access(void *self, uint64_t key, int is_write) {
  (void)is_write;
  lfu_t *l = self;
  cheap *h = &l->h;
  uint64_t now = ++l->clock;
  int32_t s = kpool_get(&l->p, key);
  if (s >= 0) {
    h->freq[s]++;
    h->seq[s] = now;
    cheap_down(h, h->pos[s]);
    return 1;
  }
  if (l->cap == 0) return 0;
  if (l->used == l->cap) {
    int32_t v = cheap_peek(h);
    cheap_delete(h, v);
    kpool_release(&l->p, v);
    l->used--;
  }
  int32_t n = kpool_alloc(&l->p, key);
  h->freq[n] = 1;
  h->seq[n] = now;
  cheap_push(h, n);
  l->used++;
  return 0;
}

static int lfu_has(void *self, uint64_t key) { return kpool_get(&((lfu_t *)self)->p, key) >= 0; }

static void lfu_remove(void *self, uint64_t key) {
  lfu_t *l = self;
  int32_t s = kpool_get(&l->p, key);
  if (s < 0) return;
  cheap_delete(&l->h, s);
  kpool_release(&l->p, s);
  l->used--;
}

static void lfu_prefetch(void *self, uint64_t key, int stage) { kpool_prefetch(&((lfu_t *)self)->p, key, stage); }
static uint64_t lfu_used(void *self) { return ((lfu_t *)self)->used; }
static uint64_t lfu_bytes(void *self) {
  lfu_t *l = self;
  return l->p.bytes + l->h.bytes + sizeof *l;
}

const cache_ops cache_lfu_ops = {
    "lfu", lfu_create, lfu_destroy, lfu_access, lfu_has, lfu_remove, lfu_prefetch, lfu_used,
    lfu_bytes, NULL /* no parameters */,
};
