/* virtav prefilter: one Hyperscan literal database in front of the exact matcher.
 *
 * Each part of the compiled database gets one literal: its best run of exact bytes (the
 * longest, weighed by how rare its bytes are in code and memory). A signature whose every part
 * of every variant has a literal of at least VAV_PF_MIN_LIT bytes is *claimed*: its parts leave
 * the key loop's index (virtav_match.c) and are found by Hyperscan instead, all
 * literals in one block-mode database (every occurrence reported, no SINGLEMATCH). Programs
 * with a shorter part stay on the key loop. Nothing is decided here: every literal match is a
 * candidate (part, start) handed to the exact matcher (vav_candidate), which verifies the
 * whole part and chains the parts with their gaps and offsets as before.
 *
 * The chaining needs candidates in the key loop's order (by the position of each part's key,
 * see the header of virtav_match.c). Hyperscan does not promise any order, so the buffer is
 * scanned in windows of key positions: each window's literal matches are collected (the
 * region scanned reaches as far around the window as any literal lies from its key), sorted
 * by key position and part, then verified. In first-match mode the key loop then looks only
 * at the positions before the prefilter's hit, so the first hit is the one the key loop alone
 * would report.
 *
 * Serialised form (vav_pf_serialize, kept by lib/virtav/db_cache.ts): "VAVP", format, literal
 * count, minimum literal, FNV-1a 64 of the literal choice, Hyperscan bytes length, a 64-bit
 * hash of them, then Hyperscan's own serialisation. Attaching one recomputes the literal choice from the loaded
 * database and refuses any mismatch, and asks Hyperscan whether the bytes fit this library
 * (version and platform). */
#include "virtav.h"
#include <errno.h>
#include <hs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define PF_MAGIC 0x50564156u /* "VAVP" */
#define PF_FORMAT 3u /* 2: one Hyperscan id per distinct literal; 3: claims per signature */
#define PF_HEAD 40
#define PF_WINDOW (1u << 20) /* key positions per Hyperscan call (and between two cancel checks) */

struct vav_pf {
  hs_database_t *db;
  size_t db_map; /* > 0: db lies in an anonymous mapping of this size (attached), not Hyperscan's malloc */
  hs_scratch_t *scratch;
  uint32_t nparts, nlits, nuniq, state;
  uint32_t *group_start; /* per distinct literal (the Hyperscan id): its parts in group_parts */
  uint32_t *group_parts;
  uint8_t *claimed;  /* per part */
  uint32_t *back;    /* per part: its literal's end, from the part's start */
  uint32_t *key_off; /* per part: its key's offset (the key loop's order) */
  int64_t dmin, dmax; /* literal start / end relative to the key position, over claimed parts */
  uint64_t checksum;
  uint32_t progs_pf, progs_slow, sigs_pf, sigs_slow;
  size_t db_bytes, scratch_bytes;
  uint64_t *cand; /* one window's candidates: key position - window start << 32 | part */
  size_t ncand, cap;
  int sorted, err;
  uint64_t r0, a, b; /* the window being collected */
};

static uint64_t window_override;

int32_t vav_pf_window(uint64_t bytes) {
  window_override = bytes;
  return 0;
}

static uint32_t weight(uint8_t b) {
  return b == 0x00 || b == 0xff ? 1 : b == 0xcc || b == 0x90 || b == 0x20 ? 4 : 8;
}

/* The best literal of a part: the run of exact bytes with the highest weight (a run of one
 * repeated byte weighs its length only). */
static void choose(const uint8_t *v, const uint8_t *ex, uint32_t w, uint32_t *off, uint32_t *len) {
  uint64_t best = 0;
  *off = *len = 0;
  for (uint32_t k = 0; k < w;) {
    if (!ex[k]) {
      k++;
      continue;
    }
    uint32_t st = k;
    uint64_t score = 0;
    int same = 1;
    for (; k < w && ex[k]; k++) {
      score += weight(v[k]);
      same &= v[k] == v[st];
    }
    if (same) score = k - st;
    if (score > best || (score == best && k - st > *len)) {
      best = score;
      *off = st;
      *len = k - st;
    }
  }
}

/* A fast 64-bit hash of Hyperscan's bytes (damage there must be refused before Hyperscan sees it). */
static uint64_t bytes_hash(const uint8_t *p, uint64_t n) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ n, w;
  uint64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    memcpy(&w, p + i, 8);
    h = (h ^ w) * 0xff51afd7ed558ccdull;
    h ^= h >> 32;
  }
  for (; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
  return h ^ (h >> 29);
}

