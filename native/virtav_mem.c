/* virtav guest memory: read-only mappings of RAM files and dumps, guest-physical address
 * translation through a segment list (paddr, file offset, size triples), x86-64 4- and
 * 5-level page-table walks that list executable pages, and page hashes for rescans. */
#include "virtav.h"
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
} map_rec;

static map_rec maps[MAX_MAPS];
static pthread_mutex_t maps_lock = PTHREAD_MUTEX_INITIALIZER;

int32_t vav_map_open(const char *path, uint64_t *size_out) {
  if (!path) return -EINVAL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  struct stat st;
  if (fstat(fd, &st) < 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
  }
  uint64_t size = (uint64_t)st.st_size;
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
  close(fd);
  pthread_mutex_lock(&maps_lock);
  for (int i = 0; i < MAX_MAPS; i++) {
    if (!maps[i].base && !maps[i].size) {
      maps[i].base = base ? base : (uint8_t *)1; /* mark used for empty files */
      maps[i].size = size;
      pthread_mutex_unlock(&maps_lock);
      if (size_out) *size_out = size;
      return i;
    }
  }
  pthread_mutex_unlock(&maps_lock);
  if (base) munmap(base, size);
  return -EMFILE;
}

static int map_get(int32_t m, map_rec *out) {
  if (m < 0 || m >= MAX_MAPS) return -EBADF;
  pthread_mutex_lock(&maps_lock);
  *out = maps[m];
  pthread_mutex_unlock(&maps_lock);
  return out->base ? 0 : -EBADF;
}

int32_t vav_map_close(int32_t m) {
  if (m < 0 || m >= MAX_MAPS) return -EBADF;
  pthread_mutex_lock(&maps_lock);
  map_rec r = maps[m];
  maps[m].base = NULL;
  maps[m].size = 0;
  pthread_mutex_unlock(&maps_lock);
  if (!r.base) return -EBADF;
  if (r.size) munmap(r.base, r.size);
  return 0;
}

int64_t vav_map_read(int32_t m, uint64_t off, uint8_t *dst, uint64_t len) {
  map_rec r;
  int rc = map_get(m, &r);
  if (rc < 0) return rc;
  if (!dst && len) return -EINVAL;
  if (off >= r.size) return 0;
  if (len > r.size - off) len = r.size - off;
  memcpy(dst, r.base + off, len);
  return (int64_t)len;
}

int64_t vav_map_scan(int32_t db, int32_t m, uint64_t off, uint64_t len, uint32_t flags, vav_hit *out,
                     uint32_t cap, uint64_t *stats) {
  struct vav_db *d = vav_db_get(db);
  if (!d) return -EBADF;
  map_rec r;
  int rc = map_get(m, &r);
  if (rc < 0) return rc;
  if (off > r.size || len > r.size - off) return -ERANGE;
  if (!out && cap) return -EINVAL;
  return vav_scan_db(d, len ? r.base + off : NULL, len, flags, out, cap, stats);
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

int64_t vav_map_scan_chunks(int32_t db, int32_t m, const uint64_t *segs, uint32_t nsegs, const uint64_t *chunks,
                            uint32_t nchunks, uint32_t flags, vav_hit *out, uint32_t cap, uint64_t *stats) {
  struct vav_db *d = vav_db_get(db);
  if (!d) return -EBADF;
  map_rec r;
  int rc = map_get(m, &r);
  if (rc < 0) return rc;
  if (!segs || !chunks || nchunks == 0 || (!out && cap)) return -EINVAL;
  if (nchunks == 1) { /* contiguous: scan in place, no copy */
    const uint8_t *p = gpa_ptr(&r, segs, nsegs, chunks[0], chunks[1]);
    if (!p) return -ERANGE;
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
    const uint8_t *p = gpa_ptr(&r, segs, nsegs, chunks[2 * i], chunks[2 * i + 1]);
    if (!p) return -ERANGE;
    memcpy(scratch + pos, p, chunks[2 * i + 1]);
    pos += chunks[2 * i + 1];
  }
  if (stats) stats[VAV_ST_COPIED] += total;
  return vav_scan_db(d, scratch, total, flags, out, cap, stats);
}

/* The address of [off, off + len) in the mapping (for a scanner that reads memory itself, such
 * as libclamav's cl_fmap_open_memory), or NULL when the range is outside the file. Valid until
 * vav_map_close. */
const uint8_t *vav_map_ptr(int32_t m, uint64_t off, uint64_t len) {
  map_rec r;
  if (map_get(m, &r) < 0 || r.size == 0) return NULL;
  if (off > r.size || len > r.size - off) return NULL;
  return r.base + off;
}

/* Copies guest-physical chunks (pa, len pairs) in order into dst (cap bytes): bytes copied. */
int64_t vav_map_gather(int32_t m, const uint64_t *segs, uint32_t nsegs, const uint64_t *chunks,
                       uint32_t nchunks, uint8_t *dst, uint64_t cap) {
  map_rec r;
  int rc = map_get(m, &r);
  if (rc < 0) return rc;
  if (!segs || !chunks || (!dst && cap)) return -EINVAL;
  uint64_t pos = 0;
  for (uint32_t i = 0; i < nchunks; i++) {
    uint64_t len = chunks[2 * i + 1];
    if (len > cap - pos) return -ENOSPC;
    const uint8_t *p = gpa_ptr(&r, segs, nsegs, chunks[2 * i], len);
    if (!p) return -ERANGE;
    memcpy(dst + pos, p, len);
    pos += len;
  }
  return (int64_t)pos;
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

int64_t vav_walk(int32_t m, const uint64_t *segs, uint32_t nsegs, uint64_t cr3, uint32_t flags, uint64_t *out,
                 uint32_t cap, uint64_t *stats) {
  map_rec r;
  int rc = map_get(m, &r);
  if (rc < 0) return rc;
  uint64_t dummy[8] = {0};
  if (!stats) stats = dummy;
  if (!segs || (!out && cap)) return -EINVAL;
  uint64_t root = cr3 & ADDR_MASK;
  if (!gpa_ptr(&r, segs, nsegs, root, 4096)) return -ERANGE; /* CR3 outside guest RAM */
  walk_ctx w = {&r, segs, nsegs, flags, (flags & VAV_LA57) ? 5 : 4, out, cap, 0, stats, {0}};
  for (int i = 0; i < 6; i++) w.path[i] = ~0ull;
  walk(&w, root, w.levels, 0, 1);
  return w.n;
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

int64_t vav_map_hash_pages(int32_t m, const uint64_t *segs, uint32_t nsegs, const uint64_t *pages, uint32_t n,
                           uint64_t *out) {
  map_rec r;
  int rc = map_get(m, &r);
  if (rc < 0) return rc;
  if (!segs || (!pages && n) || (!out && n)) return -EINVAL;
  int64_t missing = 0;
  for (uint32_t i = 0; i < n; i++) {
    const uint8_t *p = gpa_ptr(&r, segs, nsegs, pages[i], 4096);
    out[i] = p ? page_hash(p) : 0;
    missing += !p;
  }
  return missing;
}
