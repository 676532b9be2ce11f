/* cache: the node pool, its index and the frequency heap shared by the policy twins. */
#include <errno.h>

#include "cache.h"

#define CPOOL_MAX_SLOTS (1u << 29)

int cpool_init(cpool *p, uint64_t n, int32_t lists, int flags) {
  memset(p, 0, sizeof *p);
  if (n + (uint64_t)lists > CPOOL_MAX_SLOTS) return -E2BIG;
  uint64_t total = n + (uint64_t)lists;
  uint64_t want = n > 0 ? n : 1;
  uint32_t bits = 4;
  while ((1ull << bits) < want * 2) bits++;
  p->n = (int32_t)n;
  p->lists = lists;
  p->mask = (uint32_t)((1ull << bits) - 1);
  p->shift = 64 - bits;
  p->keys = malloc(total * sizeof *p->keys + 8);
  p->table = calloc(1ull << bits, sizeof *p->table);
  /* The free chain runs through next, so next exists even without links. */
  p->next = malloc(total * sizeof *p->next + 4);
  if ((flags & CPOOL_LINKS)) p->prev = malloc(total * sizeof *p->prev + 4);
  if ((flags & CPOOL_AUX)) p->aux = calloc(total + 1, 1);
  if (!p->keys || !p->table || !p->next || ((flags & CPOOL_LINKS) && !p->prev) ||
      ((flags & CPOOL_AUX) && !p->aux)) {
    cpool_fini(p);
    return -ENOMEM;
  }
  for (uint64_t i = 0; i < total; i++) p->keys[i] = CACHE_NOKEY;
  for (uint64_t i = 0; i < n; i++) p->next[i] = i + 1 < n ? (int32_t)(i + 1) : -1;
  p->free = n > 0 ? 0 : -1;
  for (uint64_t s = n; s < total; s++) {
    p->next[s] = (int32_t)s;
    if (p->prev) p->prev[s] = (int32_t)s;
  }
  p->bytes = total * (sizeof *p->keys + sizeof *p->next) + (1ull << bits) * sizeof *p->table +
             (p->prev ? total * sizeof *p->prev : 0) + (p->aux ? total : 0);
  return 0;
}

void cpool_fini(cpool *p) {
  free(p->keys);
  free(p->table);
  free(p->next);
  free(p->prev);
  free(p->aux);
  memset(p, 0, sizeof *p);
}

int cheap_init(cheap *h, uint64_t n) {
  memset(h, 0, sizeof *h);
  if (n > CPOOL_MAX_SLOTS) return -E2BIG;
  h->n = (int32_t)n;
  h->freq = calloc(n + 1, sizeof *h->freq);
  h->seq = calloc(n + 1, sizeof *h->seq);
  h->heap = calloc(n + 1, sizeof *h->heap);
  h->pos = malloc((n + 1) * sizeof *h->pos);
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
