/* cache: the simulator's hot loop, the twin of lib/cache/simulate.ts's Simulator.stepRaw.
 *
 * Per request: F counts a flush; T removes its blocks; R, W and Z (a write) covering blocks
 * off/bs .. (off+len-1)/bs are that many accesses in ascending order; a request the admission
 * mask refuses removes its blocks and counts as bypassed. Counted per block access, per byte in
 * hit blocks and per whole request, reads and writes apart.
 *
 * A handle holds one policy (through its ops table) and the counters; callers feed it column
 * batches (cache_feed) or a whole binary trace file, mmapped (cache_run_file). Offsets must be
 * non-negative integers and a request must end at or below 2^53 (lib/trace/limits.ts, what
 * every hvkit reader yields).
 *
 * Interruptible: cache_cancel(h), from any thread, makes a running or later cache_feed or
 * cache_run_file on h stop within CANCEL_SPAN records or blocks and return -ECANCELED, the
 * counters holding what was replayed (a request cut short counts only the blocks it reached). */
#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "open_regular.h"

#define CACHE_MAX_HANDLES 4096
/* The binary trace's op bytes (lib/trace/binary.ts OP_CODES): R 0, W 1, F 2, T 3, Z 4. */
enum { OP_READ = 0, OP_WRITE = 1, OP_FLUSH = 2, OP_TRIM = 3, OP_ZERO = 4 };
/* The most journal ranges cache_set_admission takes (a journal is a few ranges). */
#define CACHE_MAX_RANGES (1u << 24)
/* Prefetch distances, in requests: the index slot first, the node when the slot is in. */
#ifndef PREFETCH_SLOT
#define PREFETCH_SLOT 16
#endif
#ifndef PREFETCH_NODE
#define PREFETCH_NODE 8
#endif

static const cache_ops *const POLICIES[] = {
    &cache_lru_ops, &cache_fifo_ops, &cache_clock_ops, &cache_sieve_ops, &cache_s3fifo_ops,
    &cache_arc_ops, &cache_two_q_ops, &cache_lfu_ops, &cache_qbic_ops,
};

typedef struct sim {
  const cache_ops *ops;
  void *pol;
  uint64_t cap, bs;
  int bs_shift; /* log2(bs) when a power of two, else -1 */
  /* PDC's exact admission for cache_run_file: sorted, disjoint [start, end) journal ranges. */
  double *starts, *ends;
  uint32_t nranges, admit_flags;
  int admission;
  atomic_int cancel; /* set by cache_cancel, read by the loops */
  uint64_t c[CACHE_OUT_WORDS];
} sim;

/* Records, and blocks within one request, between two looks at the cancel flag. */
#define CANCEL_SPAN 4096u

static inline int cancelled(const atomic_int *flag) {
  return atomic_load_explicit(flag, memory_order_relaxed);
}

static sim *handles[CACHE_MAX_HANDLES];
static pthread_mutex_t handles_lock = PTHREAD_MUTEX_INITIALIZER;

static const cache_ops *find_policy(const char *name) {
  for (size_t i = 0; i < sizeof POLICIES / sizeof POLICIES[0]; i++) {
    if (strcmp(POLICIES[i]->name, name) == 0) return POLICIES[i];
  }
  return NULL;
}

/* Slots are published and cleared under handles_lock and read with an acquire load
 * (an unlocked plain read was a data race). A handle's lifetime is the caller's
 * contract: lib/cache/native_cache.ts never closes a simulator while a call on it runs. */
static sim *get(int32_t h) {
  if (h < 0 || h >= CACHE_MAX_HANDLES) return NULL;
  return __atomic_load_n(&handles[h], __ATOMIC_ACQUIRE);
}

int32_t cache_policy_known(const char *name) { return find_policy(name) != NULL; }

int32_t cache_open(const char *name, uint64_t capacity, uint64_t block_size) {
  return cache_open_with(name, capacity, block_size, NULL, 0);
}

