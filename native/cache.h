/* cache: native twins of lib/cache's policies and the simulator's hot loop (issue 4).
 *
 * Each policy file (cache_<name>.c) makes exactly the decisions of its TypeScript twin
 * (lib/cache/<name>.ts; the TS file's header states the variant) and exports one ops table.
 * cache_sim.c holds the handle table, the per-request loop (block splitting, counting by
 * blocks, bytes, whole requests, reads/writes) and the binary trace reader (mmap); it calls
 * the policy only through its ops table, never by name.
 *
 * Shared here, inline for the hot path: a node pool (16-byte nodes: a key with a small tag and
 * int32 prev/next links; circular lists with sentinels), an open-addressing index of 8-byte
 * entries (slot number and key fingerprint, at most 2/3 full; linear probing, backward-shift
 * delete), and an indexed min-heap by (frequency, sequence). Every exported function returns
 * >= 0 or -errno. */
#ifndef HVKIT_CACHE_H
#define HVKIT_CACHE_H
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hvkit.h"

/* One policy behind one small interface (libCacheSim's shape). */
typedef struct cache_ops {
  const char *name;
  void *(*create)(uint64_t capacity);                  /* NULL on ENOMEM */
  void (*destroy)(void *self);
  int (*access)(void *self, uint64_t key, int is_write); /* 1 = hit */
  int (*has)(void *self, uint64_t key);
  void (*remove)(void *self, uint64_t key);
  void (*prefetch)(void *self, uint64_t key, int stage); /* hints before access(key) */
  uint64_t (*used)(void *self);
  uint64_t (*bytes)(void *self); /* memory the policy allocated */
  /* Optional: create with parameters (NULL on bad ones or ENOMEM); NULL when it has none. */
  void *(*create_with)(uint64_t capacity, const double *params, uint32_t n);
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
  CACHE_CPU_NS, /* thread CPU time spent in cache_run_file calls */
  CACHE_OUT_WORDS = 24
};

/* cache_set_admission flags: also refuse records tagged class "journal" (binary flags 2-4 = 1). */
enum { CACHE_ADMIT_REFUSE_JOURNAL_TAG = 1 };

/* CACHE_ERR_KIND values when a trace is rejected (-EBADMSG). */
enum {
  CACHE_ERR_NONE, CACHE_ERR_HEADER_TRUNCATED, CACHE_ERR_NOT_BINARY, CACHE_ERR_RECORD_SIZE,
  CACHE_ERR_BAD_OP, CACHE_ERR_TRUNCATED, CACHE_ERR_BAD_OFFSET /* or ends past 2^53 */
};

/* cache_sim.c: the FFI surface (lib/ffi/cache_symbols.ts). */
HV_EXPORT int32_t cache_policy_known(const char *name);
HV_EXPORT int32_t cache_open(const char *name, uint64_t capacity, uint64_t block_size);
HV_EXPORT int32_t cache_open_with(const char *name, uint64_t capacity, uint64_t block_size,
                                  const double *params, uint32_t n);
HV_EXPORT int32_t cache_close(int32_t h);
HV_EXPORT int32_t cache_access(int32_t h, uint64_t block, uint32_t is_write);
HV_EXPORT int32_t cache_has(int32_t h, uint64_t block);
HV_EXPORT int32_t cache_remove(int32_t h, uint64_t block);
HV_EXPORT int32_t cache_feed(int32_t h, const uint8_t *op, const double *off, const double *len,
                             const uint8_t *mask, uint32_t n);
HV_EXPORT int32_t cache_set_admission(int32_t h, const double *ranges, uint32_t n,
                                      uint32_t flags);
HV_EXPORT int32_t cache_run_file(int32_t h, const char *path, uint64_t *out);
HV_EXPORT int32_t cache_result(int32_t h, uint64_t *out);
HV_EXPORT int32_t cache_cancel(int32_t h);

/* ---- the node pool and its index ----
 * A node is 16 bytes, one cache line holds four: the key (a block number < 2^54) with a 10-bit
 * tag above it (a queue, a reference bit, a frequency), and the int32 links. */

#define CACHE_KEY_BITS 54
#define CACHE_KEY_MASK ((1ull << CACHE_KEY_BITS) - 1)
#define CACHE_NOKEY CACHE_KEY_MASK /* a free node; real keys are < 2^53 */

