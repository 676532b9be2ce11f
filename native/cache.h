/* cache: native twins of lib/cache's policies and the simulator's hot loop (issue 4).
 *
 * Each policy file (cache_<name>.c) makes exactly the decisions of its TypeScript twin
 * (lib/cache/<name>.ts; the TS file's header states the variant) and exports one ops table.
 * cache_sim.c holds the handle table, the per-request loop (block splitting, counting by
 * blocks, bytes, whole requests, reads/writes) and the binary trace reader (mmap); it calls
 * the policy only through its ops table, never by name.
 *
 * Shared here, inline for the hot path: a node pool (uint64 keys, int32 prev/next links,
 * circular lists with sentinels, an optional per-node byte), an open-addressing index of
 * int32 slot numbers (linear probing, backward-shift delete), and an indexed min-heap by
 * (frequency, sequence). Every exported function returns >= 0 or -errno. */
#ifndef HVKIT_CACHE_H
#define HVKIT_CACHE_H
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hvkit.h"

#define CACHE_NOKEY UINT64_MAX

/* One policy behind one small interface (libCacheSim's shape). */
typedef struct cache_ops {
  const char *name;
  void *(*create)(uint64_t capacity);                  /* NULL on ENOMEM */
  void (*destroy)(void *self);
  int (*access)(void *self, uint64_t key, int is_write); /* 1 = hit */
  int (*has)(void *self, uint64_t key);
  void (*remove)(void *self, uint64_t key);
  void (*prefetch)(void *self, uint64_t key); /* a hint before access(key) */
  uint64_t (*used)(void *self);
  uint64_t (*bytes)(void *self); /* memory the policy allocated */
} cache_ops;

extern const cache_ops cache_lru_ops, cache_fifo_ops, cache_clock_ops, cache_sieve_ops,
    cache_s3fifo_ops, cache_arc_ops, cache_two_q_ops, cache_lfu_ops, cache_qbic_ops;

/* Words of the result array (uint64 each), in this order. */
enum {
  CACHE_R_REQUESTS, CACHE_R_BLOCKS, CACHE_R_HITS, CACHE_R_BYTES, CACHE_R_HIT_BYTES,
  CACHE_R_WHOLE_HITS,
  CACHE_W_REQUESTS, CACHE_W_BLOCKS, CACHE_W_HITS, CACHE_W_BYTES, CACHE_W_HIT_BYTES,
  CACHE_W_WHOLE_HITS,
  CACHE_FLUSHES, CACHE_TRIMS, CACHE_BYPASSED_REQUESTS, CACHE_BYPASSED_BLOCKS,
  CACHE_RECORDS, CACHE_USED, CACHE_MEM_BYTES, CACHE_CAPACITY,
  CACHE_ERR_KIND, CACHE_ERR_RECORD, CACHE_ERR_VALUE,
  CACHE_OUT_WORDS = 24
};

/* CACHE_ERR_KIND values when a trace is rejected (-EBADMSG). */
enum {
  CACHE_ERR_NONE, CACHE_ERR_HEADER_TRUNCATED, CACHE_ERR_NOT_BINARY, CACHE_ERR_RECORD_SIZE,
  CACHE_ERR_BAD_OP, CACHE_ERR_TRUNCATED, CACHE_ERR_BAD_OFFSET
};

/* cache_sim.c: the FFI surface (lib/ffi/cache_symbols.ts). */
HV_EXPORT int32_t cache_policy_known(const char *name);
HV_EXPORT int32_t cache_open(const char *name, uint64_t capacity, uint64_t block_size);
HV_EXPORT int32_t cache_close(int32_t h);
HV_EXPORT int32_t cache_access(int32_t h, uint64_t block, uint32_t is_write);
HV_EXPORT int32_t cache_has(int32_t h, uint64_t block);
HV_EXPORT int32_t cache_remove(int32_t h, uint64_t block);
HV_EXPORT int32_t cache_feed(int32_t h, const uint8_t *op, const double *off, const double *len,
                             const uint8_t *mask, uint32_t n);
HV_EXPORT int32_t cache_run_file(int32_t h, const char *path, uint64_t *out);
HV_EXPORT int32_t cache_result(int32_t h, uint64_t *out);

/* ---- the node pool and its index ---- */

