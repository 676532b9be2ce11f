/* cache: SIEVE, the twin of lib/cache/sieve.ts (libCacheSim's Sieve: a FIFO with a visited bit,
 * a hand moving from the oldest toward newer blocks clearing bits until an unvisited block is
 * evicted; the hand stays at the next newer block and wraps to the oldest end). */
#include "cache.h"

typedef struct {
  cpool p;
  uint64_t cap, used;
  int32_t list, hand;
} sieve_t;

static void *sieve_create(uint64_t cap) {
  sieve_t *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  if (cpool_init(&s->p, cap, 1) < 0) {
    free(s);
    return NULL;
  }
  s->cap = cap;
  s->list = cpool_list(&s->p, 0);
  s->hand = -1;
  s->p.watch = &s->hand; /* a move of the hand's node moves the hand */
  return s;
}

static void sieve_destroy(void *self) {
  sieve_t *s = self;
  cpool_fini(&s->p);
  free(s);
}

static void sieve_evict(sieve_t *sv) {
  cpool *p = &sv->p;
  int32_t list = sv->list;
  int32_t o = sv->hand >= 0 ? sv->hand : p->nodes[list].next;
  while (cpool_tag(p, o) != 0) {
    cpool_set_tag(p, o, 0);
    o = p->nodes[o].next;
    if (o == list) o = p->nodes[list].next;
  }
  int32_t nx = p->nodes[o].next;
  sv->hand = nx == list ? -1 : nx;
  cpool_unlink(p, o);
  cpool_release(p, o);
  sv->used--;
}

static int sieve_access(void *self, uint64_t key, int is_write) {
  (void)is_write;
  sieve_t *sv = self;
  cpool *p = &sv->p;
  int32_t s = cpool_get(p, key);
  if (s >= 0) {
    cpool_set_tag(p, s, 1);
    return 1;
  }
  if (sv->cap == 0) return 0;
  int32_t ns = cpool_alloc(p, key); /* before the eviction: see cpool_alloc_h */
  if (ns < 0) return -ENOMEM;
  if (sv->used == sv->cap) sieve_evict(sv);
  cpool_push_tail(p, sv->list, ns);
  sv->used++;
  return 0;
}

static int sieve_has(void *self, uint64_t key) {
  return cpool_get(&((sieve_t *)self)->p, key) >= 0;
}

static void sieve_remove(void *self, uint64_t key) {
  sieve_t *sv = self;
  cpool *p = &sv->p;
  int32_t s = cpool_get(p, key);
  if (s < 0) return;
  if (sv->hand == s) {
    int32_t nx = p->nodes[s].next;
    sv->hand = nx == sv->list ? -1 : nx;
  }
  cpool_unlink(p, s);
  cpool_release(p, s);
  sv->used--;
}

static void sieve_prefetch(void *self, uint64_t key, int stage) {
  cpool_prefetch(&((sieve_t *)self)->p, key, stage);
}
static uint64_t sieve_used(void *self) { return ((sieve_t *)self)->used; }
static uint64_t sieve_bytes(void *self) { return ((sieve_t *)self)->p.bytes + sizeof(sieve_t); }

const cache_ops cache_sieve_ops = {
    "sieve", sieve_create, sieve_destroy, sieve_access, sieve_has, sieve_remove, sieve_prefetch,
    sieve_used, sieve_bytes, NULL /* no parameters */,
};