typedef struct cnode {
  uint64_t ka;          /* key | tag << CACHE_KEY_BITS */
  int32_t prev, next;   /* next doubles as the free chain */
} cnode;

typedef struct cpool {
  cnode *nodes;          /* n + lists; sentinels at n.. */
  uint64_t *table;       /* fingerprint << 32 | (slot + 1); 0 = empty */
  uint32_t mask, fpshift; /* table size - 1; 32 - log2(table size) */
  int32_t n, lists, free;
  uint64_t bytes;
} cpool;

int cpool_init(cpool *p, uint64_t n, int32_t lists); /* 0 or -ENOMEM/-E2BIG */
void cpool_fini(cpool *p);

static inline uint64_t cpool_key(const cpool *p, int32_t s) {
  return p->nodes[s].ka & CACHE_KEY_MASK;
}
static inline unsigned cpool_tag(const cpool *p, int32_t s) {
  return (unsigned)(p->nodes[s].ka >> CACHE_KEY_BITS);
}
static inline void cpool_set_tag(cpool *p, int32_t s, unsigned tag) {
  p->nodes[s].ka = (p->nodes[s].ka & CACHE_KEY_MASK) | ((uint64_t)tag << CACHE_KEY_BITS);
}

/* The key's 32-bit fingerprint (Fibonacci hashing); its top bits are its home slot. The index
 * keeps it beside the slot number, so probing and backward-shift deletion never read a node. */
static inline uint32_t cpool_fp(uint64_t key) {
  return (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32);
}
static inline uint32_t cpool_home(const cpool *p, uint32_t fp) { return fp >> p->fpshift; }

static inline int32_t cpool_get(const cpool *p, uint64_t key) {
  const uint64_t *table = p->table;
  const cnode *nodes = p->nodes;
  uint32_t fp = cpool_fp(key);
  uint32_t h = cpool_home(p, fp);
  for (;;) {
    uint64_t e = table[h];
    if (e == 0) return -1;
    int32_t s = (int32_t)(uint32_t)e - 1;
    if ((uint32_t)(e >> 32) == fp && (nodes[s].ka & CACHE_KEY_MASK) == key) return s;
    h = (h + 1) & p->mask;
  }
}

/* A real load whose value is dropped: software prefetch instructions are dropped by some
 * (virtual) machines on a TLB miss, a load is not. Loads ahead of use overlap their misses. */
static inline void cache_touch(const void *a) { (void)*(volatile const char *)a; }

/* A look-ahead by `a` real load (hint 0) or a prefetch instruction (hint 1). Measured per policy
 * in interleaved A/B at 400k blocks on this VM: LRU's loop runs faster with prefetch
 * instructions (nothing waits on them), ARC and S3-FIFO slower; each policy passes its own. */
static inline void cache_ahead(const void *a, int hint) {
  if (hint) __builtin_prefetch(a);
  else cache_touch(a);
}

/* Prefetch hints, in two stages: the index slot of `key` first, its node (when the home entry
 * has its fingerprint) a few requests later, when the slot is in cache. */
static inline void cpool_prefetch_by(const cpool *p, uint64_t key, int stage, int hint) {
  uint32_t fp = cpool_fp(key);
  uint32_t h = cpool_home(p, fp);
  if (stage == 0) {
    cache_ahead(&p->table[h], hint);
  } else {
    uint64_t e = p->table[h];
    if (e != 0 && (uint32_t)(e >> 32) == fp) cache_ahead(&p->nodes[(uint32_t)e - 1], hint);
  }
}
static inline void cpool_prefetch(const cpool *p, uint64_t key, int stage) {
  cpool_prefetch_by(p, key, stage, 0);
}

/* Called with a queue's next victim `s` after an eviction: prefetches the index slot of the
 * victim after it and the node after that, so that evictions find their lines in cache. */
static inline void cpool_prefetch_victim_by(const cpool *p, int32_t s, int hint) {
  const cnode *nd = p->nodes;
  int32_t s1 = nd[s].next;
  cache_ahead(&p->table[cpool_home(p, cpool_fp(nd[s1].ka & CACHE_KEY_MASK))], hint);
  cache_ahead(&nd[nd[s1].next], hint);
}
static inline void cpool_prefetch_victim(const cpool *p, int32_t s) {
  cpool_prefetch_victim_by(p, s, 0);
}