/* A policy with parameters (n > 0; the policy's create_with reads them in its order). */
int32_t cache_open_with(const char *name, uint64_t capacity, uint64_t block_size,
                        const double *params, uint32_t n) {
  const cache_ops *ops = find_policy(name);
  if (!ops) return -ENOENT;
  if (block_size == 0) return -EINVAL;
  if (capacity > (1ull << 26)) return -E2BIG;
  if (n > 0 && !ops->create_with) return -EINVAL;
  sim *s = calloc(1, sizeof *s);
  if (!s) return -ENOMEM;
  s->ops = ops;
  s->cap = capacity;
  s->bs = block_size;
  s->bs_shift = -1;
  if ((block_size & (block_size - 1)) == 0) s->bs_shift = __builtin_ctzll(block_size);
  s->pol = n > 0 ? ops->create_with(capacity, params, n) : ops->create(capacity);
  if (!s->pol) {
    free(s);
    return n > 0 ? -EINVAL : -ENOMEM;
  }
  pthread_mutex_lock(&handles_lock);
  int32_t h = -EMFILE;
  for (int32_t i = 0; i < CACHE_MAX_HANDLES; i++) {
    if (!handles[i]) {
      __atomic_store_n(&handles[i], s, __ATOMIC_RELEASE);
      h = i;
      break;
    }
  }
  pthread_mutex_unlock(&handles_lock);
  if (h < 0) {
    ops->destroy(s->pol);
    free(s);
  }
  return h;
}

int32_t cache_close(int32_t h) {
  pthread_mutex_lock(&handles_lock);
  sim *s = get(h);
  if (s) __atomic_store_n(&handles[h], NULL, __ATOMIC_RELEASE);
  pthread_mutex_unlock(&handles_lock);
  if (!s) return -EBADF;
  s->ops->destroy(s->pol);
  free(s->starts);
  free(s->ends);
  free(s);
  return 0;
}

int32_t cache_cancel(int32_t h) {
  sim *s = get(h);
  if (!s) return -EBADF;
  atomic_store_explicit(&s->cancel, 1, memory_order_relaxed);
  return 0;
}

int32_t cache_set_admission(int32_t h, const double *ranges, uint32_t n, uint32_t flags) {
  sim *s = get(h);
  if (!s) return -EBADF;
  if (n > CACHE_MAX_RANGES) return -E2BIG;
  /* size_t before the + 1: n = UINT32_MAX must not wrap to a zero-byte buffer. */
  double *st = calloc((size_t)n + 1, sizeof *st), *en = calloc((size_t)n + 1, sizeof *en);
  if (!st || !en) {
    free(st);
    free(en);
    return -ENOMEM;
  }
  for (uint32_t i = 0; i < n; i++) {
    st[i] = ranges[2 * i];
    en[i] = ranges[2 * i + 1];
    if (!(en[i] >= st[i]) || (i > 0 && st[i] < en[i - 1])) {
      free(st);
      free(en);
      return -EINVAL;
    }
  }
  free(s->starts);
  free(s->ends);
  s->starts = st;
  s->ends = en;
  s->nranges = n;
  s->admit_flags = flags;
  s->admission = 1;
  return 0;
}

/* RangeSet.overlaps: [off, off+len) shares a byte with a range (the last one starting before
 * the request's end). */
static int overlaps(const sim *s, double off, double len) {
  if (len <= 0) return 0;
  double end = off + len;
  uint32_t lo = 0, hi = s->nranges;
  while (lo < hi) {
    uint32_t mid = (lo + hi) >> 1;
    if (s->starts[mid] < end) lo = mid + 1;
    else hi = mid;
  }
  return lo > 0 && s->ends[lo - 1] > off;
}

/* pdcAdmission(ExactDetector).admit for one binary record of an R/W/Z request. */
static inline int admitted_record(const sim *s, const uint8_t *r, double off, uint32_t len) {
  if (!s->admission) return 1;
  if ((s->admit_flags & CACHE_ADMIT_REFUSE_JOURNAL_TAG) && ((r[21] >> 2) & 7) == 1) return 0;
  return !overlaps(s, off, len);
}

int32_t cache_access(int32_t h, uint64_t block, uint32_t is_write) {
  sim *s = get(h);
  if (!s) return -EBADF;
  if (block >= (1ull << 53)) return -EINVAL;
  return s->ops->access(s->pol, block, is_write != 0);
}

