/* virtav prefilter: one Hyperscan literal database in front of the exact matcher.
 *
 * Each program (signature variant) is cut into segments: runs of parts whose gaps are bounded
 * (an unbounded gap, or too much freedom in the gaps, starts a new segment, see seg_end). Each
 * segment gets one literal: the best run of exact bytes of its parts (the longest, weighed by
 * how rare its bytes are in code and memory; outside alternatives' members when possible, so
 * that the variants share it). Fewer, longer literals than one per part: Hyperscan's literal
 * matcher slows down past some 60,000 short literals (docs/virtav.md, Performance). A
 * signature whose every segment of every variant has a literal of at least VAV_PF_MIN_LIT bytes
 * is *claimed*: its parts leave the key loop's index (virtav_match.c) and are found around its
 * literals instead, all literals in one block-mode database (every occurrence reported, no
 * SINGLEMATCH). Programs with a shorter segment stay on the key loop. Nothing is decided here:
 * a literal match at e puts its part at e - (literal end in the part), and every other part of
 * its segment where its key lies within the part's distance from there (backwards and
 * forwards: the gaps' bounds) as candidates (part, start) for the exact matcher
 * (vav_candidate), which verifies each part in full and chains the parts with their gaps and
 * offsets as the key loop does. Every part of a chain is a candidate this way: the chain holds
 * its segment's literal part, whose literal Hyperscan reports.
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
 * hash of them, XXH64 of the tables, then Hyperscan's own serialisation, then the tables (put_tables:
 * what vav_pf_setup derives from the blob: the claims, segments, grouping and sampler). Attaching
 * one does not recompute them (~0.2 s at 100,000 signatures): it checks the tables' hash, that they
 * were made from this blob (its XXH64) with these tunables, and bounds-checks every index and
 * offset in them (restore_tables), then asks Hyperscan whether its bytes fit this library
 * (version and platform). */
#include "virtav.h"
#include <errno.h>
#include <hs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define PF_MAGIC 0x50564156u /* "VAVP" */
#define PF_FORMAT 6u /* 2: one id per distinct literal; 3: claims per signature; 4: per segment; 5: sampler; 6: tables */
#define PF_HEAD 48
#define PF_TAB_SC 19u /* the tables' scalars (see put_tables) */
#define PF_TAB_MAX_REL (1ll << 40) /* bound on a stored relative position or window reach */
#define PF_WINDOW (1u << 20) /* key positions per Hyperscan call (and between two cancel checks) */
#define PF_STRIDE 4u         /* the sampler's step: it takes literals of PF_STRIDE + 3 bytes or more */
#define PF_SAMPLE_OVER 32768u /* distinct literals past which the long ones go to the sampler */
#define PF_PREFETCH 32u       /* the sampler asks for the bitmap word this many positions ahead */
#define PF_KEYS_PER_WORD 4u   /* the sampler's bitmap: keys per 64-bit word (3 bits each), ~1 MiB at 100,000 */
#define PF_SEG_SLACK 256u    /* a segment's parts: the sum of their gaps' freedom (max - min) */
#define PF_SEG_REACH 4096u   /* and the longest span from its first part's start to its last's end */

