/* cache: ARC in block units, the twin of lib/cache/arc.ts (the paper's algorithm as libCacheSim
 * runs it with unit-size objects; the target p is a double adapted by max(|B2|/|B1|, 1) and
 * max(|B1|/|B2|, 1), the same IEEE arithmetic as the TS twin). */
#include "cache.h"

enum { T1 = 1, T2 = 2, B1 = 3, B2 = 4 };

typedef struct {
  cpool p;
  uint64_t cap, used;
  int64_t n[5];
  int32_t lists[5];
  double target;
} arc_t;

static void *arc_create(uint64_t cap) {
  arc_t *a = calloc(1, sizeof *a);
  if (!a) return NULL;
  if (cpool_init(&a->p, 2 * cap + 1, 4) < 0) {
    free(a);
    return NULL;
  }
  a->cap = cap;
  a->lists[0] = -1;
  for (int i = 1; i <= 4; i++) a->lists[i] = cpool_list(&a->p, i - 1);
  return a;
}

static void arc_destroy(void *self) {
  arc_t *a = self;
  cpool_fini(&a->p);
  free(a);
}

static inline void arc_move(arc_t *a, int32_t s, int to) {
  cpool *p = &a->p;
  a->n[cpool_tag(p, s)]--;
  cpool_unlink(p, s);
  cpool_set_tag(p, s, (uint8_t)to);
  cpool_push_tail(p, a->lists[to], s);
  a->n[to]++;
}

static inline void arc_drop_lru(arc_t *a, int tag) {
  cpool *p = &a->p;
  int32_t v = p->nodes[a->lists[tag]].next;
  cpool_unlink(p, v);
  cpool_release(p, v);
  a->n[tag]--;
  cpool_prefetch_victim(p, cpool_next(p, a->lists[tag]));
}

static void arc_replace(arc_t *a, int in_b2) {
  int64_t *n = a->n;
  int from, to;
  if (n[T1] > 0 && ((double)n[T1] > a->target || (in_b2 && (double)n[T1] == a->target))) {
    from = T1, to = B1;
  } else if (n[T2] > 0) {
    from = T2, to = B2;
  } else {
    from = T1, to = B1;
  }
  arc_move(a, a->p.nodes[a->lists[from]].next, to);
  a->used--;
  cpool_prefetch_victim(&a->p, cpool_next(&a->p, a->lists[from]));
}

static int arc_access(void *self, uint64_t key, int is_write) {
  (void)is_write;
  arc_t *a = self;
  cpool *p = &a->p;
  int64_t *n = a->n;
  uint64_t c = a->cap;
  int32_t s = cpool_get(p, key);
  if (s >= 0) {
    int tag = cpool_tag(p, s);
    if (tag == T1 || tag == T2) {
      arc_move(a, s, T2);
      return 1;
    }
    if (tag == B1) {
      double d = (double)n[B2] / (double)n[B1];
      double t = a->target + (d > 1 ? d : 1);
      a->target = (double)c < t ? (double)c : t;
      if (a->used >= c) arc_replace(a, 0);
    } else {
      double d = (double)n[B1] / (double)n[B2];
      double t = a->target - (d > 1 ? d : 1);
      a->target = t > 0 ? t : 0;
      if (a->used >= c) arc_replace(a, 1);
    }
    arc_move(a, s, T2);
    a->used++;
    return 0;
  }
  if (c == 0) return 0;
  int32_t ns = cpool_alloc(p, key); /* before the evictions: see cpool_alloc_h */
  if (ns < 0) return -ENOMEM;
  int64_t l1 = n[T1] + n[B1];
  if ((uint64_t)l1 == c) {
    if ((uint64_t)n[T1] < c) {
      arc_drop_lru(a, B1);
      if (a->used >= c) arc_replace(a, 0);
    } else {
      int32_t v = p->nodes[a->lists[T1]].next;
      cpool_unlink(p, v);
      cpool_release(p, v);
      n[T1]--;
      a->used--;
    }
  } else {
    uint64_t total = (uint64_t)(l1 + n[T2] + n[B2]);
    if (total >= c) {
      if (total == 2 * c) arc_drop_lru(a, B2);
      if (a->used == c) arc_replace(a, 0);
    }
  }
  cpool_set_tag(p, ns, T1);
  cpool_push_tail(p, a->lists[T1], ns);
  n[T1]++;
  a->used++;
  return 0;
}

static int arc_has(void *self, uint64_t key) {
  arc_t *a = self;
  int32_t s = cpool_get(&a->p, key);
  return s >= 0 && cpool_tag(&a->p, s) <= T2;
}

static void arc_remove(void *self, uint64_t key) {
  arc_t *a = self;
  cpool *p = &a->p;
  int32_t s = cpool_get(p, key);
  if (s < 0) return;
  int tag = cpool_tag(p, s);
  cpool_unlink(p, s);
  cpool_release(p, s);
  a->n[tag]--;
  if (tag <= T2) a->used--;
}

static void arc_prefetch(void *self, uint64_t key, int stage) { cpool_prefetch(&((arc_t *)self)->p, key, stage); }
static uint64_t arc_used(void *self) { return ((arc_t *)self)->used; }
static uint64_t arc_bytes(void *self) { return ((arc_t *)self)->p.bytes + sizeof(arc_t); }

const cache_ops cache_arc_ops = {
    "arc", arc_create, arc_destroy, arc_access, arc_has, arc_remove, arc_prefetch, arc_used,
    arc_bytes, NULL /* no parameters */,
};