static void fnv(uint64_t *h, const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++) *h = (*h ^ b[i]) * 0x100000001b3ull;
}

void vav_pf_free(struct vav_pf *pf) {
  if (!pf) return;
  hs_free_scratch(pf->scratch);
  if (pf->db_map) munmap(pf->db, pf->db_map);
  else hs_free_database(pf->db);
  free(pf->claimed);
  free(pf->group_start);
  free(pf->group_parts);
  free(pf->back);
  free(pf->key_off);
  free(pf->cand);
  free(pf);
}

int vav_pf_claims(const struct vav_pf *pf, uint32_t part) {
  return pf && pf->db && part < pf->nparts && pf->claimed[part];
}

static void say(char *msg, uint32_t cap, const char *fmt, const char *arg) {
  if (msg && cap) snprintf(msg, cap, fmt, arg);
}

/* Attaches a serialised prefilter; -EINVAL if it is not this database's, -ENOEXEC if it was
 * built by another Hyperscan version or for another platform. */
static int attach(struct vav_pf *pf, const uint8_t *ser, uint64_t len, char *msg, uint32_t cap) {
  if (len < PF_HEAD) return -EINVAL;
  uint32_t h[4];
  uint64_t sum, hs_len, hs_sum;
  memcpy(h, ser, 16);
  memcpy(&sum, ser + 16, 8);
  memcpy(&hs_len, ser + 24, 8);
  memcpy(&hs_sum, ser + 32, 8);
  if (h[0] != PF_MAGIC || h[1] != PF_FORMAT || h[2] != pf->nlits || h[3] != VAV_PF_MIN_LIT ||
      sum != pf->checksum || hs_len != len - PF_HEAD || hs_sum != bytes_hash(ser + PF_HEAD, hs_len))
    return -EINVAL;
  const char *bytes = (const char *)ser + PF_HEAD;
  char *info = NULL;
  hs_error_t ie = hs_serialized_database_info(bytes, hs_len, &info);
  if (ie == HS_DB_VERSION_ERROR) {
    say(msg, cap, "the cached prefilter was built by another Hyperscan version (this one is %s)", hs_version());
    return -ENOEXEC;
  }
  if (ie != HS_SUCCESS) return -EINVAL;
  int rc = strstr(info, "Mode: BLOCK") ? 0 : -EINVAL;
  if (!rc) {
    /* into memory populated in one call (tens of MiB at 100,000 signatures: a page fault per
     * page of a malloc'd copy cost more than the copy itself) */
    size_t need = 0;
    hs_error_t e = hs_serialized_database_size(bytes, hs_len, &need);
    void *at = e == HS_SUCCESS && need ? mmap(NULL, need, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0)
                                       : MAP_FAILED;
    if (at != MAP_FAILED) {
      e = hs_deserialize_database_at(bytes, hs_len, at);
      if (e == HS_SUCCESS) {
        pf->db = at;
        pf->db_map = need;
      } else {
        munmap(at, need);
      }
    } else if (e == HS_SUCCESS) {
      e = hs_deserialize_database(bytes, hs_len, &pf->db);
    }
    rc = e == HS_SUCCESS ? 0 : e == HS_DB_VERSION_ERROR || e == HS_DB_PLATFORM_ERROR ? -ENOEXEC : -EINVAL;
  }
  if (rc == -ENOEXEC) say(msg, cap, "the cached prefilter does not fit this Hyperscan (%s)", info);
  free(info);
  return rc;
}

/* Claimed parts' literals: the bytes in one pool, each part's offset in it and length. */
typedef struct {
  const uint8_t *pool;
  const uint64_t *at;
  const uint32_t *len;
} lits_t;

static int cmp_lit(const void *x, const void *y, void *ctx) {
  const lits_t *l = ctx;
  uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
  if (l->len[a] != l->len[b]) return l->len[a] < l->len[b] ? -1 : 1;
  int c = memcmp(l->pool + l->at[a], l->pool + l->at[b], l->len[a]);
  return c ? c : (a < b ? -1 : a > b);
}

/* Groups the claimed parts by literal (Hyperscan compiles each distinct literal once: half the
 * time and memory at 100,000 signatures, where variants share most of their parts). */
