/* cache: S3-FIFO, the twin of lib/cache/s3fifo.ts (libCacheSim's S3FIFO defaults: small FIFO
 * 10% of the cache, at least 1 block; main FIFO run as a 2-bit CLOCK; ghost FIFO 90%; move to
 * main at frequency >= 2; before the first eviction a miss that finds small full goes to main).
 * A node's tag holds its queue (2 bits) and its frequency (8 bits, saturating at 255). */
#include <math.h>

#include "cache.h"

enum { SMALL = 1, MAIN = 2, GHOST = 3 };

typedef struct {
  cpool p;
  uint64_t cap, used, small_cap, main_cap, ghost_cap;
  unsigned move_at;
  int main_first;
  uint64_t n_small, n_main, n_ghost;
  int32_t small, main, ghost;
  int has_evicted;
} s3_t;

static inline unsigned queue_of(const cpool *p, int32_t s) { return cpool_tag(p, s) & 3; }
static inline unsigned freq_of(const cpool *p, int32_t s) { return cpool_tag(p, s) >> 2; }
static inline void set_qf(cpool *p, int32_t s, unsigned q, unsigned f) {
  cpool_set_tag(p, s, q | f << 2);
}

/* params (lib/cache/policy_params.ts): fifo-size-ratio, ghost-size-ratio,
 * move-to-main-threshold, insert-main-when-fifo-full (0/1). */
static void *s3_create_with(uint64_t cap, const double *params, uint32_t n) {
  double small = 0.1, ghost = 0.9, move_at = 2, main_first = 1;
  if (n > 0) small = params[0];
  if (n > 1) ghost = params[1];
  if (n > 2) move_at = params[2];
  if (n > 3) main_first = params[3];
  if (!(small > 0 && small < 1) || !(ghost >= 0 && ghost <= 4) || !(move_at >= 1 && move_at <= 255)) {
    return NULL;
  }
  s3_t *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->cap = cap;
  s->move_at = (unsigned)move_at;
  s->main_first = main_first != 0;
  /* The same double arithmetic as the TS twin: floor(c * small), floor(c * ghost). */
  if (cap > 0) {
    uint64_t sc = (uint64_t)floor((double)cap * small);
    s->small_cap = sc < 1 ? 1 : sc;
  }
  s->main_cap = cap - s->small_cap;
  s->ghost_cap = (uint64_t)floor((double)cap * ghost);
  if (cpool_init(&s->p, cap + s->ghost_cap + 1, 3) < 0) {
    free(s);
    return NULL;
  }
  s->small = cpool_list(&s->p, 0);
  s->main = cpool_list(&s->p, 1);
  s->ghost = cpool_list(&s->p, 2);
  return s;
}

static void *s3_create(uint64_t cap) { return s3_create_with(cap, NULL, 0); }

static void s3_destroy(void *self) {
  s3_t *s = self;
  cpool_fini(&s->p);
  free(s);
}

static void s3_evict_small(s3_t *s) {
  cpool *p = &s->p;
  while (s->n_small > 0) {
    int32_t v = cpool_next(p, s->small);
    cpool_unlink(p, v);
    s->n_small--;
    if (freq_of(p, v) >= s->move_at) {
      set_qf(p, v, MAIN, 0);
      cpool_push_tail(p, s->main, v);
      s->n_main++;
      continue;
    }
    s->used--;
    if (s->ghost_cap > 0) {
      if (s->n_ghost >= s->ghost_cap) {
        int32_t g = cpool_next(p, s->ghost);
        cpool_unlink(p, g);
        cpool_release(p, g);
        s->n_ghost--;
      }
      set_qf(p, v, GHOST, freq_of(p, v));
      cpool_push_tail(p, s->ghost, v);
      s->n_ghost++;
    } else {
      cpool_release(p, v);
    }
    if (s->n_small > 0) cpool_prefetch_victim(p, cpool_next(p, s->small));
    return;
  }
}

static void s3_evict_main(s3_t *s) {
  cpool *p = &s->p;
  while (s->n_main > 0) {
    int32_t v = cpool_next(p, s->main);
    cpool_unlink(p, v);
    unsigned f = freq_of(p, v);
    if (f >= 1) {
      set_qf(p, v, MAIN, (f < 3 ? f : 3) - 1);
      cpool_push_tail(p, s->main, v);
      continue;
    }
    cpool_release(p, v);
    s->n_main--;
    s->used--;
    if (s->n_main > 0) cpool_prefetch_victim(p, cpool_next(p, s->main));
    return;
  }
}

static void s3_evict(s3_t *s) {
  s->has_evicted = 1;
  if (s->n_main > s->main_cap || s->n_small == 0) s3_evict_main(s);
  else s3_evict_small(s);
}

static int s3_access(void *self, uint64_t key, int is_write) {
  (void)is_write;
  s3_t *s = self;
  cpool *p = &s->p;
  int32_t slot = cpool_get(p, key);
  if (slot >= 0 && queue_of(p, slot) != GHOST) {
    unsigned f = freq_of(p, slot);
    if (f < 255) set_qf(p, slot, queue_of(p, slot), f + 1);
    return 1;
  }
  if (s->cap == 0) return 0;
  int ghost_hit = slot >= 0;
  if (ghost_hit) {
    /* Its own slot, freed, takes it again (an alloc with room in one of its buckets). */
    cpool_unlink(p, slot);
    cpool_release(p, slot);
    s->n_ghost--;
    slot = cpool_alloc(p, key);
  } else {
    slot = cpool_alloc(p, key); /* before the evictions: see cpool_alloc_h */
    if (slot < 0) return -ENOMEM;
  }
  while (s->used >= s->cap) s3_evict(s);
  if (ghost_hit || (s->main_first && !s->has_evicted && s->n_small >= s->small_cap)) {
    set_qf(p, slot, MAIN, 0);
    cpool_push_tail(p, s->main, slot);
    s->n_main++;
  } else {
    set_qf(p, slot, SMALL, 0);
    cpool_push_tail(p, s->small, slot);
    s->n_small++;
  }
  s->used++;
  return 0;
}

static int s3_has(void *self, uint64_t key) {
  s3_t *s = self;
  int32_t slot = cpool_get(&s->p, key);
  return slot >= 0 && queue_of(&s->p, slot) != GHOST;
}

static void s3_remove(void *self, uint64_t key) {
  s3_t *s = self;
  cpool *p = &s->p;
  int32_t slot = cpool_get(p, key);
  if (slot < 0) return;
  unsigned q = queue_of(p, slot);
  cpool_unlink(p, slot);
  cpool_release(p, slot);
  if (q == GHOST) {
    s->n_ghost--;
  } else {
    if (q == SMALL) s->n_small--;
    else s->n_main--;
    s->used--;
  }
}

static void s3_prefetch(void *self, uint64_t key, int stage) {
  cpool_prefetch(&((s3_t *)self)->p, key, stage);
}
static uint64_t s3_used(void *self) { return ((s3_t *)self)->used; }
static uint64_t s3_bytes(void *self) { return ((s3_t *)self)->p.bytes + sizeof(s3_t); }

const cache_ops cache_s3fifo_ops = {
    "s3fifo", s3_create, s3_destroy, s3_access, s3_has, s3_remove, s3_prefetch, s3_used,
    s3_bytes,     s3_create_with,
};