int32_t cache_has(int32_t h, uint64_t block) {
  sim *s = get(h);
  if (!s) return -EBADF;
  if (block >= (1ull << 53)) return -EINVAL;
  return s->ops->has(s->pol, block);
}

int32_t cache_remove(int32_t h, uint64_t block) {
  sim *s = get(h);
  if (!s) return -EBADF;
  if (block >= (1ull << 53)) return -EINVAL;
  s->ops->remove(s->pol, block);
  return 0;
}

static inline uint64_t block_of(const sim *s, uint64_t byte) {
  return s->bs_shift >= 0 ? byte >> s->bs_shift : byte / s->bs;
}

/* The policy's calls, as the loops see them: the ops table's (generic) or a policy's inline
 * functions (a specialised loop, see LOOPS). */
typedef int (*access_fn)(void *pol, uint64_t key, int is_write);
typedef void (*remove_fn)(void *pol, uint64_t key);
typedef void (*prefetch_fn)(void *pol, uint64_t key, int stage);

#define HOT static inline __attribute__((always_inline))

HOT uint64_t block_at(int shift, uint64_t bs, uint64_t byte) {
  return shift >= 0 ? byte >> shift : byte / bs;
}

/* One request (Simulator.stepRaw), counting into `c`. Returns 1 when `cancel` was seen set in
 * the middle of a request of more than CANCEL_SPAN blocks: the blocks not reached are not
 * counted; -ENOMEM when the policy's table could not grow for a block: that block and the ones
 * after it are not counted (and the policy is as it was before that block). */
HOT int step_with(uint64_t *c, int shift, uint64_t bs, void *pol, access_fn access,
                  remove_fn remove, unsigned code, uint64_t off, uint64_t len, int admitted,
                  const atomic_int *cancel) {
  if (code == OP_FLUSH) {
    c[CACHE_FLUSHES]++;
    return 0;
  }
  if (code == OP_TRIM) {
    c[CACHE_TRIMS]++;
    if (len == 0) return 0;
    uint64_t first = block_at(shift, bs, off), last = block_at(shift, bs, off + len - 1);
    int big = last - first >= CANCEL_SPAN;
    for (uint64_t b = first; b <= last; b++) {
      if (big && ((b - first) % CANCEL_SPAN) == 0 && cancelled(cancel)) return 1;
      remove(pol, b);
    }
    return 0;
  }
  uint64_t *k = code == OP_READ ? c + CACHE_R_REQUESTS : c + CACHE_W_REQUESTS;
  k[0]++;
  if (len == 0) {
    k[5]++;
    return 0;
  }
  uint64_t first = block_at(shift, bs, off), last = block_at(shift, bs, off + len - 1);
  uint64_t n = last - first + 1;
  uint64_t end = off + len;
  int big = n > CANCEL_SPAN;
  k[1] += n;
  k[3] += len;
  if (!admitted) {
    c[CACHE_BYPASSED_REQUESTS]++;
    c[CACHE_BYPASSED_BLOCKS] += n;
    for (uint64_t b = first; b <= last; b++) {
      if (big && ((b - first) % CANCEL_SPAN) == 0 && cancelled(cancel)) {
        c[CACHE_BYPASSED_BLOCKS] -= last - b + 1;
        k[1] -= last - b + 1;
        k[3] -= end - (b * bs > off ? b * bs : off);
        return 1;
      }
      remove(pol, b);
    }
    return 0;
  }
  int is_write = code != OP_READ;
  uint64_t hits = 0;
  if (n == 1) {
    int r = access(pol, first, is_write);
    if (__builtin_expect(r < 0, 0)) {
      k[1] -= 1;
      k[3] -= len;
      return r;
    }
    if (r) {
      hits = 1;
      k[4] += len;
    }
  } else {
    for (uint64_t b = first; b <= last; b++) {
      if (big && ((b - first) % CANCEL_SPAN) == 0 && cancelled(cancel)) {
        k[1] -= last - b + 1;
        k[3] -= end - (b * bs > off ? b * bs : off);
        k[2] += hits;
        return 1;
      }
      int r = access(pol, b, is_write);
      if (__builtin_expect(r < 0, 0)) {
        k[1] -= last - b + 1;
        k[3] -= end - (b * bs > off ? b * bs : off);
        k[2] += hits;
        return r;
      }
      if (r) {
        hits++;
        uint64_t lo = b * bs > off ? b * bs : off;
        uint64_t hi = (b + 1) * bs < end ? (b + 1) * bs : end;
        k[4] += hi - lo;
      }
    }
  }
  k[2] += hits;
  if (hits == n) k[5]++;
  return 0;
}

