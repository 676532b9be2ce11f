/* cache: native twins of lib/cache's policies and the simulator's hot loop (issue 4).
 *
 * Each policy file (cache_<name>.c) makes exactly the decisions of its TypeScript twin
 * (lib/cache/<name>.ts; the TS file's header states the variant) and exports one ops table.
 * cache_sim.c holds the handle table, the per-request loop (block splitting, counting by
 * blocks, bytes, whole requests, reads/writes) and the binary trace reader (mmap); it calls
 * the policy only through its ops table, never by name.
 *
 * Shared here, inline for the hot path: the node table of the list policies (16-byte nodes: a
 * key with a small tag and int32 prev/next links, circular lists with sentinels; the nodes are
 * the hash table), the keyed pool of the heap policies (8-byte keys in fixed slots and an
 * open-addressing index), and an indexed min-heap by (frequency, sequence). Every exported
 * function returns >= 0 or -errno. */
#ifndef HVKIT_CACHE_H
#define HVKIT_CACHE_H
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hvkit.h"

/* One policy behind one small interface (libCacheSim's shape). */
typedef struct cache_ops {
  const char *name;
  void *(*create)(uint64_t capacity);                  /* NULL on ENOMEM */
  void (*destroy)(void *self);
  /* 1 = hit, 0 = miss, -ENOMEM: the node table could not grow, the cache is as it was */
  int (*access)(void *self, uint64_t key, int is_write);
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
  CACHE_ERR_BAD_OP, CACHE_ERR_TRUNCATED, CACHE_ERR_BAD_OFFSET, /* or ends past 2^53 */
  CACHE_ERR_NO_MEMORY, /* -ENOMEM from a replay: a policy's table could not grow */
  CACHE_ERR_ORACLE_EXTENT, /* oracleGeneral: obj_id * obj_size (or obj_id) at or past 2^53 */
  CACHE_ERR_ORACLE_TRUNCATED /* oracleGeneral: a partial record at the end */
};

/* cache_run_file_as formats: hvkit's binary trace, libCacheSim's oracleGeneral. */
enum { CACHE_FILE_BINARY = 0, CACHE_FILE_ORACLE = 1 };

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
HV_EXPORT int32_t cache_run_file_as(int32_t h, const char *path, uint32_t format, uint64_t *out);
HV_EXPORT int32_t cache_result(int32_t h, uint64_t *out);
HV_EXPORT int32_t cache_cancel(int32_t h);
/* Tests only: while `on`, every allocation made to grow a node table fails (as on ENOMEM); the
 * environment variable HVKIT_TEST_CACHE_GROW_FAIL=1 turns it on too (for end-to-end tests). */
HV_EXPORT int32_t cache_test_fail_grow(int32_t on);

/* ---- the node table (list policies) and the keyed pool (heap policies) ----
 * A node is 16 bytes, one cache line holds four: the key (a block number < 2^54) with a 10-bit
 * tag above it (a queue, a reference bit, a frequency), and two int32 fields. */

#define CACHE_KEY_BITS 54
#define CACHE_KEY_MASK ((1ull << CACHE_KEY_BITS) - 1)
#define CACHE_NOKEY CACHE_KEY_MASK /* an empty slot; real keys are < 2^53 */

typedef struct cnode {
  uint64_t ka;          /* key | tag << CACHE_KEY_BITS */
  int32_t prev, next;   /* list links (node table) */
} cnode;

/* The key's 64-bit hash: a bijection, so distinct keys never share both halves. */
static inline uint64_t cache_hash(uint64_t key) {
  uint64_t h = (key ^ (key >> 31)) * 0x9E3779B97F4A7C15ull;
  return h ^ (h >> 29);
}

/* A real load whose value is dropped: software prefetch instructions are dropped by some
 * (virtual) machines on a TLB miss, a load is not. Loads ahead of use overlap their misses. */
static inline void cache_touch(const void *a) { (void)*(volatile const char *)a; }