struct vav_pf {
  hs_database_t *db;
  size_t db_map; /* > 0: db lies in an anonymous mapping of this size (attached), not Hyperscan's malloc */
  hs_scratch_t *scratch;
  uint32_t nparts, nlits, nuniq, state;
  uint32_t *group_start; /* per distinct literal (the Hyperscan id): its parts in group_parts */
  uint32_t *group_parts;
  uint8_t *claimed;  /* per part */
  uint8_t *is_lit;   /* per part: holds its segment's literal */
  uint32_t *back;    /* per literal part: its literal's end, from the part's start */
  uint32_t *key_off; /* per part: its key's offset (the key loop's order) */
  uint32_t *key;     /* per part: its key's bytes (little-endian), and their count */
  uint8_t *key_len;
  uint32_t *seg_first, *seg_last; /* per literal part: its segment's parts */
  int64_t *rel_lo, *rel_hi;       /* per part: its start minus its segment's literal part's start */
  /* The sampler (see sample()): per distinct literal whether it is there, its bytes; a bitmap
   * of hashed 4-byte keys, buckets of (key, literal << 3 | offset) by hash */
  uint8_t *sampled, *sbytes;
  uint64_t *sbm;
  uint64_t *sat;
  uint32_t *slen, *sstart, nsent, sbits, nsampled;
  uint64_t smem; /* the sampler's bytes */
  uint64_t *sent;
  const uint8_t *buf;             /* the buffer being scanned, and its length */
  uint64_t len;
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
static uint32_t sample_over = PF_SAMPLE_OVER;

int32_t vav_pf_window(uint64_t bytes) {
  window_override = bytes;
  return 0;
}

int32_t vav_pf_sampler(int32_t always) {
  sample_over = always ? 0 : PF_SAMPLE_OVER;
  return 0;
}

static uint32_t weight(uint8_t b) {
  return b == 0x00 || b == 0xff ? 1 : b == 0xcc || b == 0x90 || b == 0x20 ? 4 : 8;
}

/* The best run of exact bytes (ex[k] in 1..max_ex) of a part: the one with the highest weight (a
 * run of one repeated byte weighs its length only). */
static uint64_t choose_in(const uint8_t *v, const uint8_t *ex, uint8_t max_ex, uint32_t w, uint32_t *off,
                          uint32_t *len) {
  uint64_t best = 0;
  *off = *len = 0;
  for (uint32_t k = 0; k < w;) {
    if (!ex[k] || ex[k] > max_ex) {
      k++;
      continue;
    }
    uint32_t st = k;
    uint64_t score = 0;
    int same = 1;
    for (; k < w && ex[k] && ex[k] <= max_ex; k++) {
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
  return best;
}

/* The best literal of a part, outside its alternatives' members if one long enough is there: the
 * variants of a signature then share it (one Hyperscan literal for all of them). */
static uint64_t choose(const uint8_t *v, const uint8_t *ex, uint32_t w, uint32_t *off, uint32_t *len) {
  uint64_t best = choose_in(v, ex, 1, w, off, len);
  return *len >= VAV_PF_MIN_LIT ? best : choose_in(v, ex, 2, w, off, len);
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
  free(pf->sampled);
  free(pf->sbytes);
  free(pf->sbm);
  free(pf->sat);
  free(pf->slen);
  free(pf->sstart);
  free(pf->sent);
  free(pf->is_lit);
  free(pf->key);
  free(pf->key_len);
  free(pf->seg_first);
  free(pf->seg_last);
  free(pf->rel_lo);
  free(pf->rel_hi);
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
      sum != pf->checksum || hs_len > len - PF_HEAD || hs_sum != bytes_hash(ser + PF_HEAD, hs_len))
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
    if (pf->is_lit[i]) pf->group_parts[n++] = i;
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

/* A key's hash: its word of the bitmap (the top `wbits` bits, also its bucket) and three bits in
 * that word (a blocked Bloom filter: one cache line per look, ~0.1% false positives). */
static inline uint64_t shash(uint32_t k) { return (uint64_t)k * 0x9E3779B97F4A7C15ull; }
static inline uint64_t smask(uint64_t h) {
  return 1ull << (h & 63) | 1ull << ((h >> 6) & 63) | 1ull << ((h >> 12) & 63);
}

static int cmp_sent(const void *x, const void *y, void *ctx) {
  uint32_t bits = *(const uint32_t *)ctx;
  uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
  uint64_t ha = shash((uint32_t)(a >> 32)) >> (64 - bits), hb = shash((uint32_t)(b >> 32)) >> (64 - bits);
  if (ha != hb) return ha < hb ? -1 : 1;
  return a < b ? -1 : a > b;
}

/* The sampler: Hyperscan's literal matcher slows down past some 60,000 short literals, so past
 * PF_SAMPLE_OVER distinct literals the long ones (PF_STRIDE + 3 bytes or more) are found by
 * looking at every PF_STRIDE-th position only: each literal is entered under its 4-byte keys at
 * offsets 0 .. PF_STRIDE - 1, one of which falls on a sampled position wherever it occurs (and
 * only one: each occurrence is reported once); a key found is checked against the whole
 * literal. Hyperscan keeps the rest (at least one literal: the prefilter is on iff it has a
 * database). Built with the literal choice; a serialised prefilter carries its tables (put_tables). */
static int sampler(struct vav_pf *pf, const lits_t *l) {
  pf->sampled = calloc(pf->nuniq + 1, 1);
  if (!pf->sampled) return -ENOMEM;
  if (pf->nuniq <= sample_over) return 0;
  uint32_t n = 0;
  uint64_t bytes = 0;
  for (uint32_t u = 0; u < pf->nuniq; u++) {
    uint32_t len = l->len[pf->group_parts[pf->group_start[u]]];
    if (len >= PF_STRIDE + 3) n++, bytes += len;
  }
  if (n == 0 || n == pf->nuniq) return 0;
  pf->sat = calloc(pf->nuniq + 1, sizeof(uint64_t));
  pf->slen = calloc(pf->nuniq + 1, sizeof(uint32_t));
  pf->sbytes = malloc(bytes + 1);
  pf->sent = malloc((uint64_t)n * PF_STRIDE * sizeof(uint64_t));
  if (!pf->sat || !pf->slen || !pf->sbytes || !pf->sent) return -ENOMEM;
  uint32_t bits = 10; /* 2^bits words of 64 bits */
  while (bits < 22 && (1ull << bits) * PF_KEYS_PER_WORD < (uint64_t)n * PF_STRIDE) bits++;
  pf->sbits = bits;
  uint64_t at = 0;
  for (uint32_t u = 0; u < pf->nuniq; u++) {
    uint32_t part = pf->group_parts[pf->group_start[u]], len = l->len[part];
    if (len < PF_STRIDE + 3) continue;
    const uint8_t *b = l->pool + l->at[part];
    pf->sampled[u] = 1;
    pf->sat[u] = at;
    pf->slen[u] = len;
    memcpy(pf->sbytes + at, b, len);
    at += len;
    for (uint32_t off = 0; off < PF_STRIDE; off++) {
      uint32_t k;
      memcpy(&k, b + off, 4);
      pf->sent[pf->nsent++] = (uint64_t)k << 32 | (uint64_t)u << 3 | off;
    }
  }
  pf->nsampled = n;
  qsort_r(pf->sent, pf->nsent, sizeof *pf->sent, cmp_sent, &bits);
  pf->sbm = calloc(1ull << bits, sizeof(uint64_t));
  pf->sstart = calloc((1ull << bits) + 1, sizeof(uint32_t));
  if (!pf->sbm || !pf->sstart) return -ENOMEM;
  for (uint32_t i = 0; i < pf->nsent; i++) {
    uint64_t h = shash((uint32_t)(pf->sent[i] >> 32));
    pf->sbm[h >> (64 - bits)] |= smask(h);
    pf->sstart[(h >> (64 - bits)) + 1]++;
  }
  for (uint64_t i = 0; i < (1ull << bits); i++) pf->sstart[i + 1] += pf->sstart[i];
  pf->smem = ((sizeof(uint64_t) + sizeof(uint32_t)) << bits) + (uint64_t)pf->nsent * sizeof(uint64_t) +
             (uint64_t)pf->nuniq * (1 + sizeof(uint64_t) + sizeof(uint32_t)) + bytes;
  return 0;
}

static int on_match(unsigned id, unsigned long long from, unsigned long long to, unsigned flags, void *ctx);

/* The sampled literals in buf[r0, r1), reported as Hyperscan reports its own (on_match). */
static int sample(struct vav_pf *pf, const uint8_t *buf, uint64_t r0, uint64_t r1) {
  const uint32_t bits = pf->sbits;
  const uint64_t *bm = pf->sbm;
  for (uint64_t p = r0; p + 4 <= r1; p += PF_STRIDE) {
    uint32_t k;
    if (p + 4 + PF_PREFETCH * PF_STRIDE <= r1) { /* the bitmap is larger than L2: ask early */
      memcpy(&k, buf + p + PF_PREFETCH * PF_STRIDE, 4);
      __builtin_prefetch(&bm[shash(k) >> (64 - bits)]);
    }
    memcpy(&k, buf + p, 4);
    uint64_t h = shash(k), m = smask(h), w = h >> (64 - bits);
    if ((bm[w] & m) != m) continue;
    for (uint32_t j = pf->sstart[w]; j < pf->sstart[w + 1]; j++) {
      uint64_t e = pf->sent[j];
      if ((uint32_t)(e >> 32) != k) continue;
      uint32_t u = (uint32_t)e >> 3, off = (uint32_t)e & 7, len = pf->slen[u];
      if (p < r0 + off) continue;
      uint64_t q = p - off;
      if (q + len > r1 || memcmp(buf + q, pf->sbytes + pf->sat[u], len)) continue;
      if (on_match(u, 0, q + len - r0, 0, pf)) return 1;
    }
  }
  return 0;
}

static int compile(struct vav_pf *pf, const lits_t *l, char *msg, uint32_t cap) {
  int rc = -ENOMEM;
  const char **exprs = calloc(pf->nuniq, sizeof *exprs);
  size_t *lens = calloc(pf->nuniq, sizeof *lens);
  unsigned *ids = calloc(pf->nuniq, sizeof *ids), *flags = calloc(pf->nuniq, sizeof *flags);
  if (!exprs || !lens || !ids || !flags) goto out;
  uint32_t m = 0;
  for (uint32_t u = 0; u < pf->nuniq; u++) {
    if (pf->sampled[u]) continue;
    uint32_t part = pf->group_parts[pf->group_start[u]];
    exprs[m] = (const char *)l->pool + l->at[part];
    lens[m] = l->len[part];
    ids[m++] = u;
  }
  hs_compile_error_t *err = NULL;
  if (hs_compile_lit_multi(exprs, flags, ids, lens, m, HS_MODE_BLOCK, NULL, &pf->db, &err) !=
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

/* The last part of the segment starting at part `f` (a program's parts end at `last`): a
 * segment's parts are bounded gaps apart, so that all of them lie within a bounded distance of
 * its literal, and the candidates around one literal match are few (PF_SEG_SLACK bytes of
 * freedom in the gaps, PF_SEG_REACH in all). An unbounded gap always starts a new segment. */
static uint32_t seg_end(const vav_part_shape_t *shp, uint32_t f, uint32_t last) {
  uint64_t slack = 0, reach = shp[f].width;
  uint32_t l = f;
  while (l < last) {
    const vav_part_shape_t *nx = &shp[l + 1];
    if (nx->gap_max == UINT32_MAX) break;
    uint64_t ns = slack + (nx->gap_max - nx->gap_min), nr = reach + nx->gap_max + nx->width;
    if (ns > PF_SEG_SLACK || nr > PF_SEG_REACH) break;
    slack = ns;
    reach = nr;
    l++;
  }
  return l;
}

/* The tables in the serialised form: PF_TAB_SC u64 scalars, then arrays, each padded to 8 bytes
 * (the scalars' order is restore_tables'). `out` NULL: only the size. */
static uint64_t put(uint8_t *out, uint64_t at, const void *p, uint64_t n) {
  uint64_t pn = (n + 7) & ~7ull;
  if (out) {
    if (n) memcpy(out + at, p, n);
    memset(out + at + n, 0, pn - n);
  }
  return at + pn;
}

static uint64_t put_tables(const struct vav_pf *pf, const struct vav_db *d, uint8_t *out) {
  const uint8_t *blob;
  uint64_t blob_len = vav_db_blob(d, &blob), sb = 0, n = pf->nparts;
  for (uint32_t u = 0; pf->nsent && u < pf->nuniq; u++)
    if (pf->sampled[u]) sb = sb > pf->sat[u] + pf->slen[u] ? sb : pf->sat[u] + pf->slen[u];
  uint64_t sc[PF_TAB_SC] = {blob_len, out ? vav_hash64(blob, blob_len, 0) : 0, PF_STRIDE, sample_over,
                            PF_SEG_SLACK ^ PF_SEG_REACH << 16, n, pf->nlits, pf->nuniq, pf->progs_pf,
                            pf->progs_slow, pf->sigs_pf, pf->sigs_slow, (uint64_t)pf->dmin, (uint64_t)pf->dmax,
                            pf->sbits, pf->nsent, pf->nsampled, sb, pf->checksum};
  uint64_t at = put(out, 0, sc, sizeof sc);
  at = put(out, at, pf->claimed, n);
  at = put(out, at, pf->is_lit, n);
  at = put(out, at, pf->back, n * 4);
  at = put(out, at, pf->seg_first, n * 4);
  at = put(out, at, pf->seg_last, n * 4);
  at = put(out, at, pf->rel_lo, n * 8);
  at = put(out, at, pf->rel_hi, n * 8);
  at = put(out, at, pf->group_parts, (uint64_t)pf->nlits * 4);
  at = put(out, at, pf->group_start, ((uint64_t)pf->nuniq + 1) * 4);
  at = put(out, at, pf->sampled, pf->nuniq);
  if (pf->nsent) {
    at = put(out, at, pf->sat, (uint64_t)pf->nuniq * 8);
    at = put(out, at, pf->slen, (uint64_t)pf->nuniq * 4);
    at = put(out, at, pf->sbytes, sb);
    at = put(out, at, pf->sent, (uint64_t)pf->nsent * 8);
  }
  return at;
}

/* `count` elements of `size` bytes from the tables into `dst` (allocated here when *dst is NULL);
 * 0 when they do not fit in what is left. */
static int take(const uint8_t *tab, uint64_t len, uint64_t *at, void *dstp, uint64_t count, uint64_t size) {
  void **dst = dstp;
  if (count > (len - *at) / size) return 0;
  uint64_t n = count * size, pn = (n + 7) & ~7ull;
  if (pn > len - *at) return 0;
  if (!*dst && !(*dst = calloc(count + 1, size))) return 0;
  if (n) memcpy(*dst, tab + *at, n);
  *at += pn;
  return 1;
}

static inline int rel_ok(int64_t v) { return v >= -PF_TAB_MAX_REL && v <= PF_TAB_MAX_REL; }

/* The tables of a serialised prefilter into pf, for this database `d` (its parts' shapes `shp`):
 * -EINVAL unless their hash, the blob they were made from, the tunables and every index and offset
 * in them check out (the scan then never reads outside its arrays or the buffer). */
static int restore_tables(struct vav_pf *pf, const struct vav_db *d, const vav_part_shape_t *shp, const uint8_t *ser,
                          uint64_t len) {
  uint64_t hs_len, tab_sum, sc[PF_TAB_SC], at = 0, n = pf->nparts;
  uint32_t h[2];
  if (len < PF_HEAD) return -EINVAL;
  memcpy(h, ser, 8);
  if (h[0] != PF_MAGIC || h[1] != PF_FORMAT) return -EINVAL;
  memcpy(&hs_len, ser + 24, 8);
  memcpy(&tab_sum, ser + 40, 8);
  if (hs_len > len - PF_HEAD) return -EINVAL;
  const uint8_t *tab = ser + PF_HEAD + hs_len, *blob;
  uint64_t tlen = len - PF_HEAD - hs_len;
  if (tlen < sizeof sc || (tlen & 7) || vav_hash64(tab, tlen, 0) != tab_sum) return -EINVAL;
  memcpy(sc, tab, sizeof sc);
  at = sizeof sc;
  uint64_t blob_len = vav_db_blob(d, &blob);
  if (sc[0] != blob_len || sc[2] != PF_STRIDE || sc[3] != sample_over ||
      sc[4] != (PF_SEG_SLACK ^ PF_SEG_REACH << 16) || sc[5] != n || sc[6] == 0 || sc[6] > n || sc[7] == 0 ||
      sc[7] > sc[6] || sc[8] > UINT32_MAX || sc[9] > UINT32_MAX || sc[10] > UINT32_MAX || sc[11] > UINT32_MAX ||
      !rel_ok((int64_t)sc[12]) || !rel_ok((int64_t)sc[13]) || (int64_t)sc[12] > (int64_t)sc[13] ||
      sc[16] > sc[7] || sc[15] != sc[16] * PF_STRIDE || (sc[15] && (sc[14] < 10 || sc[14] > 22)) ||
      sc[17] > tlen || vav_hash64(blob, blob_len, 0) != sc[1])
    return -EINVAL;
  pf->nlits = (uint32_t)sc[6];
  pf->nuniq = (uint32_t)sc[7];
  pf->progs_pf = (uint32_t)sc[8];
  pf->progs_slow = (uint32_t)sc[9];
  pf->sigs_pf = (uint32_t)sc[10];
  pf->sigs_slow = (uint32_t)sc[11];
  pf->dmin = (int64_t)sc[12];
  pf->dmax = (int64_t)sc[13];
  uint64_t nsent = sc[15], sb = sc[17];
  if (!take(tab, tlen, &at, &pf->claimed, n, 1) || !take(tab, tlen, &at, &pf->is_lit, n, 1) ||
      !take(tab, tlen, &at, &pf->back, n, 4) || !take(tab, tlen, &at, &pf->seg_first, n, 4) ||
      !take(tab, tlen, &at, &pf->seg_last, n, 4) || !take(tab, tlen, &at, &pf->rel_lo, n, 8) ||
      !take(tab, tlen, &at, &pf->rel_hi, n, 8) || !take(tab, tlen, &at, &pf->group_parts, pf->nlits, 4) ||
      !take(tab, tlen, &at, &pf->group_start, (uint64_t)pf->nuniq + 1, 4) ||
      !take(tab, tlen, &at, &pf->sampled, pf->nuniq, 1))
    return -EINVAL;
  uint64_t nlit = 0;
  for (uint64_t i = 0; i < n; i++) {
    if (pf->claimed[i] > 1 || pf->is_lit[i] > 1 || (pf->is_lit[i] && !pf->claimed[i])) return -EINVAL;
    if (!rel_ok(pf->rel_lo[i]) || !rel_ok(pf->rel_hi[i])) return -EINVAL;
    if (!pf->is_lit[i]) continue;
    nlit++;
    if (pf->seg_first[i] > i || pf->seg_last[i] < i || pf->seg_last[i] >= n || pf->back[i] > shp[i].width)
      return -EINVAL;
  }
  if (nlit != pf->nlits || pf->group_start[0] != 0 || pf->group_start[pf->nuniq] != pf->nlits) return -EINVAL;
  for (uint32_t u = 0; u < pf->nuniq; u++)
    if (pf->group_start[u + 1] <= pf->group_start[u]) return -EINVAL;
  for (uint32_t g = 0; g < pf->nlits; g++)
    if (pf->group_parts[g] >= n || !pf->is_lit[pf->group_parts[g]]) return -EINVAL;
  uint64_t nsampled = 0;
  for (uint32_t u = 0; u < pf->nuniq; u++) {
    if (pf->sampled[u] > 1) return -EINVAL;
    nsampled += pf->sampled[u];
  }
  if (nsampled != sc[16] || (!nsent && sb)) return -EINVAL;
  pf->checksum = sc[18]; /* the literal choice's, as computed when compiled: attach compares the header's */
  if (!nsent) return at == tlen ? 0 : -EINVAL;
  if (!take(tab, tlen, &at, &pf->sat, pf->nuniq, 8) || !take(tab, tlen, &at, &pf->slen, pf->nuniq, 4) ||
      !take(tab, tlen, &at, &pf->sbytes, sb, 1) || !take(tab, tlen, &at, &pf->sent, nsent, 8) || at != tlen)
    return -EINVAL;
  for (uint32_t u = 0; u < pf->nuniq; u++)
    if (pf->sampled[u] && (pf->slen[u] == 0 || pf->sat[u] > sb || pf->slen[u] > sb - pf->sat[u])) return -EINVAL;
  uint32_t bits = (uint32_t)sc[14];
  pf->sbits = bits;
  pf->nsent = (uint32_t)nsent;
  pf->nsampled = (uint32_t)nsampled;
  pf->sbm = calloc(1ull << bits, sizeof(uint64_t));
  pf->sstart = calloc((1ull << bits) + 1, sizeof(uint32_t));
  if (!pf->sbm || !pf->sstart) return -ENOMEM;
  uint64_t prev = 0;
  for (uint32_t i = 0; i < pf->nsent; i++) {
    uint64_t e = pf->sent[i], h = shash((uint32_t)(e >> 32)), w = h >> (64 - bits);
    uint32_t u = (uint32_t)e >> 3;
    /* sample() looks a key up in its bucket's run: the entries must be sorted by bucket */
    if (u >= pf->nuniq || !pf->sampled[u] || (e & 7) >= PF_STRIDE || w < prev) return -EINVAL;
    prev = w;
    pf->sbm[w] |= smask(h);
    pf->sstart[w + 1]++;
  }
  for (uint64_t i = 0; i < (1ull << bits); i++) pf->sstart[i + 1] += pf->sstart[i];
  pf->smem = ((sizeof(uint64_t) + sizeof(uint32_t)) << bits) + (uint64_t)pf->nsent * sizeof(uint64_t) +
             (uint64_t)pf->nuniq * (1 + sizeof(uint64_t) + sizeof(uint32_t)) + sb;
  return 0;
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
  pf->is_lit = calloc(n + 1, 1);
  pf->back = calloc(n + 1, sizeof(uint32_t));
  pf->key_off = calloc(n + 1, sizeof(uint32_t));
  pf->key = calloc(n + 1, sizeof(uint32_t));
  pf->key_len = calloc(n + 1, 1);
  pf->seg_first = calloc(n + 1, sizeof(uint32_t));
  pf->seg_last = calloc(n + 1, sizeof(uint32_t));
  pf->rel_lo = calloc(n + 1, sizeof(int64_t));
  pf->rel_hi = calloc(n + 1, sizeof(int64_t));
  uint32_t *lit_off = calloc(n + 1, sizeof(uint32_t)), *lit_len = calloc(n + 1, sizeof(uint32_t));
  uint64_t *score = calloc(n + 1, sizeof(uint64_t));
  vav_part_shape_t *shp = calloc(n + 1, sizeof *shp);
  uint8_t *v = NULL, *ex = NULL, *sig_slow = NULL, *sig_seen = NULL, *pool = NULL;
  uint64_t *lit_at = calloc(n + 1, sizeof(uint64_t)), pool_len = 0, pool_cap = 0;
  int rc = -ENOMEM;
  if (!pf->claimed || !pf->is_lit || !pf->back || !pf->key_off || !pf->key || !pf->key_len || !pf->seg_first ||
      !pf->seg_last || !pf->rel_lo || !pf->rel_hi || !lit_off || !lit_len || !lit_at || !score || !shp)
    goto fail;
  for (uint32_t i = 0; i < n; i++) {
    vav_part_shape(d, i, &shp[i]);
    if (shp[i].width > maxw) maxw = shp[i].width;
    if (shp[i].sig > maxsig) maxsig = shp[i].sig;
    pf->key_off[i] = shp[i].key_off;
    pf->key[i] = shp[i].key;
    pf->key_len[i] = (uint8_t)shp[i].key_len;
  }
  if (ser && len) { /* the serialised tables instead of the literal choice, then Hyperscan's bytes */
    rc = restore_tables(pf, d, shp, ser, len);
    if (rc == -EINVAL) say(msg, cap, "%s", "the cached prefilter's tables do not check out");
    if (rc < 0) goto fail;
    rc = attach(pf, ser, len, msg, cap);
    pf->state = 2;
    if (rc < 0) goto fail;
    goto ready;
  }
  v = malloc(maxw + 1);
  ex = malloc(maxw + 1);
  sig_slow = calloc(maxsig + 2, 1);
  sig_seen = calloc(maxsig + 2, 1);
  if (!v || !ex || !sig_slow || !sig_seen) goto fail;
  /* Each part's best literal; then each program is cut into segments (see seg_split) and
   * each segment gets the best literal of its parts. A signature is claimed when every segment
   * of every one of its variants has a literal long enough: each signature then lives on one
   * path, so the one that finds it first (and the offset reported) is the key loop's. */
  pf->checksum = 0xcbf29ce484222325ull;
  fnv(&pf->checksum, &n, sizeof n);
  const uint32_t tune[3] = {PF_STRIDE, sample_over, PF_SEG_SLACK ^ PF_SEG_REACH << 16};
  fnv(&pf->checksum, tune, sizeof tune);
  pf->dmin = INT64_MAX;
  pf->dmax = INT64_MIN;
  for (uint32_t i = 0; i < n; i++) {
    const vav_part_shape_t *sh = &shp[i];
    vav_part_bytes(d, i, v, ex);
    score[i] = choose(v, ex, sh->width, &lit_off[i], &lit_len[i]);
    sig_seen[sh->sig] = 1;
  }
  for (uint32_t i = 0; i < n;) {
    uint32_t first = i, last = i + shp[i].nparts - 1;
    i = last + 1;
    for (uint32_t f = first; f <= last;) {
      uint32_t l = seg_end(shp, f, last), j = UINT32_MAX;
      for (uint32_t k = f; k <= l; k++) {
        /* a last part that may run past the buffer's end is found there without its literal
         * (the tail loop): the literal of a longer segment must lie in one of its other parts */
        if (k == last && shp[k].head && l > f) continue;
        if (j == UINT32_MAX || score[k] > score[j] || (score[k] == score[j] && lit_len[k] > lit_len[j])) j = k;
      }
      if (lit_len[j] < VAV_PF_MIN_LIT) sig_slow[shp[f].sig] = 1;
      pf->is_lit[j] = 1;
      pf->back[j] = lit_off[j] + lit_len[j];
      pf->seg_first[j] = f;
      pf->seg_last[j] = l;
      pf->rel_lo[j] = pf->rel_hi[j] = 0;
      for (uint32_t k = j + 1; k <= l; k++) {
        int64_t step = (int64_t)shp[k - 1].width - shp[k - 1].trail - shp[k].lead;
        pf->rel_lo[k] = pf->rel_lo[k - 1] + step + shp[k].gap_min;
        pf->rel_hi[k] = pf->rel_hi[k - 1] + step + shp[k].gap_max;
      }
      for (uint32_t k = j; k-- > f;) {
        int64_t step = (int64_t)shp[k].width - shp[k].trail - shp[k + 1].lead;
        pf->rel_lo[k] = pf->rel_lo[k + 1] - step - shp[k + 1].gap_max;
        pf->rel_hi[k] = pf->rel_hi[k + 1] - step - shp[k + 1].gap_min;
      }
      f = l + 1;
    }
  }
  for (uint32_t i = 0; i < n;) {
    uint32_t first = i;
    i += shp[i].nparts;
    if (sig_slow[shp[first].sig]) {
      pf->progs_slow++;
      for (uint32_t k = first; k < i; k++) pf->is_lit[k] = 0;
      continue;
    }
    pf->progs_pf++;
    for (uint32_t k = first; k < i; k++) {
      pf->claimed[k] = 1;
      fnv(&pf->checksum, &k, sizeof k);
      if (!pf->is_lit[k]) continue;
      pf->nlits++;
      for (uint32_t q = pf->seg_first[k]; q <= pf->seg_last[k]; q++) {
        /* where this literal lies from the keys of its segment's parts (the windows' reach) */
        int64_t lo = (int64_t)lit_off[k] - pf->rel_hi[q] - pf->key_off[q];
        int64_t hi = (int64_t)pf->back[k] - pf->rel_lo[q] - pf->key_off[q];
        if (lo < pf->dmin) pf->dmin = lo;
        if (hi > pf->dmax) pf->dmax = hi;
        fnv(&pf->checksum, &q, sizeof q);
        fnv(&pf->checksum, &pf->rel_lo[q], sizeof pf->rel_lo[q]);
        fnv(&pf->checksum, &pf->rel_hi[q], sizeof pf->rel_hi[q]);
      }
      vav_part_bytes(d, k, v, ex);
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
    rc = sampler(pf, &l);
    if (rc < 0) goto fail;
    rc = compile(pf, &l, msg, cap);
    pf->state = 1;
    if (rc < 0) goto fail;
  }
ready:
  if (pf->db) {
    if (hs_alloc_scratch(pf->db, &pf->scratch) != HS_SUCCESS) {
      rc = -ENOMEM;
      goto fail;
    }
    hs_database_size(pf->db, &pf->db_bytes);
    pf->db_bytes += pf->smem; /* and the sampler's tables */
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
  free(score);
  free(shp);
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
  free(score);
  free(shp);
  free(lit_at);
  free(pool);
  free(v);
  free(ex);
  free(sig_slow);
  free(sig_seen);
  vav_pf_free(pf);
  return rc;
}

static int push(struct vav_pf *pf, uint64_t key, uint32_t part) {
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
  return 0;
}

/* A literal at [.., e): its part there, and every position of its segment's other parts (within
 * their distance from it) where their key is, as candidates of this window. */
static int on_match(unsigned id, unsigned long long from, unsigned long long to, unsigned flags, void *ctx) {
  (void)from;
  (void)flags;
  struct vav_pf *pf = ctx;
  if (id >= pf->nuniq) return 0;
  uint64_t e = pf->r0 + to;
  for (uint32_t g = pf->group_start[id]; g < pf->group_start[id + 1]; g++) {
    uint32_t j = pf->group_parts[g];
    if (e < pf->back[j]) continue;
    int64_t sj = (int64_t)(e - pf->back[j]);
    for (uint32_t i = pf->seg_first[j]; i <= pf->seg_last[j]; i++) {
      int64_t lo = sj + pf->rel_lo[i], hi = sj + pf->rel_hi[i];
      if (lo < 0) lo = 0;
      if (hi < lo) continue;
      uint64_t klo = (uint64_t)lo + pf->key_off[i], khi = (uint64_t)hi + pf->key_off[i];
      uint32_t kl = pf->key_len[i];
      if (klo < pf->a) klo = pf->a;
      if (khi >= pf->b) khi = pf->b - 1;
      if (pf->len < kl) continue;
      if (khi > pf->len - kl) khi = pf->len - kl;
      if (i == j) { /* the literal's own part: its key is inside the literal's bytes or verified later */
        if (klo <= khi && push(pf, klo, i)) return 1;
        continue;
      }
      for (uint64_t x = klo; x <= khi; x++) {
        uint32_t k = 0;
        memcpy(&k, pf->buf + x, kl);
        if (k == pf->key[i] && push(pf, x, i)) return 1;
      }
    }
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
    pf->buf = buf;
    pf->len = len;
    pf->err = 0;
    pf->r0 = r0;
    pf->a = a;
    pf->b = b;
    hs_error_t e = hs_scan(pf->db, (const char *)buf + r0, (unsigned)(r1 - r0), 0, pf->scratch, on_match, pf);
    if (e == HS_SUCCESS && !pf->err && pf->nsent) sample(pf, buf, r0, r1);
    if (pf->err || (e != HS_SUCCESS && e != HS_SCAN_TERMINATED)) {
      vav_ctx_fail(ctx, pf->err ? pf->err : -EIO);
      return 0;
    }
    if (!pf->sorted) qsort(pf->cand, pf->ncand, sizeof *pf->cand, cmp_u64);
    for (size_t i = 0; i < pf->ncand; i++) {
      if (i && pf->cand[i] == pf->cand[i - 1]) continue; /* found around two literal matches */
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
  uint64_t tlen = put_tables(pf, d, NULL), total = PF_HEAD + (uint64_t)n + tlen;
  if (out && cap >= total) {
    uint32_t h[4] = {PF_MAGIC, PF_FORMAT, pf->nlits, VAV_PF_MIN_LIT};
    uint64_t hs_len = n, hs_sum = bytes_hash((const uint8_t *)bytes, n);
    put_tables(pf, d, out + PF_HEAD + n);
    uint64_t tab_sum = vav_hash64(out + PF_HEAD + n, tlen, 0);
    memcpy(out, h, 16);
    memcpy(out + 16, &pf->checksum, 8);
    memcpy(out + 24, &hs_len, 8);
    memcpy(out + 32, &hs_sum, 8);
    memcpy(out + 40, &tab_sum, 8);
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
