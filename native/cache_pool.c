/* cache: the node table, the keyed pool and the frequency heap shared by the policy twins. */
#include <errno.h>
#include <stdatomic.h>
#include <sys/mman.h>

#include "cache.h"

#define HUGE_PAGE (2u << 20)

/* Allocates `size` bytes (zeroed when asked), 64-byte aligned (a bucket is one cache line).
 * Large arrays are 2 MiB aligned and marked for transparent huge pages: the policies touch them
 * at random, and with 4 KiB pages nearly every access would also miss the TLB. Free with free(). */
/* cache_test_fail_grow's switch (-1: not yet read from the environment) and the thread's "this
 * allocation grows a table" flag. */
static atomic_int fail_grow = -1;
static _Thread_local int growing;

int32_t cache_test_fail_grow(int32_t on) {
  atomic_store(&fail_grow, on != 0);
  return 0;
}

static int grow_fails(void) {
  int f = atomic_load(&fail_grow);
  if (f < 0) {
    const char *e = getenv("HVKIT_TEST_CACHE_GROW_FAIL");
    f = e != NULL && strcmp(e, "1") == 0;
    atomic_store(&fail_grow, f);
  }
  return f;
}

static void *big_alloc(size_t size, int zero) {
  if (growing && grow_fails()) return NULL;
  size_t align = size < HUGE_PAGE ? 64 : HUGE_PAGE;
  size_t rounded = (size + align - 1) & ~(align - 1);
  if (rounded == 0) rounded = align;
  void *m = aligned_alloc(align, rounded);
  if (!m) return NULL;
  if (align == HUGE_PAGE) madvise(m, rounded, MADV_HUGEPAGE);
  if (zero) memset(m, 0, rounded);
  return m;
}

#define CPOOL_MAX_SLOTS (1u << 29)
/* Moves tried along one path before the table grows. */
#define CPOOL_MAX_PATH 64

/* Buckets for `n` keys at most CPOOL_LOAD full (at least 2). */
static uint64_t cpool_buckets_for(uint64_t n) {
  uint64_t nb = (uint64_t)((double)n / (CPOOL_WAYS * CPOOL_LOAD)) + 1;
  return nb < 2 ? 2 : nb;
}

static int cpool_init_buckets(cpool *p, uint64_t n, int32_t lists, uint64_t nb) {
  memset(p, 0, sizeof *p);
  if (lists > CPOOL_MAX_LISTS || n > CPOOL_MAX_SLOTS || nb * CPOOL_WAYS > CPOOL_MAX_SLOTS) {
    return -E2BIG;
  }
  uint64_t slots = (nb + 1) * CPOOL_WAYS, words = (nb + 63) / 64;
  p->nb = (uint32_t)nb;
  p->lists = lists;
  p->n = n;
  p->rng = 0x2545F4914F6CDD1Dull;
  p->nodes = big_alloc(slots * sizeof *p->nodes, 0);
  p->room = big_alloc(words * sizeof *p->room, 0);
  if (!p->nodes || !p->room) {
    cpool_fini(p);
    return -ENOMEM;
  }
  for (uint64_t s = 0; s < slots; s++) {
    p->nodes[s].ka = CACHE_NOKEY;
    p->nodes[s].prev = p->nodes[s].next = s < CPOOL_WAYS ? (int32_t)s : -1;
  }
  for (uint64_t w = 0; w < words; w++) p->room[w] = ~0ull;
  p->bytes = slots * sizeof *p->nodes + words * sizeof *p->room;
  return 0;
}

int cpool_init(cpool *p, uint64_t n, int32_t lists) {
  if (n > CPOOL_MAX_SLOTS) return -E2BIG;
  return cpool_init_buckets(p, n, lists, cpool_buckets_for(n));
}

void cpool_fini(cpool *p) {
  free(p->nodes);
  free(p->room);
  p->nodes = NULL;
  p->room = NULL;
}

static uint32_t cpool_rand(cpool *p) {
  p->rng ^= p->rng << 13;
  p->rng ^= p->rng >> 7;
  p->rng ^= p->rng << 17;
  return (uint32_t)(p->rng >> 32);
}

/* Moves the node in slot `from` to the empty slot `to`; `relink` fixes its neighbours' links
 * (off while rebuilding, when the links still name the old table). */
static void cpool_move(cpool *p, int32_t from, int32_t to, int relink) {
  cnode *nd = p->nodes;
  nd[to] = nd[from];
  nd[from].ka = CACHE_NOKEY;
  if (relink) {
    nd[nd[to].prev].next = to;
    nd[nd[to].next].prev = to;
    if (p->watch && *p->watch == from) *p->watch = to;
  }
  p->moves++;
}

static void cpool_update_room(cpool *p, uint32_t b) {
  int32_t at;
  cpool_set_room(p, b, cpool_empties(p->nodes, b, &at) > 0);
}

static int in_path(const int32_t *path, int len, int32_t s) {
  for (int i = 0; i < len; i++) {
    if (path[i] == s) return 1;
  }
  return 0;
}