/* A look-ahead by `a` real load (hint 0) or a prefetch instruction (hint 1). With the node table
 * every list policy runs faster with prefetch instructions (interleaved A/B at 40k and 400k
 * blocks); the keyed pool of the heap policies keeps real loads. */
static inline void cache_ahead(const void *a, int hint) {
  if (hint) __builtin_prefetch(a);
  else cache_touch(a);
}

/* The node table of the list policies (FIFO, LRU, CLOCK, SIEVE, ARC, S3-FIFO, 2Q). The nodes
 * are the hash table: no separate index. Slots come in buckets of CPOOL_WAYS (one 64-byte line);
 * a key lives in one of its two buckets (bucketed cuckoo hashing), so a look-up reads two lines
 * and a removal only marks the slot empty. Inserting into two full buckets moves a resident to
 * its other bucket (its list neighbours are relinked), along a path of such moves; when no path
 * is found the table grows by a quarter and is rebuilt beside the old one (if that allocation
 * fails, the insert fails with -ENOMEM and the old table is kept: see cpool_alloc_h). At most
 * CPOOL_LOAD full: 16 / 0.85 = 18.8 bytes per node (the ghost policies keep a node per ghost
 * too). Slots 0..CPOOL_WAYS-1 are the list sentinels (stable when the table grows); bucket b starts at CPOOL_WAYS * (b + 1).
 * Hit counts never depend on where a node sits, only on the lists' order. */
#define CPOOL_WAYS 4
#define CPOOL_LOAD 0.85
#define CPOOL_MAX_LISTS CPOOL_WAYS

typedef struct cpool {
  cnode *nodes;    /* CPOOL_WAYS sentinels, then nb buckets */
  uint64_t *room;  /* a bit per bucket: it has an empty slot */
  uint32_t nb;     /* buckets */
  int32_t lists;
  uint64_t n;      /* the most keys held at once (the policy's promise) */
  int32_t *watch;  /* a slot a policy keeps (SIEVE's hand): moved with its node, -1 = none */
  uint64_t bytes, rng, moves, grows;
} cpool;

int cpool_init(cpool *p, uint64_t n, int32_t lists); /* 0 or -ENOMEM/-E2BIG */
void cpool_fini(cpool *p);
/* The cold half of cpool_alloc: both buckets of `key` full. Returns an empty slot in one of
 * them after moving residents (or growing the table), or -ENOMEM when the table had to grow and
 * could not: then every key and list is as it was (a path of moves is made only once found, and
 * a grown table is built beside the old one). */
int32_t cpool_make_room(cpool *p, uint64_t key);

static inline uint64_t cpool_key(const cpool *p, int32_t s) {
  return p->nodes[s].ka & CACHE_KEY_MASK;
}
static inline unsigned cpool_tag(const cpool *p, int32_t s) {
  return (unsigned)(p->nodes[s].ka >> CACHE_KEY_BITS);
}
static inline void cpool_set_tag(cpool *p, int32_t s, unsigned tag) {
  p->nodes[s].ka = (p->nodes[s].ka & CACHE_KEY_MASK) | ((uint64_t)tag << CACHE_KEY_BITS);
}

/* The two buckets of a hash (fast range reduction of each 32-bit half) and their first slots. */
static inline uint32_t cpool_b1(const cpool *p, uint64_t h) {
  return (uint32_t)(((h >> 32) * p->nb) >> 32);
}
static inline uint32_t cpool_b2(const cpool *p, uint64_t h) {
  return (uint32_t)(((h & 0xffffffffull) * p->nb) >> 32);
}
static inline int32_t cpool_first(uint32_t b) { return (int32_t)((b + 1) * CPOOL_WAYS); }
static inline uint32_t cpool_bucket_of(int32_t s) { return (uint32_t)s / CPOOL_WAYS - 1; }

