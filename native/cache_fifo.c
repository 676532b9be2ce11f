/* cache: FIFO, the twin of lib/cache/fifo.ts (libCacheSim's FIFO: insert on every miss, a hit
 * changes nothing). */
#include "cache.h"

typedef struct {
  cpool p;
  uint64_t cap, used;
  int32_t list;
} fifo_t;

static void *fifo_create(uint64_t cap) {
  fifo_t *f = calloc(1, sizeof *f);
  if (!f) return NULL;
  if (cpool_init(&f->p, cap, 1) < 0) {
    free(f);
    return NULL;
  }
  f->cap = cap;
  f->list = cpool_list(&f->p, 0);
  return f;
}

static void fifo_destroy(void *self) {
  fifo_t *f = self;
  cpool_fini(&f->p);
  free(f);
}

static int fifo_access(void *self, uint64_t key, int is_write) {
  (void)is_write;
  fifo_t *f = self;
  cpool *p = &f->p;
  if (cpool_get(p, key) >= 0) return 1;
  if (f->cap == 0) return 0;
  int32_t ns = cpool_alloc(p, key); /* before the eviction: see cpool_alloc_h */
  if (ns < 0) return -ENOMEM;
  if (f->used == f->cap) {
    int32_t v = p->nodes[f->list].next;
    cpool_unlink(p, v);
    cpool_release(p, v);
    f->used--;
    cpool_prefetch_victim(p, cpool_next(p, f->list));
  }
  cpool_push_tail(p, f->list, ns);
  f->used++;
  return 0;
}

static int fifo_has(void *self, uint64_t key) { return cpool_get(&((fifo_t *)self)->p, key) >= 0; }

static void fifo_remove(void *self, uint64_t key) {
  fifo_t *f = self;
  int32_t s = cpool_get(&f->p, key);
  if (s < 0) return;
  cpool_unlink(&f->p, s);
  cpool_release(&f->p, s);
  f->used--;
}

static void fifo_prefetch(void *self, uint64_t key, int stage) { cpool_prefetch(&((fifo_t *)self)->p, key, stage); }
static uint64_t fifo_used(void *self) { return ((fifo_t *)self)->used; }
static uint64_t fifo_bytes(void *self) { return ((fifo_t *)self)->p.bytes + sizeof(fifo_t); }

const cache_ops cache_fifo_ops = {
    "fifo", fifo_create, fifo_destroy, fifo_access, fifo_has, fifo_remove, fifo_prefetch,
    fifo_used, fifo_bytes, NULL /* no parameters */,
};