static inline int step(sim *s, unsigned code, uint64_t off, uint64_t len, int admitted) {
  return step_with(s->c, s->bs_shift, s->bs, s->pol, s->ops->access, s->ops->remove, code, off,
                   len, admitted, &s->cancel);
}

/* 2^53: above it a double no longer holds every integer. */
#define MAX_EXACT 9007199254740992.0

static inline int valid_offset(double off) {
  /* int64_t: one conversion instruction (uint64_t takes a branchy sequence on x86-64). */
  return off >= 0 && off < MAX_EXACT && off == (double)(int64_t)off;
}

/* A request within the limits: its end (off + len, both valid) at or below 2^53. */
static inline int valid_extent(double off, double len) {
  /* MAX - off is exact for a valid off; off + len would round (2^53 + 1 -> 2^53). */
  return valid_offset(off) && valid_offset(len) && len <= MAX_EXACT - off;
}

int32_t cache_feed(int32_t h, const uint8_t *op, const double *off, const double *len,
                   const uint8_t *mask, uint32_t n) {
  sim *s = get(h);
  if (!s) return -EBADF;
  const cache_ops *ops = s->ops;
  for (uint32_t i = 0; i < n; i++) {
    if ((i % CANCEL_SPAN) == 0 && cancelled(&s->cancel)) return -ECANCELED;
    if (op[i] > 4 || !valid_extent(off[i], len[i])) {
      s->c[CACHE_ERR_KIND] = op[i] > 4 ? CACHE_ERR_BAD_OP : CACHE_ERR_BAD_OFFSET;
      s->c[CACHE_ERR_RECORD] = s->c[CACHE_RECORDS] + 1;
      return -EINVAL;
    }
    if (i + PREFETCH_SLOT < n && valid_offset(off[i + PREFETCH_SLOT])) {
      ops->prefetch(s->pol, block_of(s, (uint64_t)off[i + PREFETCH_SLOT]), 0);
    }
    if (i + PREFETCH_NODE < n && valid_offset(off[i + PREFETCH_NODE])) {
      ops->prefetch(s->pol, block_of(s, (uint64_t)off[i + PREFETCH_NODE]), 1);
    }
    s->c[CACHE_RECORDS]++;
    int st = step(s, op[i], (uint64_t)off[i], (uint64_t)len[i], mask ? mask[i] != 0 : 1);
    if (st < 0) { /* -ENOMEM: a policy table could not grow */
      s->c[CACHE_ERR_KIND] = CACHE_ERR_NO_MEMORY;
      s->c[CACHE_ERR_RECORD] = s->c[CACHE_RECORDS];
      return st;
    }
    if (st) return -ECANCELED;
  }
  return 0;
}

static void fill_result(const sim *s, uint64_t *out) {
  memcpy(out, s->c, sizeof s->c);
  out[CACHE_USED] = s->ops->used(s->pol);
  out[CACHE_MEM_BYTES] = s->ops->bytes(s->pol);
  out[CACHE_CAPACITY] = s->cap;
}

int32_t cache_result(int32_t h, uint64_t *out) {
  sim *s = get(h);
  if (!s) return -EBADF;
  fill_result(s, out);
  return 0;
}

#define HEADER_SIZE 16
#define RECORD_SIZE 24
#define OP_DEV 255

static int32_t reject(sim *s, uint64_t kind, uint64_t record, uint64_t value) {
  s->c[CACHE_ERR_KIND] = kind;
  s->c[CACHE_ERR_RECORD] = record;
  s->c[CACHE_ERR_VALUE] = value;
  return -EBADMSG;
}