static inline int32_t cpool_find_in(const cnode *nd, uint32_t b, uint64_t key) {
  int32_t f = cpool_first(b);
  for (int i = 0; i < CPOOL_WAYS; i++) {
    if ((nd[f + i].ka & CACHE_KEY_MASK) == key) return f + i;
  }
  return -1;
}

/* cpool_get with the key's hash given (cache_hash(key)). */
static inline int32_t cpool_get_h(const cpool *p, uint64_t key, uint64_t h) {
  int32_t s = cpool_find_in(p->nodes, cpool_b1(p, h), key);
  return s >= 0 ? s : cpool_find_in(p->nodes, cpool_b2(p, h), key);
}
static inline int32_t cpool_get(const cpool *p, uint64_t key) {
  return cpool_get_h(p, key, cache_hash(key));
}

static inline int cpool_has_room(const cpool *p, uint32_t b) {
  return (int)((p->room[b >> 6] >> (b & 63)) & 1);
}

/* The other bucket of the key in slot s (s's own bucket when both are the same). */
static inline uint32_t cpool_alt(const cpool *p, int32_t s) {
  uint64_t h = cache_hash(cpool_key(p, s));
  uint32_t b = cpool_bucket_of(s), b1 = cpool_b1(p, h);
  return b1 == b ? cpool_b2(p, h) : b1;
}

/* The resident a kick out of full buckets b1, b2 moves: the first (b1's slots, then b2's) whose
 * other bucket has room, that bucket in *dest; -1 when none. */
static inline int32_t cpool_kick_pick(const cpool *p, uint32_t b1, uint32_t b2, uint32_t *dest) {
  for (int side = 0; side < 2; side++) {
    uint32_t b = side ? b2 : b1;
    if (side && b2 == b1) break;
    for (int32_t s = cpool_first(b); s < cpool_first(b) + CPOOL_WAYS; s++) {
      uint32_t alt = cpool_alt(p, s);
      if (alt != b && cpool_has_room(p, alt)) {
        *dest = alt;
        return s;
      }
    }
  }
  return -1;
}

/* The look-ahead hint: both buckets of `key`, by prefetch instructions (`hint` 1) or real loads
 * (0), a few requests before its access. (A second, later stage that also fetched a hit's list
 * neighbours or a kick's lines cost more than it saved, measured at 40k and 400k blocks.) */
static inline void cpool_prefetch_by(const cpool *p, uint64_t key, int stage, int hint) {
  if (stage != 0) return;
  uint64_t h = cache_hash(key);
  cache_ahead(&p->nodes[cpool_first(cpool_b1(p, h))], hint);
  cache_ahead(&p->nodes[cpool_first(cpool_b2(p, h))], hint);
}
static inline void cpool_prefetch(const cpool *p, uint64_t key, int stage) {
  cpool_prefetch_by(p, key, stage, 1);
}

/* Called with a queue's next victim `s` after an eviction: prefetches the node after it, which
 * that eviction will relink. */
static inline void cpool_prefetch_victim_by(const cpool *p, int32_t s, int hint) {
  cache_ahead(&p->nodes[p->nodes[s].next], hint);
}
static inline void cpool_prefetch_victim(const cpool *p, int32_t s) {
  cpool_prefetch_victim_by(p, s, 0);
}

static inline void cpool_set_room(cpool *p, uint32_t b, int room) {
  if (room) p->room[b >> 6] |= 1ull << (b & 63);
  else p->room[b >> 6] &= ~(1ull << (b & 63));
}
/* Empty slots of bucket b (the first in *at, -1 when none). */
static inline int cpool_empties(const cnode *nd, uint32_t b, int32_t *at) {
  int32_t f = cpool_first(b);
  int k = 0;
  *at = -1;
  for (int i = CPOOL_WAYS - 1; i >= 0; i--) {
    if (nd[f + i].ka == CACHE_NOKEY) {
      k++;
      *at = f + i;
    }
  }
  return k;
}