typedef struct cpool {
  uint64_t *keys;        /* n + lists; CACHE_NOKEY when free */
  int32_t *prev, *next;  /* NULL without links; next doubles as the free chain */
  uint8_t *aux;          /* NULL unless asked for */
  int32_t *table;        /* slot + 1, 0 = empty */
  uint32_t mask, shift;  /* table size - 1; 64 - log2(table size) */
  int32_t n, lists, free;
  uint64_t bytes;
} cpool;

enum { CPOOL_LINKS = 1, CPOOL_AUX = 2 };

int cpool_init(cpool *p, uint64_t n, int32_t lists, int flags); /* 0 or -ENOMEM/-E2BIG */
void cpool_fini(cpool *p);

static inline uint32_t cpool_hash(const cpool *p, uint64_t key) {
  return (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> p->shift);
}

static inline int32_t cpool_get(const cpool *p, uint64_t key) {
  const int32_t *table = p->table;
  const uint64_t *keys = p->keys;
  uint32_t h = cpool_hash(p, key);
  for (;;) {
    int32_t e = table[h];
    if (e == 0) return -1;
    if (keys[e - 1] == key) return e - 1;
    h = (h + 1) & p->mask;
  }
}

static inline void cpool_prefetch(const cpool *p, uint64_t key) {
  __builtin_prefetch(&p->table[cpool_hash(p, key)]);
}

/* Indexes `slot` under keys[slot] (not present). */
static inline void cpool_index(cpool *p, int32_t slot) {
  uint32_t h = cpool_hash(p, p->keys[slot]);
  while (p->table[h] != 0) h = (h + 1) & p->mask;
  p->table[h] = slot + 1;
}

/* Removes `key` from the index; returns its slot or -1. */
static inline int32_t cpool_unindex(cpool *p, uint64_t key) {
  int32_t *table = p->table;
  const uint64_t *keys = p->keys;
  uint32_t mask = p->mask;
  uint32_t h = cpool_hash(p, key);
  for (;;) {
    int32_t e = table[h];
    if (e == 0) return -1;
    if (keys[e - 1] == key) break;
    h = (h + 1) & mask;
  }
  int32_t slot = table[h] - 1;
  uint32_t hole = h, j = h;
  for (;;) {
    j = (j + 1) & mask;
    int32_t e = table[j];
    if (e == 0) break;
    uint32_t home = cpool_hash(p, keys[e - 1]);
    if (((j - home) & mask) >= ((j - hole) & mask)) {
      table[hole] = e;
      hole = j;
    }
  }
  table[hole] = 0;
  return slot;
}

static inline int32_t cpool_list(const cpool *p, int32_t i) { return p->n + i; }

/* Takes a free node for `key` and indexes it; -1 when exhausted. */
static inline int32_t cpool_alloc(cpool *p, uint64_t key) {
  int32_t s = p->free;
  if (s < 0) return -1;
  p->free = p->next[s];
  p->keys[s] = key;
  if (p->aux) p->aux[s] = 0;
  cpool_index(p, s);
  return s;
}

/* Unindexes and frees an unlinked node. */
static inline void cpool_release(cpool *p, int32_t s) {
  cpool_unindex(p, p->keys[s]);
  p->keys[s] = CACHE_NOKEY;
  p->next[s] = p->free;
  p->free = s;
}

static inline void cpool_push_tail(cpool *p, int32_t list, int32_t s) {
  int32_t pv = p->prev[list];
  p->prev[s] = pv;
  p->next[s] = list;
  p->next[pv] = s;
  p->prev[list] = s;
}

static inline void cpool_unlink(cpool *p, int32_t s) {
  int32_t pv = p->prev[s], nx = p->next[s];
  p->next[pv] = nx;
  p->prev[nx] = pv;
}

/* ---- the indexed min-heap by (freq, seq) over slots 0..n-1 ---- */

typedef struct cheap {
  uint64_t *freq, *seq;
  int32_t *heap, *pos;
  int32_t size, n;
  uint64_t bytes;
} cheap;

int cheap_init(cheap *h, uint64_t n);
void cheap_fini(cheap *h);
void cheap_up(cheap *h, int32_t i);
void cheap_down(cheap *h, int32_t i);
void cheap_push(cheap *h, int32_t slot);
void cheap_delete(cheap *h, int32_t slot);
void cheap_heapify(cheap *h);

static inline int cheap_contains(const cheap *h, int32_t slot) { return h->pos[slot] >= 0; }
static inline int32_t cheap_peek(const cheap *h) { return h->size > 0 ? h->heap[0] : -1; }

#endif