/* The block of a record ahead, for a prefetch hint (NO_HINT for a device-name slot or a bad
 * record). */
#define NO_HINT UINT64_MAX
HOT uint64_t hint_block(int shift, uint64_t bs, const uint8_t *r) {
  double off;
  memcpy(&off, r + 8, 8);
  if (r[20] > 4 || !(off >= 0 && off < MAX_EXACT)) return NO_HINT;
  return block_at(shift, bs, (uint64_t)(int64_t)off);
}
/* Blocks decoded at stage 0, kept until their stage 1, by slot number. */
#define HINT_RING 16
_Static_assert(PREFETCH_SLOT - PREFETCH_NODE < HINT_RING && (HINT_RING & (HINT_RING - 1)) == 0,
               "HINT_RING: a power of two above the distance between the stages");

/* One request of a mapped trace's loop, counted in c: 0 to go on, -ECANCELED when cancel is set
 * (looked at every CANCEL_SPAN records), or -ENOMEM when a policy table could not grow (the
 * record named in c). */
HOT int32_t replay_request(uint64_t *c, int shift, uint64_t bs, void *pol, access_fn access,
                           remove_fn remove, unsigned op, uint64_t off, uint64_t len, int adm,
                           const atomic_int *cancel) {
  if ((c[CACHE_RECORDS] % CANCEL_SPAN) == 0 && cancelled(cancel)) return -ECANCELED;
  c[CACHE_RECORDS]++;
  int st = step_with(c, shift, bs, pol, access, remove, op, off, len, adm, cancel);
  if (st < 0) {
    c[CACHE_ERR_KIND] = CACHE_ERR_NO_MEMORY;
    c[CACHE_ERR_RECORD] = c[CACHE_RECORDS];
    return st;
  }
  return st ? -ECANCELED : 0;
}

/* The record loop over `slots` records, with the policy's calls given: counters kept in a local
 * copy (the policy's stores cannot alias them) and stored back at the end. */
HOT int32_t run_loop(sim *s, const uint8_t *recs, uint64_t slots, access_fn access,
                     remove_fn remove, prefetch_fn prefetch) {
  uint64_t c[CACHE_OUT_WORDS];
  memcpy(c, s->c, sizeof c);
  void *pol = s->pol;
  const int shift = s->bs_shift;
  const uint64_t bs = s->bs;
  int32_t rc = 0;
  uint64_t ring[HINT_RING];
  for (int j = 0; j < HINT_RING; j++) ring[j] = NO_HINT;
  for (uint64_t i = 0; i < slots; i++) {
    const uint8_t *r = recs + i * RECORD_SIZE;
    uint8_t op = r[20];
    uint32_t len;
    memcpy(&len, r + 16, 4);
    if (op == OP_DEV) {
      uint64_t extra = (len + RECORD_SIZE - 1) / RECORD_SIZE;
      if (i + 1 + extra > slots) {
        memcpy(s->c, c, sizeof c);
        return reject(s, CACHE_ERR_TRUNCATED, i + 1, 0);
      }
      i += extra;
      continue;
    }
    if (op > OP_ZERO) {
      memcpy(s->c, c, sizeof c);
      return reject(s, CACHE_ERR_BAD_OP, i + 1, op);
    }
    double offd;
    memcpy(&offd, r + 8, 8);
    if (!valid_extent(offd, len)) {
      memcpy(s->c, c, sizeof c);
      return reject(s, CACHE_ERR_BAD_OFFSET, i + 1, 0);
    }
    /* Stage 0 decodes the record PREFETCH_SLOT ahead and keeps its block for stage 1. */
    if (i + PREFETCH_SLOT < slots) {
      uint64_t b = hint_block(shift, bs, r + PREFETCH_SLOT * RECORD_SIZE);
      ring[(i + PREFETCH_SLOT) & (HINT_RING - 1)] = b;
      if (b != NO_HINT) prefetch(pol, b, 0);
    }
    if (i + PREFETCH_NODE < slots) {
      uint64_t b = ring[(i + PREFETCH_NODE) & (HINT_RING - 1)];
      if (b != NO_HINT) prefetch(pol, b, 1);
    }
    int adm = op == OP_FLUSH || op == OP_TRIM || admitted_record(s, r, offd, len);
    rc = replay_request(c, shift, bs, pol, access, remove, op, (uint64_t)(int64_t)offd, len, adm,
                        &s->cancel);
    if (rc) break;
  }
  memcpy(s->c, c, sizeof c);
  return rc;
}