static inline int32_t cpool_list(const cpool *p, int32_t i) {
  (void)p;
  return i;
}

/* Takes an empty slot for `key` (not present; tag 0) in the emptier of its buckets, or -ENOMEM
 * when both were full and the table could not grow (then nothing changed). The caller links it
 * into a list before the next cpool_alloc (a move relinks its neighbours). A policy calls it on a
 * miss before it changes anything else, its evictions included (they only free slots, and an
 * unlinked node is no list's victim), so that a refused access leaves the cache as it was. */
static inline int32_t cpool_alloc_h(cpool *p, uint64_t key, uint64_t h) {
  uint32_t b1 = cpool_b1(p, h), b2 = cpool_b2(p, h);
  int32_t s1, s2;
  int k1 = cpool_empties(p->nodes, b1, &s1), k2 = cpool_empties(p->nodes, b2, &s2);
  int32_t s;
  uint32_t b;
  int left;
  if (k1 == 0 && k2 == 0) {
    s = cpool_make_room(p, key);
    if (s < 0) return s;
    b = cpool_bucket_of(s);
    left = cpool_empties(p->nodes, b, &s1) - 1;
  } else if (k1 >= k2) {
    s = s1, b = b1, left = k1 - 1;
  } else {
    s = s2, b = b2, left = k2 - 1;
  }
  p->nodes[s].ka = key;
  if (left == 0) cpool_set_room(p, b, 0);
  return s;
}
static inline int32_t cpool_alloc(cpool *p, uint64_t key) {
  return cpool_alloc_h(p, key, cache_hash(key));
}