/* A path of moves that frees a slot in bucket b1 or b2 (both full): the kick pick's resident
 * when there is one (one move), else a random walk that takes a resident whose other bucket has
 * room as soon as there is one. Returns the freed slot, or -1. */
static int32_t cpool_path(cpool *p, uint32_t b1, uint32_t b2, int relink) {
  int32_t path[CPOOL_MAX_PATH];
  int len = 0;
  uint32_t dest = 0;
  int32_t first = cpool_kick_pick(p, b1, b2, &dest);
  int found = first >= 0;
  if (found) path[len++] = first;
  uint32_t cur = cpool_rand(p) & 1 ? b2 : b1;
  while (!found && len < CPOOL_MAX_PATH) {
    uint32_t start = cpool_rand(p);
    int32_t pick = -1;
    for (int pass = 0; pass < 2 && pick < 0; pass++) {
      for (int i = 0; i < CPOOL_WAYS; i++) {
        int32_t s = cpool_first(cur) + (int32_t)((start + (uint32_t)i) % CPOOL_WAYS);
        if (in_path(path, len, s) || p->nodes[s].ka == CACHE_NOKEY) continue; /* (none: full) */
        uint32_t alt = cpool_alt(p, s);
        if (alt == cur || (pass == 0 && !cpool_has_room(p, alt))) continue;
        pick = s;
        dest = alt;
        found = pass == 0;
        break;
      }
    }
    if (pick < 0) return -1;
    path[len++] = pick;
    cur = dest;
  }
  if (!found) return -1;
  int32_t to;
  cpool_empties(p->nodes, dest, &to);
  for (int i = len - 1; i >= 0; i--) {
    cpool_move(p, path[i], to, relink);
    cpool_update_room(p, cpool_bucket_of(to));
    to = path[i];
  }
  /* Now empty, and its bucket's bit says so (the caller fills it and updates the bit again): a
   * bucket with an empty slot marked full would let a later path "move" the empty slot's stale
   * links into the lists. */
  cpool_set_room(p, cpool_bucket_of(to), 1);
  return to;
}

/* Places the node `nd` (a copy; links kept as they are) in a fresh table: -1 when no path. */
static int cpool_place_raw(cpool *p, cnode nd) {
  uint64_t key = nd.ka & CACHE_KEY_MASK;
  uint64_t h = cache_hash(key);
  uint32_t b1 = cpool_b1(p, h), b2 = cpool_b2(p, h);
  int32_t s1, s2;
  int k1 = cpool_empties(p->nodes, b1, &s1), k2 = cpool_empties(p->nodes, b2, &s2);
  int32_t s = k1 == 0 && k2 == 0 ? cpool_path(p, b1, b2, 0) : k1 >= k2 ? s1 : s2;
  if (s < 0) return -1;
  p->nodes[s] = nd;
  cpool_update_room(p, cpool_bucket_of(s));
  return 0;
}

/* Rebuilds the table with a quarter more buckets (more until every node finds a place); the
 * lists keep their order, the watched slot follows its node. */
static int cpool_grow(cpool *p) {
  uint64_t nb = p->nb;
  uint64_t old_slots = ((uint64_t)p->nb + 1) * CPOOL_WAYS;
  for (;;) {
    nb += nb / 4 + 1;
    cpool q;
    growing = 1;
    int rc = cpool_init_buckets(&q, p->n, p->lists, nb);
    growing = 0;
    if (rc < 0) return rc; /* p untouched */
    q.rng = p->rng;
    int ok = 1;
    for (uint64_t s = CPOOL_WAYS; s < old_slots && ok; s++) {
      if (p->nodes[s].ka == CACHE_NOKEY) continue;
      cnode c = p->nodes[s];
      c.prev = (int32_t)s; /* the old slot, until relinking */
      ok = cpool_place_raw(&q, c) == 0;
    }
    if (!ok) {
      cpool_fini(&q);
      continue;
    }
    int32_t *map = malloc(old_slots * sizeof *map);
    if (!map) {
      cpool_fini(&q);
      return -ENOMEM;
    }
    for (int32_t s = 0; s < CPOOL_WAYS; s++) map[s] = s;
    uint64_t new_slots = (nb + 1) * CPOOL_WAYS;
    for (uint64_t s = CPOOL_WAYS; s < new_slots; s++) {
      if (q.nodes[s].ka != CACHE_NOKEY) map[q.nodes[s].prev] = (int32_t)s;
    }
    for (uint64_t s = 0; s < new_slots; s++) {
      if (s >= CPOOL_WAYS && q.nodes[s].ka == CACHE_NOKEY) continue;
      int32_t old = s < CPOOL_WAYS ? (int32_t)s : q.nodes[s].prev;
      int32_t pv = p->nodes[old].prev, nx = p->nodes[old].next;
      q.nodes[s].prev = pv >= 0 ? map[pv] : -1;
      q.nodes[s].next = nx >= 0 ? map[nx] : -1;
    }
    if (p->watch && *p->watch >= 0) *p->watch = map[*p->watch];
    free(map);
    q.watch = p->watch;
    q.moves = p->moves;
    q.grows = p->grows + 1;
    cpool_fini(p);
    *p = q;
    return 0;
  }
}

