/* cache: LRU, the twin of lib/cache/lru.ts (libCacheSim's LRU: insert on every miss at the
 * MRU end, move to the MRU end on a hit, evict from the LRU end). Per cached block: one 16-byte
 * node of the node table (key and links; the table is the index), 18.8 bytes at its load. */
#include "cache.h"

typedef cache_lru lru_t;

static void *lru_create(uint64_t cap) {
  lru_t *l = calloc(1, sizeof *l);
  if (!l) return NULL;
  if (cpool_init(&l->p, cap, 1) < 0) {
    free(l);
    return NULL;
  }
  l->cap = cap;
  l->list = cpool_list(&l->p, 0);
  return l;
}

static void lru_destroy(void *self) {
  lru_t *l = self;
  cpool_fini(&l->p);
  free(l);
}

static int lru_access(void *self, uint64_t key, int is_write) {
  (void)is_write;
  return cache_lru_access(self, key);
}

static int lru_has(void *self, uint64_t key) { return cpool_get(&((lru_t *)self)->p, key) >= 0; }

static void lru_remove(void *self, uint64_t key) { cache_lru_remove(self, key); }

static void lru_prefetch(void *self, uint64_t key, int stage) {
  cache_lru_prefetch(self, key, stage);
}
static uint64_t lru_used(void *self) { return ((lru_t *)self)->used; }
static uint64_t lru_bytes(void *self) { return ((lru_t *)self)->p.bytes + sizeof(lru_t); }

const cache_ops cache_lru_ops = {
    "lru", lru_create, lru_destroy, lru_access, lru_has, lru_remove, lru_prefetch, lru_used,
    lru_bytes, NULL /* no parameters */,
};