static int32_t loop_generic(sim *s, const uint8_t *recs, uint64_t slots) {
  return run_loop(s, recs, slots, s->ops->access, s->ops->remove, s->ops->prefetch);
}

/* LRU's loop: its access, remove and prefetch inlined (no call per block or record). */
HOT int lru_access_inline(void *pol, uint64_t key, int is_write) {
  (void)is_write;
  return cache_lru_access(pol, key);
}
static void lru_remove_inline(void *pol, uint64_t key) { cache_lru_remove(pol, key); }
HOT void lru_prefetch_inline(void *pol, uint64_t key, int stage) {
  cache_lru_prefetch(pol, key, stage);
}
static int32_t loop_lru(sim *s, const uint8_t *recs, uint64_t slots) {
  return run_loop(s, recs, slots, lru_access_inline, lru_remove_inline, lru_prefetch_inline);
}

/* Specialised record loops by policy, chosen once per run; any other policy takes the generic
 * loop (the same code, calling through its ops table). */
static const struct {
  const cache_ops *ops;
  int32_t (*loop)(sim *s, const uint8_t *recs, uint64_t slots);
} LOOPS[] = {{&cache_lru_ops, loop_lru}};

/* Replays the records of a mapped binary trace (lib/trace/binary.ts's layout). */
static int32_t run_records(sim *s, const uint8_t *base, uint64_t size) {
  if (size == 0) return 0;
  if (size < HEADER_SIZE) return reject(s, CACHE_ERR_HEADER_TRUNCATED, 0, 0);
  if (memcmp(base, "HVKTRC01", 8) != 0) return reject(s, CACHE_ERR_NOT_BINARY, 0, 0);
  uint32_t rs;
  memcpy(&rs, base + 8, 4);
  if (rs != RECORD_SIZE) return reject(s, CACHE_ERR_RECORD_SIZE, 0, rs);
  uint64_t slots = (size - HEADER_SIZE) / RECORD_SIZE;
  int32_t (*loop)(sim *, const uint8_t *, uint64_t) = loop_generic;
  for (size_t i = 0; i < sizeof LOOPS / sizeof LOOPS[0]; i++) {
    if (LOOPS[i].ops == s->ops) loop = LOOPS[i].loop;
  }
  int32_t rc = loop(s, base + HEADER_SIZE, slots);
  if (rc < 0) return rc; /* -EBADMSG, -ECANCELED or -ENOMEM */
  if ((size - HEADER_SIZE) % RECORD_SIZE != 0) {
    return reject(s, CACHE_ERR_TRUNCATED, slots + 1, 0);
  }
  return 0;
}

/* libCacheSim's oracleGeneral (lib/trace/oracle_general.ts): no header, 24-byte records
 * `u32 time, u64 obj_id, u32 obj_size, i64 next_access_vtime`, each a read of obj_size bytes at
 * obj_id * obj_size. Refused as the TS reader refuses: an obj_id at or past 2^53, or a request
 * whose end passes 2^53 (the product is exact here: 128 bits), or a partial record at the end. */
#define ORACLE_RECORD_SIZE 24

static inline uint64_t oracle_id(const uint8_t *r) {
  uint64_t id;
  memcpy(&id, r + 4, 8);
  return id;
}
static inline uint32_t oracle_size(const uint8_t *r) {
  uint32_t n;
  memcpy(&n, r + 12, 4);
  return n;
}
/* The record's byte offset, or UINT64_MAX when the request does not end at or below 2^53. */
static inline uint64_t oracle_offset(const uint8_t *r) {
  const uint64_t max = 1ull << 53;
  uint64_t id = oracle_id(r), size = oracle_size(r);
  if (id >= max) return UINT64_MAX;
  unsigned __int128 off = (unsigned __int128)id * size;
  if (off >= max || size > max - (uint64_t)off) return UINT64_MAX;
  return (uint64_t)off;
}