int32_t cpool_make_room(cpool *p, uint64_t key) {
  for (;;) {
    uint64_t h = cache_hash(key);
    uint32_t b1 = cpool_b1(p, h), b2 = cpool_b2(p, h);
    int32_t s1, s2;
    if (cpool_empties(p->nodes, b1, &s1) > 0) return s1; /* after a rebuild */
    if (cpool_empties(p->nodes, b2, &s2) > 0) return s2;
    int32_t s = cpool_path(p, b1, b2, 1);
    if (s >= 0) return s;
    if (cpool_grow(p) < 0) return -ENOMEM; /* p as it was */
  }
}

#define KPOOL_MAX_SLOTS (1u << 29)

int kpool_init(kpool *p, uint64_t n) {
  memset(p, 0, sizeof *p);
  if (n > KPOOL_MAX_SLOTS) return -E2BIG;
  uint64_t want = n > 0 ? n : 1;
  /* At most 2/3 full: 8-byte entries, 12..24 bytes per slot; probes stay in one line. */
  uint32_t bits = 4;
  while ((1ull << bits) * 2 < want * 3) bits++;
  p->n = (int32_t)n;
  p->mask = (uint32_t)((1ull << bits) - 1);
  p->fpshift = 32 - bits;
  p->keys = big_alloc(want * sizeof *p->keys, 0);
  p->table = big_alloc((1ull << bits) * sizeof *p->table, 1);
  if (!p->keys || !p->table) {
    kpool_fini(p);
    return -ENOMEM;
  }
  for (uint64_t i = 0; i < n; i++) p->keys[i] = KPOOL_FREE | (i + 1 < n ? i + 2 : 0);
  p->free = n > 0 ? 0 : -1;
  p->bytes = n * sizeof *p->keys + (1ull << bits) * sizeof *p->table;
  return 0;
}

void kpool_fini(kpool *p) {
  free(p->keys);
  free(p->table);
  memset(p, 0, sizeof *p);
}

int cheap_init(cheap *h, uint64_t n, uint64_t most) {
  memset(h, 0, sizeof *h);
  if (n > CPOOL_MAX_SLOTS || most > n) return -E2BIG;
  h->n = (int32_t)n;
  h->freq = big_alloc((n + 1) * sizeof *h->freq, 1);
  h->seq = big_alloc((n + 1) * sizeof *h->seq, 1);
  h->heap = big_alloc((most + 1) * sizeof *h->heap, 1);
  h->pos = big_alloc((n + 1) * sizeof *h->pos, 0);
  if (!h->freq || !h->seq || !h->heap || !h->pos) {
    cheap_fini(h);
    return -ENOMEM;
  }
  for (uint64_t i = 0; i < n; i++) h->pos[i] = -1;
  h->bytes = n * (2 * sizeof(uint64_t) + sizeof(int32_t)) + most * sizeof(int32_t);
  return 0;
}

void cheap_fini(cheap *h) {
  free(h->freq);
  free(h->seq);
  free(h->heap);
  free(h->pos);
  memset(h, 0, sizeof *h);
}

static inline int cheap_less(const cheap *h, int32_t a, int32_t b) {
  uint64_t fa = h->freq[a], fb = h->freq[b];
  return fa < fb || (fa == fb && h->seq[a] < h->seq[b]);
}

void cheap_up(cheap *h, int32_t i) {
  int32_t *heap = h->heap, *pos = h->pos;
  int32_t s = heap[i];
  while (i > 0) {
    int32_t pi = (i - 1) >> 1;
    int32_t ps = heap[pi];
    if (!cheap_less(h, s, ps)) break;
    heap[i] = ps;
    pos[ps] = i;
    i = pi;
  }
  heap[i] = s;
  pos[s] = i;
}

void cheap_down(cheap *h, int32_t i) {
  int32_t *heap = h->heap, *pos = h->pos, n = h->size;
  int32_t s = heap[i];
  for (;;) {
    int32_t c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && cheap_less(h, heap[c + 1], heap[c])) c++;
    if (!cheap_less(h, heap[c], s)) break;
    heap[i] = heap[c];
    pos[heap[i]] = i;
    i = c;
  }
  heap[i] = s;
  pos[s] = i;
}

void cheap_push(cheap *h, int32_t slot) {
  int32_t i = h->size++;
  h->heap[i] = slot;
  h->pos[slot] = i;
  cheap_up(h, i);
}

void cheap_delete(cheap *h, int32_t slot) {
  int32_t i = h->pos[slot];
  if (i < 0) return;
  int32_t last = h->heap[--h->size];
  h->pos[slot] = -1;
  if (i == h->size) return;
  h->heap[i] = last;
  h->pos[last] = i;
  cheap_up(h, i);
  cheap_down(h, h->pos[last]);
}

void cheap_heapify(cheap *h) {
  for (int32_t i = (h->size >> 1) - 1; i >= 0; i--) cheap_down(h, i);
}
