/* virtav guest memory: read-only mappings of RAM files and dumps, guest-physical address
 * translation through a segment list (paddr, file offset, size triples), x86-64 4- and
 * 5-level page-table walks that list executable pages, and page hashes for rescans.
 *
 * A mapped file may shrink under its mapping (a live RAM file, a dump being rewritten):
 * touching a page past its new end raises SIGBUS. So each access re-checks the file's size
 * (the fd stays open) and answers -ESTALE when its range is gone, and the copies, walks and
 * hashes run under sigbus_guard.c, which turns a SIGBUS in the window after that check into
 * -ESTALE too. A scan in place cannot be abandoned midway (the matcher holds locks): it has
 * the size check only.
 *
 * The handle table is a read-write lock: every use of a mapping holds it shared, so a close
 * (exclusive) never unmaps under a scan or a copy. */
#include "hvkit.h"
#include "virtav.h"
#include "open_regular.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_MAPS 64
#define PTE_P (1ull << 0)
#define PTE_US (1ull << 2)
#define PTE_PS (1ull << 7)
#define PTE_NX (1ull << 63)
#define ADDR_MASK 0x000ffffffffff000ull
#define WALK_BUDGET (1u << 20) /* page tables visited at most per walk */

typedef struct {
  uint8_t *base;
  uint64_t size;
  int fd;
} map_rec;

static map_rec maps[MAX_MAPS];
static pthread_rwlock_t maps_lock = PTHREAD_RWLOCK_INITIALIZER;

int32_t vav_map_open(const char *path, uint64_t *size_out) {
  if (!path) return -EINVAL;
  int fd;
  uint64_t size;
  int rc = hv_open_regular(path, O_RDONLY, &fd, &size);
  if (rc < 0) return rc;
  uint8_t *base = NULL;
  if (size > 0) {
    /* MAP_SHARED and PROT_READ: a live RAM file is seen as the guest changes it, never written. */
    void *m = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
      int e = errno;
      close(fd);
      return -e;
    }
    madvise(m, size, MADV_SEQUENTIAL);
    base = m;
  }
  pthread_rwlock_wrlock(&maps_lock);
  for (int i = 0; i < MAX_MAPS; i++) {
    if (!maps[i].base && !maps[i].size) {
      maps[i].base = base ? base : (uint8_t *)1; /* mark used for empty files */
      maps[i].size = size;
      maps[i].fd = fd; /* kept: the size is re-checked before each access */
      pthread_rwlock_unlock(&maps_lock);
      if (size_out) *size_out = size;
      return i;
    }
  }
  pthread_rwlock_unlock(&maps_lock);
  close(fd);
  if (base) munmap(base, size);
  return -EMFILE;
}

/* The mapping of handle m, with the table held shared until map_put: it cannot be closed
 * meanwhile. */
static int map_get(int32_t m, map_rec *out) {
  if (m < 0 || m >= MAX_MAPS) return -EBADF;
  pthread_rwlock_rdlock(&maps_lock);
  *out = maps[m];
  if (!out->base) {
    pthread_rwlock_unlock(&maps_lock);
    return -EBADF;
  }
  return 0;
}

static void map_put(void) { pthread_rwlock_unlock(&maps_lock); }

/* 0 when the file still reaches file offset `end`, -ESTALE when it shrank below it. */
static int still_whole(const map_rec *r, uint64_t end) {
  struct stat st;
  if (fstat(r->fd, &st) < 0) return -errno;
  return (uint64_t)st.st_size < end ? -ESTALE : 0;
}

int32_t vav_map_close(int32_t m) {
  if (m < 0 || m >= MAX_MAPS) return -EBADF;
  pthread_rwlock_wrlock(&maps_lock);
  map_rec r = maps[m];
  maps[m].base = NULL;
  maps[m].size = 0;
  pthread_rwlock_unlock(&maps_lock);
  if (!r.base) return -EBADF;
  if (r.size) munmap(r.base, r.size);
  close(r.fd);
  return 0;
}

int64_t vav_map_read(int32_t m, uint64_t off, uint8_t *dst, uint64_t len) {
  map_rec r;
  int rc = map_get(m, &r);
  if (rc < 0) return rc;
  int64_t out;
  if (!dst && len) out = -EINVAL;
  else if (off >= r.size) out = 0;
  else {
    if (len > r.size - off) len = r.size - off;
    out = still_whole(&r, off + len);
    if (out == 0) out = hv_guarded_memcpy(dst, r.base + off, len) < 0 ? -ESTALE : (int64_t)len;
  }
  map_put();
  return out;
}