HOT int32_t run_oracle_loop(sim *s, const uint8_t *recs, uint64_t slots, access_fn access,
                            remove_fn remove, prefetch_fn prefetch) {
  uint64_t c[CACHE_OUT_WORDS];
  memcpy(c, s->c, sizeof c);
  void *pol = s->pol;
  const int shift = s->bs_shift;
  const uint64_t bs = s->bs;
  int32_t rc = 0;
  for (uint64_t i = 0; i < slots; i++) {
    const uint8_t *r = recs + i * ORACLE_RECORD_SIZE;
    uint64_t off = oracle_offset(r);
    if (off == UINT64_MAX) {
      memcpy(s->c, c, sizeof c);
      return reject(s, CACHE_ERR_ORACLE_EXTENT, i + 1, oracle_id(r));
    }
    if (i + PREFETCH_SLOT < slots) {
      uint64_t o = oracle_offset(r + PREFETCH_SLOT * ORACLE_RECORD_SIZE);
      if (o != UINT64_MAX) prefetch(pol, block_at(shift, bs, o), 0);
    }
    if (i + PREFETCH_NODE < slots) {
      uint64_t o = oracle_offset(r + PREFETCH_NODE * ORACLE_RECORD_SIZE);
      if (o != UINT64_MAX) prefetch(pol, block_at(shift, bs, o), 1);
    }
    rc = replay_request(c, shift, bs, pol, access, remove, OP_READ, off, oracle_size(r), 1,
                        &s->cancel);
    if (rc) break;
  }
  memcpy(s->c, c, sizeof c);
  return rc;
}

static int32_t run_oracle(sim *s, const uint8_t *base, uint64_t size) {
  uint64_t slots = size / ORACLE_RECORD_SIZE;
  int32_t rc = s->ops == &cache_lru_ops
                   ? run_oracle_loop(s, base, slots, lru_access_inline, lru_remove_inline,
                                     lru_prefetch_inline)
                   : run_oracle_loop(s, base, slots, s->ops->access, s->ops->remove,
                                     s->ops->prefetch);
  if (rc < 0) return rc; /* -EBADMSG, -ECANCELED or -ENOMEM */
  if (size % ORACLE_RECORD_SIZE != 0) return reject(s, CACHE_ERR_ORACLE_TRUNCATED, slots + 1, 0);
  return 0;
}

int32_t cache_run_file(int32_t h, const char *path, uint64_t *out) {
  return cache_run_file_as(h, path, CACHE_FILE_BINARY, out);
}

/* Replays a whole trace file, mmapped: hvkit's binary form or libCacheSim's oracleGeneral
 * (format). PDC's exact admission applies to the binary form only (-EINVAL otherwise). */
int32_t cache_run_file_as(int32_t h, const char *path, uint32_t format, uint64_t *out) {
  sim *s = get(h);
  if (!s) return -EBADF;
  if (format > CACHE_FILE_ORACLE || (format == CACHE_FILE_ORACLE && s->admission)) return -EINVAL;
  int fd;
  uint64_t size;
  int32_t rc = hv_open_regular(path, O_RDONLY, &fd, &size);
  if (rc < 0) return rc == -EISDIR ? -EINVAL : rc;
  if (size > 0) {
    void *m = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
      rc = -errno;
    } else {
      madvise(m, (size_t)size, MADV_SEQUENTIAL);
      struct timespec a, b;
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
      rc = format == CACHE_FILE_ORACLE ? run_oracle(s, m, size)
                                       : run_records(s, m, size);
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
      s->c[CACHE_CPU_NS] += (uint64_t)((b.tv_sec - a.tv_sec) * 1000000000ll + (b.tv_nsec - a.tv_nsec));
      munmap(m, (size_t)size);
    }
  }
  close(fd);
  fill_result(s, out);
  return rc;
}