static int group(struct vav_pf *pf, const lits_t *l) {
  pf->group_parts = malloc((pf->nlits + 1) * sizeof(uint32_t));
  pf->group_start = malloc((pf->nlits + 1) * sizeof(uint32_t));
  if (!pf->group_parts || !pf->group_start) return -ENOMEM;
  uint32_t n = 0;
  for (uint32_t i = 0; i < pf->nparts; i++)
    if (pf->claimed[i]) pf->group_parts[n++] = i;
  qsort_r(pf->group_parts, n, sizeof(uint32_t), cmp_lit, (void *)l);
  pf->nuniq = 0;
  for (uint32_t j = 0; j < n; j++) {
    uint32_t a = pf->group_parts[j], b = j ? pf->group_parts[j - 1] : 0;
    if (!j || l->len[a] != l->len[b] || memcmp(l->pool + l->at[a], l->pool + l->at[b], l->len[a]))
      pf->group_start[pf->nuniq++] = j;
  }
  pf->group_start[pf->nuniq] = n;
  return 0;
}

static int compile(struct vav_pf *pf, const lits_t *l, char *msg, uint32_t cap) {
  int rc = -ENOMEM;
  const char **exprs = calloc(pf->nuniq, sizeof *exprs);
  size_t *lens = calloc(pf->nuniq, sizeof *lens);
  unsigned *ids = calloc(pf->nuniq, sizeof *ids), *flags = calloc(pf->nuniq, sizeof *flags);
  if (!exprs || !lens || !ids || !flags) goto out;
  for (uint32_t u = 0; u < pf->nuniq; u++) {
    uint32_t part = pf->group_parts[pf->group_start[u]];
    exprs[u] = (const char *)l->pool + l->at[part];
    lens[u] = l->len[part];
    ids[u] = u;
  }
  hs_compile_error_t *err = NULL;
  if (hs_compile_lit_multi(exprs, flags, ids, lens, pf->nuniq, HS_MODE_BLOCK, NULL, &pf->db, &err) !=
      HS_SUCCESS) {
    say(msg, cap, "Hyperscan cannot compile the literals (%s): every signature stays on the key loop",
        err && err->message ? err->message : "no reason given");
    hs_free_compile_error(err);
    pf->db = NULL;
  }
  rc = 0;
out:
  free(exprs);
  free(lens);
  free(ids);
  free(flags);
  return rc;
}