int64_t vav_map_scan(int32_t db, int32_t m, uint64_t off, uint64_t len, uint32_t flags, vav_hit *out,
                     uint32_t cap, uint64_t *stats) {
  struct vav_db *d = vav_db_get(db);
  if (!d) return -EBADF;
  map_rec r;
  int rc = map_get(m, &r);
  if (rc < 0) return rc;
  int64_t res;
  if (off > r.size || len > r.size - off) res = -ERANGE;
  else if (!out && cap) res = -EINVAL;
  else if ((res = still_whole(&r, off + len)) == 0)
    res = vav_scan_db(d, len ? r.base + off : NULL, len, flags, out, cap, stats);
  map_put();
  return res;
}

/* Guest-physical [pa, pa + len) as a pointer into the mapping, or NULL if not all in RAM. */
static const uint8_t *gpa_ptr(const map_rec *r, const uint64_t *segs, uint32_t nsegs, uint64_t pa, uint64_t len) {
  for (uint32_t i = 0; i < nsegs; i++) {
    uint64_t sp = segs[3 * i], so = segs[3 * i + 1], sz = segs[3 * i + 2];
    if (pa >= sp && pa - sp < sz) {
      if (len > sz - (pa - sp)) return NULL;
      uint64_t fo = so + (pa - sp);
      if (fo > r->size || len > r->size - fo) return NULL;
      return r->base + fo;
    }
  }
  return NULL;
}

static __thread uint8_t *scratch;
static __thread uint64_t scratch_cap;

static int64_t scan_chunks(struct vav_db *d, const map_rec *r, const uint64_t *segs, uint32_t nsegs,
                           const uint64_t *chunks, uint32_t nchunks, uint32_t flags, vav_hit *out,
                           uint32_t cap, uint64_t *stats) {
  if (!segs || !chunks || nchunks == 0 || (!out && cap)) return -EINVAL;
  if (nchunks == 1) { /* contiguous: scan in place, no copy */
    const uint8_t *p = gpa_ptr(r, segs, nsegs, chunks[0], chunks[1]);
    if (!p) return -ERANGE;
    int rc = still_whole(r, (uint64_t)(p - r->base) + chunks[1]);
    if (rc < 0) return rc;
    return vav_scan_db(d, p, chunks[1], flags, out, cap, stats);
  }
  uint64_t total = 0;
  for (uint32_t i = 0; i < nchunks; i++) total += chunks[2 * i + 1];
  if (total > scratch_cap) {
    uint8_t *n = realloc(scratch, total);
    if (!n) return -ENOMEM;
    scratch = n;
    scratch_cap = total;
  }
  uint64_t pos = 0;
  for (uint32_t i = 0; i < nchunks; i++) {
    const uint8_t *p = gpa_ptr(r, segs, nsegs, chunks[2 * i], chunks[2 * i + 1]);
    if (!p) return -ERANGE;
    if (hv_guarded_memcpy(scratch + pos, p, chunks[2 * i + 1]) < 0) return -ESTALE;
    pos += chunks[2 * i + 1];
  }
  if (stats) stats[VAV_ST_COPIED] += total;
  return vav_scan_db(d, scratch, total, flags, out, cap, stats);
}

int64_t vav_map_scan_chunks(int32_t db, int32_t m, const uint64_t *segs, uint32_t nsegs, const uint64_t *chunks,
                            uint32_t nchunks, uint32_t flags, vav_hit *out, uint32_t cap, uint64_t *stats) {
  struct vav_db *d = vav_db_get(db);
  if (!d) return -EBADF;
  map_rec r;
  int rc = map_get(m, &r);
  if (rc < 0) return rc;
  int64_t res = scan_chunks(d, &r, segs, nsegs, chunks, nchunks, flags, out, cap, stats);
  map_put();
  return res;
}

