/* cache: 2Q, the twin of lib/cache/two_q.ts (libCacheSim's TwoQ defaults: A1in FIFO 25% of the
 * cache, A1out ghost FIFO 50%, Am LRU of the rest; a miss remembered in A1out goes to Am). */
#include <math.h>

#include "cache.h"

enum { AIN = 1, AM = 2, AOUT = 3 };

typedef struct {
  cpool p;
  uint64_t cap, used, kin, kout, nin, nout;
  int32_t ain, am, aout;
} twoq_t;

/* params (lib/cache/policy_params.ts): Ain-size-ratio, Aout-size-ratio. */
static void *twoq_create_with(uint64_t cap, const double *params, uint32_t n) {
  double in = 0.25, out = 0.5;
  if (n > 0) in = params[0];
  if (n > 1) out = params[1];
  if (!(in >= 0 && in < 1) || !(out >= 0 && out <= 4)) return NULL;
  twoq_t *q = calloc(1, sizeof *q);
  if (!q) return NULL;
  q->cap = cap;
  q->kin = (uint64_t)floor((double)cap * in);
  q->kout = (uint64_t)floor((double)cap * out);
  if (cpool_init(&q->p, cap + q->kout + 1, 3) < 0) {
    free(q);
    return NULL;
  }
  q->ain = cpool_list(&q->p, 0);
  q->am = cpool_list(&q->p, 1);
  q->aout = cpool_list(&q->p, 2);
  return q;
}

static void *twoq_create(uint64_t cap) { return twoq_create_with(cap, NULL, 0); }

static void twoq_destroy(void *self) {
  twoq_t *q = self;
  cpool_fini(&q->p);
  free(q);
}

static void twoq_evict(twoq_t *q) {
  cpool *p = &q->p;
  int32_t v;
  if (q->nin > q->kin || p->nodes[q->am].next == q->am) {
    v = p->nodes[q->ain].next;
    cpool_unlink(p, v);
    q->nin--;
    q->used--;
    if (q->kout > 0) {
      if (q->nout >= q->kout) {
        int32_t g = p->nodes[q->aout].next;
        cpool_unlink(p, g);
        cpool_release(p, g);
        q->nout--;
      }
      cpool_set_tag(p, v, AOUT);
      cpool_push_tail(p, q->aout, v);
      q->nout++;
    } else {
      cpool_release(p, v);
    }
    return;
  }
  v = p->nodes[q->am].next;
  cpool_unlink(p, v);
  cpool_release(p, v);
  q->used--;
  cpool_prefetch_victim(p, cpool_next(p, q->am));
}

static int twoq_access(void *self, uint64_t key, int is_write) {
  (void)is_write;
  twoq_t *q = self;
  cpool *p = &q->p;
  int32_t s = cpool_get(p, key);
  if (s >= 0) {
    int where = cpool_tag(p, s);
    if (where == AM) {
      cpool_unlink(p, s);
      cpool_push_tail(p, q->am, s);
      return 1;
    }
    if (where == AIN) return 1;
  }
  if (q->cap == 0) return 0;
  int ghost = s >= 0;
  if (!ghost) {
    s = cpool_alloc(p, key); /* before the eviction: see cpool_alloc_h (a ghost keeps its node) */
    if (s < 0) return -ENOMEM;
  }
  if (ghost) {
    cpool_unlink(p, s);
    q->nout--;
  }
  if (q->used >= q->cap) twoq_evict(q);
  if (ghost) {
    cpool_set_tag(p, s, AM);
    cpool_push_tail(p, q->am, s);
  } else {
    cpool_set_tag(p, s, AIN);
    cpool_push_tail(p, q->ain, s);
    q->nin++;
  }
  q->used++;
  return 0;
}

static int twoq_has(void *self, uint64_t key) {
  twoq_t *q = self;
  int32_t s = cpool_get(&q->p, key);
  return s >= 0 && cpool_tag(&q->p, s) != AOUT;
}

static void twoq_remove(void *self, uint64_t key) {
  twoq_t *q = self;
  cpool *p = &q->p;
  int32_t s = cpool_get(p, key);
  if (s < 0) return;
  int where = cpool_tag(p, s);
  cpool_unlink(p, s);
  cpool_release(p, s);
  if (where == AOUT) {
    q->nout--;
  } else {
    if (where == AIN) q->nin--;
    q->used--;
  }
}

static void twoq_prefetch(void *self, uint64_t key, int stage) { cpool_prefetch(&((twoq_t *)self)->p, key, stage); }
static uint64_t twoq_used(void *self) { return ((twoq_t *)self)->used; }
static uint64_t twoq_bytes(void *self) { return ((twoq_t *)self)->p.bytes + sizeof(twoq_t); }

const cache_ops cache_two_q_ops = {
    "2q", twoq_create, twoq_destroy, twoq_access, twoq_has, twoq_remove, twoq_prefetch, twoq_used,
    twoq_bytes, twoq_create_with,
};