int vav_pf_setup(struct vav_db *d, struct vav_pf **out, const uint8_t *ser, uint64_t len, uint32_t flags,
                 char *msg, uint32_t cap) {
  *out = NULL;
  if (msg && cap) msg[0] = 0;
  if (!(flags & VAV_PF_ON)) return 0;
  struct vav_pf *pf = calloc(1, sizeof *pf);
  if (!pf) return -ENOMEM;
  uint32_t n = vav_db_nparts(d), maxw = 0, maxsig = 0;
  pf->nparts = n;
  pf->claimed = calloc(n + 1, 1);
  pf->back = calloc(n + 1, sizeof(uint32_t));
  pf->key_off = calloc(n + 1, sizeof(uint32_t));
  uint32_t *lit_off = calloc(n + 1, sizeof(uint32_t)), *lit_len = calloc(n + 1, sizeof(uint32_t));
  uint8_t *v = NULL, *ex = NULL, *sig_slow = NULL, *sig_seen = NULL, *pool = NULL;
  uint64_t *lit_at = calloc(n + 1, sizeof(uint64_t)), pool_len = 0, pool_cap = 0;
  int rc = -ENOMEM;
  if (!pf->claimed || !pf->back || !pf->key_off || !lit_off || !lit_len || !lit_at) goto fail;
  vav_part_shape_t sh;
  for (uint32_t i = 0; i < n; i++) {
    vav_part_shape(d, i, &sh);
    if (sh.width > maxw) maxw = sh.width;
    if (sh.sig > maxsig) maxsig = sh.sig;
  }
  v = malloc(maxw + 1);
  ex = malloc(maxw + 1);
  sig_slow = calloc(maxsig + 2, 1);
  sig_seen = calloc(maxsig + 2, 1);
  if (!v || !ex || !sig_slow || !sig_seen) goto fail;
  /* A signature is claimed when every part of every one of its variants has a literal long
   * enough: each signature then lives on one path, so the one that finds it first (and the
   * offset reported) is the key loop's. First the literals, then the claims. */
  pf->checksum = 0xcbf29ce484222325ull;
  fnv(&pf->checksum, &n, sizeof n);
  pf->dmin = INT64_MAX;
  pf->dmax = INT64_MIN;
  for (uint32_t i = 0; i < n; i++) {
    vav_part_shape(d, i, &sh);
    vav_part_bytes(d, i, v, ex);
    choose(v, ex, sh.width, &lit_off[i], &lit_len[i]);
    pf->back[i] = lit_off[i] + lit_len[i];
    pf->key_off[i] = sh.key_off;
    sig_seen[sh.sig] = 1;
    if (lit_len[i] < VAV_PF_MIN_LIT) sig_slow[sh.sig] = 1;
  }
  for (uint32_t i = 0; i < n;) {
    vav_part_shape(d, i, &sh);
    uint32_t first = i;
    i += sh.nparts;
    if (sig_slow[sh.sig]) {
      pf->progs_slow++;
      continue;
    }
    pf->progs_pf++;
    for (uint32_t k = first; k < i; k++) {
      pf->claimed[k] = 1;
      pf->nlits++;
      int64_t lo = (int64_t)lit_off[k] - pf->key_off[k], hi = (int64_t)pf->back[k] - pf->key_off[k];
      if (lo < pf->dmin) pf->dmin = lo;
      if (hi > pf->dmax) pf->dmax = hi;
      vav_part_bytes(d, k, v, ex);
      fnv(&pf->checksum, &k, sizeof k);
      fnv(&pf->checksum, &lit_off[k], sizeof lit_off[k]);
      fnv(&pf->checksum, &lit_len[k], sizeof lit_len[k]);
      fnv(&pf->checksum, v + lit_off[k], lit_len[k]);
      if (pool_len + lit_len[k] > pool_cap) {
        uint64_t ncap = pool_cap ? pool_cap * 2 : 65536;
        while (ncap < pool_len + lit_len[k]) ncap *= 2;
        uint8_t *np = realloc(pool, ncap);
        if (!np) goto fail;
        pool = np;
        pool_cap = ncap;
      }
      memcpy(pool + pool_len, v + lit_off[k], lit_len[k]);
      lit_at[k] = pool_len;
      pool_len += lit_len[k];
    }
  }
  for (uint32_t s = 0; s <= maxsig; s++) {
    if (sig_seen[s] && sig_slow[s]) pf->sigs_slow++;
    else if (sig_seen[s]) pf->sigs_pf++;
  }
  rc = 0;
  if (pf->nlits) {
    lits_t l = {pool, lit_at, lit_len};
    rc = group(pf, &l);
    if (rc < 0) goto fail;
    if (ser && len) {
      rc = attach(pf, ser, len, msg, cap);
      pf->state = 2;
    } else {
      rc = compile(pf, &l, msg, cap);
      pf->state = 1;
    }
    if (rc < 0) goto fail;
  }
  if (pf->db) {
    if (hs_alloc_scratch(pf->db, &pf->scratch) != HS_SUCCESS) {
      rc = -ENOMEM;
      goto fail;
    }
    hs_database_size(pf->db, &pf->db_bytes);
    hs_scratch_size(pf->scratch, &pf->scratch_bytes);
  } else {
    /* nothing to prefilter, or Hyperscan refused: every program on the key loop */
    pf->state = 0;
    pf->progs_slow += pf->progs_pf;
    pf->progs_pf = 0;
    pf->sigs_slow += pf->sigs_pf;
    pf->sigs_pf = 0;
    memset(pf->claimed, 0, n);
  }
  free(lit_off);
  free(lit_len);
  free(lit_at);
  free(pool);
  free(v);
  free(ex);
  free(sig_slow);
  free(sig_seen);
  *out = pf;
  return 0;
fail:
  free(lit_off);
  free(lit_len);
  free(lit_at);
  free(pool);
  free(v);
  free(ex);
  free(sig_slow);
  free(sig_seen);
  vav_pf_free(pf);
  return rc;
}

static int on_match(unsigned id, unsigned long long from, unsigned long long to, unsigned flags, void *ctx) {
  (void)from;
  (void)flags;
  struct vav_pf *pf = ctx;
  if (id >= pf->nuniq) return 0;
  uint64_t e = pf->r0 + to;
  for (uint32_t j = pf->group_start[id]; j < pf->group_start[id + 1]; j++) {
    uint32_t part = pf->group_parts[j];
    if (e < pf->back[part]) continue;
    uint64_t key = e - pf->back[part] + pf->key_off[part];
    if (key < pf->a || key >= pf->b) continue; /* another window's */
    if (pf->ncand == pf->cap) {
      size_t ncap = pf->cap ? pf->cap * 2 : 1024;
      uint64_t *nc = realloc(pf->cand, ncap * sizeof *nc);
      if (!nc) {
        pf->err = -ENOMEM;
        return 1;
      }
      pf->cand = nc;
      pf->cap = ncap;
    }
    uint64_t c = (key - pf->a) << 32 | part;
    if (pf->ncand && c < pf->cand[pf->ncand - 1]) pf->sorted = 0;
    pf->cand[pf->ncand++] = c;
  }
  return 0;
}