static int64_t gather(const map_rec *r, const uint64_t *segs, uint32_t nsegs, const uint64_t *chunks,
                      uint32_t nchunks, uint8_t *dst, uint64_t cap) {
  if (!segs || !chunks || (!dst && cap)) return -EINVAL;
  uint64_t pos = 0;
  for (uint32_t i = 0; i < nchunks; i++) {
    uint64_t len = chunks[2 * i + 1];
    if (len > cap - pos) return -ENOSPC;
    const uint8_t *p = gpa_ptr(r, segs, nsegs, chunks[2 * i], len);
    if (!p) return -ERANGE;
    if (hv_guarded_memcpy(dst + pos, p, len) < 0) return -ESTALE;
    pos += len;
  }
  return (int64_t)pos;
}

/* The address of [off, off + len) in the mapping (for a scanner that reads memory itself, such
 * as libclamav's cl_fmap_open_memory), or NULL when the range is outside the file. Valid until
 * vav_map_close. */
const uint8_t *vav_map_ptr(int32_t m, uint64_t off, uint64_t len) {
  map_rec r;
  if (map_get(m, &r) < 0) return NULL;
  const uint8_t *p = NULL;
  if (r.size != 0 && off <= r.size && len <= r.size - off && still_whole(&r, off + len) == 0)
    p = r.base + off;
  map_put();
  return p;
}

/* Copies guest-physical chunks (pa, len pairs) in order into dst (cap bytes): bytes copied. */
int64_t vav_map_gather(int32_t m, const uint64_t *segs, uint32_t nsegs, const uint64_t *chunks,
                       uint32_t nchunks, uint8_t *dst, uint64_t cap) {
  map_rec r;
  int rc = map_get(m, &r);
  if (rc < 0) return rc;
  int64_t res = gather(&r, segs, nsegs, chunks, nchunks, dst, cap);
  map_put();
  return res;
}

typedef struct {
  const map_rec *r;
  const uint64_t *segs;
  uint32_t nsegs;
  uint32_t flags;
  int levels;
  uint64_t *out;
  uint32_t cap, n;
  uint64_t *stats;
  uint64_t path[6]; /* table addresses on the way down, for loop detection */
} walk_ctx;

static uint64_t canonical(uint64_t va, int levels) {
  int bits = levels == 5 ? 57 : 48;
  uint64_t sign = 1ull << (bits - 1);
  va &= (1ull << bits) - 1;
  return (va ^ sign) - sign;
}

static void emit(walk_ctx *w, uint64_t va, uint64_t pa, uint64_t size) {
  w->stats[VAV_WS_LEAVES]++;
  if (w->n > 0) { /* merge with the previous run when virtually and physically contiguous */
    uint64_t *last = &w->out[3 * (w->n - 1)];
    if (last[0] + last[2] == va && last[1] + last[2] == pa) {
      last[2] += size;
      return;
    }
  }
  if (w->n >= w->cap) {
    w->stats[VAV_WS_TRUNCATED]++;
    return;
  }
  w->out[3 * w->n] = va;
  w->out[3 * w->n + 1] = pa;
  w->out[3 * w->n + 2] = size;
  w->n++;
}

/* Walks the table at `table` for `level` (levels..1); va_base is the VA bits so far; user: U/S
 * set at every level above (a page is a user page only when U/S is set at every level). */
static void walk(walk_ctx *w, uint64_t table, int level, uint64_t va_base, int user) {
  if (w->stats[VAV_WS_TABLES] >= WALK_BUDGET) {
    w->stats[VAV_WS_BUDGET]++;
    return;
  }
  for (int k = w->levels; k > level; k--) {
    if (w->path[k] == table) { /* a table that holds itself on this path: a loop */
      w->stats[VAV_WS_LOOPS]++;
      return;
    }
  }
  const uint8_t *t = gpa_ptr(w->r, w->segs, w->nsegs, table, 4096);
  if (!t) {
    w->stats[VAV_WS_OUTSIDE]++;
    return;
  }
  w->stats[VAV_WS_TABLES]++;
  w->path[level] = table;
  int shift = 12 + 9 * (level - 1);
  for (int i = 0; i < 512; i++) {
    uint64_t e;
    memcpy(&e, t + 8 * i, 8);
    if (!(e & PTE_P)) continue;
    /* NX anywhere on the path makes the page non-executable (when EFER.NXE is set). */
    if ((e & PTE_NX) && !(w->flags & VAV_IGNORE_NX)) continue;
    uint64_t va = va_base | ((uint64_t)i << shift);
    if (level == 1 || ((level == 2 || level == 3) && (e & PTE_PS))) {
      uint64_t size = 1ull << shift;
      uint64_t pa = e & ADDR_MASK & ~(size - 1);
      if (!gpa_ptr(w->r, w->segs, w->nsegs, pa, size)) {
        w->stats[VAV_WS_OUTSIDE]++;
        continue;
      }
      if (!(user && (e & PTE_US))) w->stats[VAV_WS_SUPERVISOR] += size;
      emit(w, canonical(va, w->levels), pa, size);
    } else {
      if (level >= 4 && (e & PTE_PS)) w->stats[VAV_WS_RESERVED_PS]++; /* reserved bit: ignored */
      walk(w, e & ADDR_MASK, level - 1, va, user && (e & PTE_US));
    }
  }
  w->path[level] = ~0ull;
}