/* Indexes `slot` under its key (not present). */
static inline void cpool_index(cpool *p, int32_t slot) {
  uint32_t fp = cpool_fp(cpool_key(p, slot));
  uint32_t h = cpool_home(p, fp);
  while (p->table[h] != 0) h = (h + 1) & p->mask;
  p->table[h] = (uint64_t)fp << 32 | (uint32_t)(slot + 1);
}

/* Removes `key` from the index; returns its slot or -1. */
static inline int32_t cpool_unindex(cpool *p, uint64_t key) {
  uint64_t *table = p->table;
  const cnode *nodes = p->nodes;
  uint32_t mask = p->mask;
  uint32_t fp = cpool_fp(key);
  uint32_t h = cpool_home(p, fp);
  int32_t slot;
  for (;;) {
    uint64_t e = table[h];
    if (e == 0) return -1;
    slot = (int32_t)(uint32_t)e - 1;
    if ((uint32_t)(e >> 32) == fp && (nodes[slot].ka & CACHE_KEY_MASK) == key) break;
    h = (h + 1) & mask;
  }
  uint32_t hole = h, j = h;
  for (;;) {
    j = (j + 1) & mask;
    uint64_t e = table[j];
    if (e == 0) break;
    uint32_t home = cpool_home(p, (uint32_t)(e >> 32));
    if (((j - home) & mask) >= ((j - hole) & mask)) {
      table[hole] = e;
      hole = j;
    }
  }
  table[hole] = 0;
  return slot;
}

static inline int32_t cpool_list(const cpool *p, int32_t i) { return p->n + i; }

/* Takes a free node for `key` (tag 0) and indexes it; -1 when exhausted. */
static inline int32_t cpool_alloc(cpool *p, uint64_t key) {
  int32_t s = p->free;
  if (s < 0) return -1;
  p->free = p->nodes[s].next;
  p->nodes[s].ka = key;
  cpool_index(p, s);
  return s;
}

/* Unindexes and frees an unlinked node. */
static inline void cpool_release(cpool *p, int32_t s) {
  cpool_unindex(p, cpool_key(p, s));
  p->nodes[s].ka = CACHE_NOKEY;
  p->nodes[s].next = p->free;
  p->free = s;
}

static inline int32_t cpool_next(const cpool *p, int32_t s) { return p->nodes[s].next; }

static inline void cpool_push_tail(cpool *p, int32_t list, int32_t s) {
  cnode *nd = p->nodes;
  int32_t pv = nd[list].prev;
  nd[s].prev = pv;
  nd[s].next = list;
  nd[pv].next = s;
  nd[list].prev = s;
}

static inline void cpool_unlink(cpool *p, int32_t s) {
  cnode *nd = p->nodes;
  int32_t pv = nd[s].prev, nx = nd[s].next;
  nd[pv].next = nx;
  nd[nx].prev = pv;
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

/* ---- LRU's state and hot path, shared by cache_lru.c and cache_sim.c's LRU loop ---- */

typedef struct cache_lru {
  cpool p;
  uint64_t cap, used;
  int32_t list;
} cache_lru;

/* LRU's access (1 = hit): a hit moves to the MRU end; a miss evicts the LRU end when full and
 * inserts at the MRU end. */
static inline __attribute__((always_inline)) int cache_lru_access(cache_lru *l, uint64_t key) {
  cpool *p = &l->p;
  int32_t s = cpool_get(p, key);
  if (s >= 0) {
    cpool_unlink(p, s);
    cpool_push_tail(p, l->list, s);
    return 1;
  }
  if (l->cap == 0) return 0;
  if (l->used == l->cap) {
    int32_t v = p->nodes[l->list].next;
    cpool_unlink(p, v);
    cpool_release(p, v);
    l->used--;
    cpool_prefetch_victim_by(p, cpool_next(p, l->list), 1);
  }
  cpool_push_tail(p, l->list, cpool_alloc(p, key));
  l->used++;
  return 0;
}

/* LRU's look-ahead hints: prefetch instructions (see cache_ahead). */
static inline void cache_lru_prefetch(cache_lru *l, uint64_t key, int stage) {
  cpool_prefetch_by(&l->p, key, stage, 1);
}

static inline void cache_lru_remove(cache_lru *l, uint64_t key) {
  int32_t s = cpool_get(&l->p, key);
  if (s < 0) return;
  cpool_unlink(&l->p, s);
  cpool_release(&l->p, s);
  l->used--;
}

#endif