static int cmp_u64(const void *x, const void *y) {
  uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
  return a < b ? -1 : a > b;
}

/* The claimed programs over the whole buffer; returns 1 in first-match mode when it found one
 * (then `first` holds it and `limit` its key position: the key loop looks only before it). */
int vav_pf_scan(struct vav_pf *pf, void *ctx, const uint8_t *buf, uint64_t len, uint32_t flags, uint64_t *limit,
                vav_hit *first) {
  if (!pf->db || !len) return 0;
  uint64_t w = window_override ? window_override : PF_WINDOW;
  uint64_t span = (uint64_t)(pf->dmax - pf->dmin);
  if (!window_override && w < 4 * span) w = 4 * span;
  if (w > (1u << 30)) w = 1u << 30;
  for (uint64_t a = 0; a < len; a += w) {
    if (vav_ctx_cancel(ctx)) {
      *limit = a;
      return 0;
    }
    uint64_t b = len - a > w ? a + w : len;
    int64_t lo = (int64_t)a + pf->dmin, hi = (int64_t)b + pf->dmax;
    uint64_t r0 = lo < 0 ? 0 : (uint64_t)lo, r1 = (uint64_t)hi > len ? len : (uint64_t)hi;
    if (r0 >= r1) continue;
    pf->ncand = 0;
    pf->sorted = 1;
    pf->err = 0;
    pf->r0 = r0;
    pf->a = a;
    pf->b = b;
    hs_error_t e = hs_scan(pf->db, (const char *)buf + r0, (unsigned)(r1 - r0), 0, pf->scratch, on_match, pf);
    if (pf->err || (e != HS_SUCCESS && e != HS_SCAN_TERMINATED)) {
      vav_ctx_fail(ctx, pf->err ? pf->err : -EIO);
      return 0;
    }
    if (!pf->sorted) qsort(pf->cand, pf->ncand, sizeof *pf->cand, cmp_u64);
    for (size_t i = 0; i < pf->ncand; i++) {
      uint32_t part = (uint32_t)pf->cand[i];
      uint64_t key = a + (pf->cand[i] >> 32);
      if (!vav_candidate(ctx, part, key - pf->key_off[part])) continue;
      vav_hit *out;
      if (!(flags & VAV_ALLMATCH) && vav_ctx_hits(ctx, &out)) {
        *first = out[0];
        *limit = key;
        vav_ctx_take_hit(ctx);
        return 1;
      }
      return 0;
    }
  }
  return 0;
}

int64_t vav_pf_serialize(int32_t db, uint8_t *out, uint64_t cap) {
  struct vav_db *d = vav_db_get(db);
  if (!d) return -EBADF;
  struct vav_pf *pf = vav_db_pf(d);
  if (!pf || !pf->db) return 0;
  char *bytes = NULL;
  size_t n = 0;
  if (hs_serialize_database(pf->db, &bytes, &n) != HS_SUCCESS) return -ENOMEM;
  uint64_t total = PF_HEAD + (uint64_t)n;
  if (out && cap >= total) {
    uint32_t h[4] = {PF_MAGIC, PF_FORMAT, pf->nlits, VAV_PF_MIN_LIT};
    uint64_t hs_len = n, hs_sum = bytes_hash((const uint8_t *)bytes, n);
    memcpy(out, h, 16);
    memcpy(out + 16, &pf->checksum, 8);
    memcpy(out + 24, &hs_len, 8);
    memcpy(out + 32, &hs_sum, 8);
    memcpy(out + PF_HEAD, bytes, n);
  }
  free(bytes);
  return (int64_t)total;
}

int64_t vav_pf_info(int32_t db, uint64_t *info) {
  struct vav_db *d = vav_db_get(db);
  if (!d) return -EBADF;
  if (!info) return -EINVAL;
  memset(info, 0, 8 * sizeof *info);
  struct vav_pf *pf = vav_db_pf(d);
  if (!pf) return 0;
  info[0] = pf->state;
  info[1] = pf->progs_pf;
  info[2] = pf->progs_slow;
  info[3] = pf->sigs_pf;
  info[4] = pf->sigs_slow;
  info[5] = pf->nuniq;
  info[6] = pf->db_bytes;
  info[7] = pf->scratch_bytes;
  return 0;
}
