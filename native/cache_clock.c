/* cache: CLOCK, the twin of lib/cache/clock.ts (libCacheSim's Clock, 1-bit: insert with the
 * reference bit clear, a hit sets it; the hand takes the oldest block, and a block with its bit
 * set has it cleared and goes back to the newest end). */
#include "cache.h"

typedef struct {
  cpool p;
  uint64_t cap, used;
  int32_t list;
} clock_t_;

static void *clock_create(uint64_t cap) {
  clock_t_ *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  if (cpool_init(&c->p, cap, 1) < 0) {
    free(c);
    return NULL;
  }
  c->cap = cap;
  c->list = cpool_list(&c->p, 0);
  return c;
}

static void clock_destroy(void *self) {
  clock_t_ *c = self;
  cpool_fini(&c->p);
  free(c);
}

static int clock_access(void *self, uint64_t key, int is_write) {
  (void)is_write;
  clock_t_ *c = self;
  cpool *p = &c->p;
  int32_t s = cpool_get(p, key);
  if (s >= 0) {
    cpool_set_tag(p, s, 1);
    return 1;
  }
  if (c->cap == 0) return 0;
  int32_t ns = cpool_alloc(p, key); /* before the eviction: see cpool_alloc_h */
  if (ns < 0) return -ENOMEM;
  if (c->used == c->cap) {
    int32_t list = c->list;
    int32_t v = p->nodes[list].next;
    while (cpool_tag(p, v) != 0) {
      cpool_set_tag(p, v, 0);
      cpool_unlink(p, v);
      cpool_push_tail(p, list, v);
      v = p->nodes[list].next;
    }
    cpool_unlink(p, v);
    cpool_release(p, v);
    c->used--;
  }
  cpool_push_tail(p, c->list, ns);
  c->used++;
  return 0;
}

static int clock_has(void *self, uint64_t key) {
  return cpool_get(&((clock_t_ *)self)->p, key) >= 0;
}

static void clock_remove(void *self, uint64_t key) {
  clock_t_ *c = self;
  int32_t s = cpool_get(&c->p, key);
  if (s < 0) return;
  cpool_unlink(&c->p, s);
  cpool_release(&c->p, s);
  c->used--;
}

static void clock_prefetch(void *self, uint64_t key, int stage) {
  cpool_prefetch(&((clock_t_ *)self)->p, key, stage);
}
static uint64_t clock_used(void *self) { return ((clock_t_ *)self)->used; }
static uint64_t clock_bytes(void *self) { return ((clock_t_ *)self)->p.bytes + sizeof(clock_t_); }

const cache_ops cache_clock_ops = {
    "clock", clock_create, clock_destroy, clock_access, clock_has, clock_remove, clock_prefetch,
    clock_used, clock_bytes, NULL /* no parameters */,
};
