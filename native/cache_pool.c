/* cache: the node pool, its index and the frequency heap shared by the policy twins. */
#include <errno.h>
#include <sys/mman.h>

#include "cache.h"

#define HUGE_PAGE (2u << 20)

/* Allocates `size` bytes (zeroed when asked). Large arrays are 2 MiB aligned and marked for
 * transparent huge pages: the policies touch them at random, and with 4 KiB pages nearly every
 * access would also miss the TLB. Free with free(). */
static void *big_alloc(size_t size, int zero) {
  if (size < HUGE_PAGE) return zero ? calloc(1, size ? size : 1) : malloc(size ? size : 1);
  size_t rounded = (size + HUGE_PAGE - 1) & ~(size_t)(HUGE_PAGE - 1);
  void *m = aligned_alloc(HUGE_PAGE, rounded);
  if (!m) return NULL;
  madvise(m, rounded, MADV_HUGEPAGE);
  if (zero) memset(m, 0, rounded);
  return m;
}

#define CPOOL_MAX_SLOTS (1u << 29)

int cpool_init(cpool *p, uint64_t n, int32_t lists) {
  memset(p, 0, sizeof *p);
  if (n + (uint64_t)lists > CPOOL_MAX_SLOTS) return -E2BIG;
  uint64_t total = n + (uint64_t)lists;
  uint64_t want = n > 0 ? n : 1;
  /* At most 2/3 full: 8-byte entries, 12..24 bytes per node; probes stay in one line. */
  uint32_t bits = 4;
  while ((1ull << bits) * 2 < want * 3) bits++;
  p->n = (int32_t)n;
  p->lists = lists;
  p->mask = (uint32_t)((1ull << bits) - 1);
  p->fpshift = 32 - bits;
  p->nodes = big_alloc((total + 1) * sizeof *p->nodes, 0);
  p->table = big_alloc((1ull << bits) * sizeof *p->table, 1);
  if (!p->nodes || !p->table) {
    cpool_fini(p);
    return -ENOMEM;
  }
  for (uint64_t i = 0; i < n; i++) {
    p->nodes[i].ka = CACHE_NOKEY;
    p->nodes[i].prev = -1;
    p->nodes[i].next = i + 1 < n ? (int32_t)(i + 1) : -1;
  }
  p->free = n > 0 ? 0 : -1;
  for (uint64_t s = n; s < total; s++) {
    p->nodes[s].ka = CACHE_NOKEY;
    p->nodes[s].next = (int32_t)s;
    p->nodes[s].prev = (int32_t)s;
  }
  p->bytes = total * sizeof *p->nodes + (1ull << bits) * sizeof *p->table;
  return 0;
}

void cpool_fini(cpool *p) {
  free(p->nodes);
  free(p->table);
  memset(p, 0, sizeof *p);
}

int cheap_init(cheap *h, uint64_t n) {
  memset(h, 0, sizeof *h);
  if (n > CPOOL_MAX_SLOTS) return -E2BIG;
  h->n = (int32_t)n;
  h->freq = big_alloc((n + 1) * sizeof *h->freq, 1);
  h->seq = big_alloc((n + 1) * sizeof *h->seq, 1);
  h->heap = big_alloc((n + 1) * sizeof *h->heap, 1);
  h->pos = big_alloc((n + 1) * sizeof *h->pos, 0);
  if (!h->freq || !h->seq || !h->heap || !h->pos) {
    cheap_fini(h);
    return -ENOMEM;
  }
  for (uint64_t i = 0; i < n; i++) h->pos[i] = -1;
  h->bytes = n * (2 * sizeof(uint64_t) + 2 * sizeof(int32_t));
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