struct walk_args {
  walk_ctx *w;
  uint64_t root;
};

static void walk_root(void *a) {
  struct walk_args *wa = a;
  walk(wa->w, wa->root, wa->w->levels, 0, 1);
}

int64_t vav_walk(int32_t m, const uint64_t *segs, uint32_t nsegs, uint64_t cr3, uint32_t flags, uint64_t *out,
                 uint32_t cap, uint64_t *stats) {
  map_rec r;
  int rc = map_get(m, &r);
  if (rc < 0) return rc;
  uint64_t dummy[8] = {0};
  if (!stats) stats = dummy;
  int64_t res;
  uint64_t root = cr3 & ADDR_MASK;
  if (!segs || (!out && cap)) res = -EINVAL;
  else if (!gpa_ptr(&r, segs, nsegs, root, 4096)) res = -ERANGE; /* CR3 outside guest RAM */
  else {
    walk_ctx w = {&r, segs, nsegs, flags, (flags & VAV_LA57) ? 5 : 4, out, cap, 0, stats, {0}};
    for (int i = 0; i < 6; i++) w.path[i] = ~0ull;
    struct walk_args wa = {&w, root};
    /* Page tables live anywhere in the file: a SIGBUS ends the walk as -ESTALE. */
    res = hv_guarded_call(walk_root, &wa) < 0 ? -ESTALE : (int64_t)w.n;
  }
  map_put();
  return res;
}

static inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

/* A fast 64-bit hash of a 4 KiB page (change detection, not security). */
static uint64_t page_hash(const uint8_t *p) {
  uint64_t a = 0x9E3779B97F4A7C15ull, b = 0xC2B2AE3D27D4EB4Full, c = 0x165667B19E3779F9ull,
           d = 0x27D4EB2F165667C5ull;
  for (int i = 0; i < 4096; i += 32) {
    uint64_t x[4];
    memcpy(x, p + i, 32);
    a = rotl(a ^ x[0], 29) * 0xff51afd7ed558ccdull;
    b = rotl(b ^ x[1], 31) * 0xc4ceb9fe1a85ec53ull;
    c = rotl(c ^ x[2], 27) * 0xff51afd7ed558ccdull;
    d = rotl(d ^ x[3], 33) * 0xc4ceb9fe1a85ec53ull;
  }
  uint64_t h = a ^ rotl(b, 17) ^ rotl(c, 31) ^ rotl(d, 47);
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h | 1; /* never 0: 0 means "not in RAM" */
}

struct hash_args {
  const map_rec *r;
  const uint64_t *segs, *pages;
  uint32_t nsegs, n;
  uint64_t *out;
  int64_t missing;
};

static void hash_all(void *a) {
  struct hash_args *h = a;
  for (uint32_t i = 0; i < h->n; i++) {
    const uint8_t *p = gpa_ptr(h->r, h->segs, h->nsegs, h->pages[i], 4096);
    h->out[i] = p ? page_hash(p) : 0;
    h->missing += !p;
  }
}

int64_t vav_map_hash_pages(int32_t m, const uint64_t *segs, uint32_t nsegs, const uint64_t *pages, uint32_t n,
                           uint64_t *out) {
  map_rec r;
  int rc = map_get(m, &r);
  if (rc < 0) return rc;
  int64_t res;
  if (!segs || (!pages && n) || (!out && n)) res = -EINVAL;
  else {
    struct hash_args h = {&r, segs, pages, nsegs, n, out, 0};
    res = hv_guarded_call(hash_all, &h) < 0 ? -ESTALE : h.missing;
  }
  map_put();
  return res;
}