/* Frees an unlinked node's slot. */
static inline void cpool_release(cpool *p, int32_t s) {
  p->nodes[s].ka = CACHE_NOKEY;
  cpool_set_room(p, cpool_bucket_of(s), 1);
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

/* The keyed pool of the heap policies (LFU, QBic): slots 0..n-1 that never move (the heap
 * arrays are indexed by them), 8-byte nodes (the key; a free slot holds KPOOL_FREE and the next
 * free slot + 1), and an open-addressing index of 8-byte entries (slot and key fingerprint, at
 * most 2/3 full; linear probing, backward-shift delete). */
#define KPOOL_FREE (1ull << 63)

typedef struct kpool {
  uint64_t *keys;         /* n slots */
  uint64_t *table;        /* fingerprint << 32 | (slot + 1); 0 = empty */
  uint32_t mask, fpshift; /* table size - 1; 32 - log2(table size) */
  int32_t n, free;
  uint64_t bytes;
} kpool;

int kpool_init(kpool *p, uint64_t n); /* 0 or -ENOMEM/-E2BIG */
void kpool_fini(kpool *p);

static inline int kpool_is_free(const kpool *p, int32_t s) { return (p->keys[s] & KPOOL_FREE) != 0; }
static inline uint64_t kpool_key(const kpool *p, int32_t s) { return p->keys[s]; }

/* The key's 32-bit fingerprint (Fibonacci hashing); its top bits are its home slot. The index
 * keeps it beside the slot number, so probing and backward-shift deletion never read a node. */
static inline uint32_t kpool_fp(uint64_t key) {
  return (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32);
}
static inline uint32_t kpool_home(const kpool *p, uint32_t fp) { return fp >> p->fpshift; }

static inline int32_t kpool_get(const kpool *p, uint64_t key) {
  const uint64_t *table = p->table;
  uint32_t fp = kpool_fp(key);
  uint32_t h = kpool_home(p, fp);
  for (;;) {
    uint64_t e = table[h];
    if (e == 0) return -1;
    int32_t s = (int32_t)(uint32_t)e - 1;
    if ((uint32_t)(e >> 32) == fp && p->keys[s] == key) return s;
    h = (h + 1) & p->mask;
  }
}

/* The index slot of `key` first, its node (when the home entry has its fingerprint) later. */
static inline void kpool_prefetch(const kpool *p, uint64_t key, int stage) {
  uint32_t fp = kpool_fp(key);
  uint32_t h = kpool_home(p, fp);
  if (stage == 0) {
    cache_touch(&p->table[h]);
  } else {
    uint64_t e = p->table[h];
    if (e != 0 && (uint32_t)(e >> 32) == fp) cache_touch(&p->keys[(uint32_t)e - 1]);
  }
}

/* Indexes `slot` under its key (not present). */
static inline void kpool_index(kpool *p, int32_t slot) {
  uint32_t fp = kpool_fp(p->keys[slot]);
  uint32_t h = kpool_home(p, fp);
  while (p->table[h] != 0) h = (h + 1) & p->mask;
  p->table[h] = (uint64_t)fp << 32 | (uint32_t)(slot + 1);
}

/* Removes `key` from the index; returns its slot or -1. */
static inline int32_t kpool_unindex(kpool *p, uint64_t key) {
  uint64_t *table = p->table;
  uint32_t mask = p->mask;
  uint32_t fp = kpool_fp(key);
  uint32_t h = kpool_home(p, fp);
  int32_t slot;
  for (;;) {
    uint64_t e = table[h];
    if (e == 0) return -1;
    slot = (int32_t)(uint32_t)e - 1;
    if ((uint32_t)(e >> 32) == fp && p->keys[slot] == key) break;
    h = (h + 1) & mask;
  }
  uint32_t hole = h, j = h;
  for (;;) {
    j = (j + 1) & mask;
    uint64_t e = table[j];
    if (e == 0) break;
    uint32_t home = kpool_home(p, (uint32_t)(e >> 32));
    if (((j - home) & mask) >= ((j - hole) & mask)) {
      table[hole] = e;
      hole = j;
    }
  }
  table[hole] = 0;
  return slot;
}

/* Takes a free slot for `key` and indexes it; -1 when none is free. */
static inline int32_t kpool_alloc(kpool *p, uint64_t key) {
  int32_t s = p->free;
  if (s < 0) return -1;
  p->free = (int32_t)(p->keys[s] & ~KPOOL_FREE) - 1;
  p->keys[s] = key;
  kpool_index(p, s);
  return s;
}

/* Unindexes and frees a slot. */
static inline void kpool_release(kpool *p, int32_t s) {
  kpool_unindex(p, p->keys[s]);
  p->keys[s] = KPOOL_FREE | (uint64_t)(p->free + 1);
  p->free = s;
}

/* ---- the indexed min-heap by (freq, seq) over slots 0..n-1 ---- */

typedef struct cheap {
  uint64_t *freq, *seq;
  int32_t *heap, *pos;
  int32_t size, n;
  uint64_t bytes;
} cheap;

/* A heap over slots 0..n-1 holding at most `most` of them at once. */
int cheap_init(cheap *h, uint64_t n, uint64_t most);
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

/* LRU's access (1 = hit, 0 = miss, -ENOMEM when the node table could not grow: nothing changed):
 * a hit moves to the MRU end; a miss evicts the LRU end when full and inserts at the MRU end. */
static inline __attribute__((always_inline)) int cache_lru_access(cache_lru *l, uint64_t key) {
  cpool *p = &l->p;
  uint64_t h = cache_hash(key);
  int32_t s = cpool_get_h(p, key, h);
  if (s >= 0) {
    cpool_unlink(p, s);
    cpool_push_tail(p, l->list, s);
    return 1;
  }
  if (l->cap == 0) return 0;
  int32_t ns = cpool_alloc_h(p, key, h); /* before the eviction: see cpool_alloc_h */
  if (ns < 0) return -ENOMEM;
  if (l->used == l->cap) {
    int32_t v = p->nodes[l->list].next;
    cpool_unlink(p, v);
    cpool_release(p, v);
    l->used--;
    cpool_prefetch_victim_by(p, cpool_next(p, l->list), 1);
  }
  cpool_push_tail(p, l->list, ns);
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
