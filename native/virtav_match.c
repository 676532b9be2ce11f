/* virtav matcher: multi-pattern search for ClamAV body signatures.
 *
 * The compiled database (lib/virtav/compile.ts) lists programs (one per signature variant),
 * each a chain of fixed-width parts separated by gaps [min, max]. Every part has an anchor of
 * >= 2 exact bytes and a 2- or 4-byte key inside it. The scan is one pass: at each position a
 * hashed 4-byte key (and, if any part has a short anchor, a 2-byte key) is tested in a bitmap;
 * a hit looks up the parts with that key and verifies each in full (wildcards, nibbles,
 * alternatives). A verified part i > 0 counts only if part i-1 ended within its gap before;
 * the ends of each part are kept in a per-part queue (a single earliest end when the gap is
 * unbounded), so the search finds a match if one exists, as clamscan --allmatch does.
 * Keys are met in increasing position, and part i-1 always ends before part i's key, so the
 * predecessors of a part are always known when it is verified. */
#include "virtav.h"
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC 0x31564156u /* "VAV1" */
#define BLOB_VERSION 5
#define HDR_WORDS 12
#define VAV_MAX_SIGS (1u << 24) /* signatures in one compiled database (docs/limits.md) */
#define HB 20             /* bits of the 4-byte key hash */
#define INF32 0xffffffffu
#define MAX_TRACK (1u << 20)
#define MAX_DBS 64
#define VAV_POLL (1u << 20) /* bytes between two looks at the cancel flag */

typedef struct {
  uint32_t sig, first_part, nparts, off_kind;
  uint32_t base_lo, base_hi, range_lo, range_hi;
} prog_rec;

typedef struct {
  uint32_t first_atom, natoms, width, gap_min, gap_max, key_off, key_len, anchor_off, anchor_len, prog;
  uint32_t lead, trail; /* `aa[x-y]` / `[x-y]bb` side bytes outside the core */
  uint32_t edges;       /* (B)/(L)/(W) checks before (bits 0-3) and after (4-7) the core */
  uint32_t head;        /* last parts: bytes that must be in the buffer for a match running past
                           its end (clamscan's entry point, see Part.head); 0: never */
  uint32_t min_end;     /* with head: bytes from the part's start that must be in the buffer */
  uint32_t cpart;       /* the clamscan part this one is a variant of (~0: none, see cm_findmatch) */
  uint32_t trig_off;    /* with cpart: offset of clamscan's entry point from the part's start */
} part_rec;

/* The un-expanded part clamscan searches from its Aho-Corasick entry (hex_signature.ts ClamPart). */
typedef struct {
  uint32_t first_unit, nunits, ppos, depth, len1, plen1, edges;
  uint32_t lch, lch_min, lch_max, rch, rch_min, rch_max; /* side bytes: val | mask << 8 | 1 << 16 */
} cpart_rec;

enum { CU_BYTE, CU_ALT, CU_GEN, CU_LINE, CU_BOUND, CU_WORD };

typedef struct {
  uint32_t kind, arg, first_member, nmembers; /* arg: val | mask << 8 (byte), else negated */
} cunit_rec;

typedef struct {
  uint32_t len, unique, pool_off;
} cmember_rec;

typedef struct {
  uint32_t kind, width, nalts, pool_off;
} atom_rec;

typedef struct {
  uint32_t key, part;
} anchor;

typedef struct {
  uint64_t end, origin;
} track_ent;

typedef struct {
  uint32_t epoch, head, count, cap;
  track_ent *ents;
} tracker;

struct vav_db {
  uint8_t *blob;
  uint64_t blob_len;
  int blob_owned; /* 0: the caller's memory, used in place (VAV_DB_IN_PLACE) */
  const prog_rec *progs;
  const part_rec *parts;
  const atom_rec *atoms;
  const cpart_rec *cparts;
  const cunit_rec *cunits;
  const cmember_rec *cmembers;
  const uint8_t *pool;
  uint32_t nsigs, nprogs, nparts, natoms, pool_len, ncparts, ncunits, ncmembers;
  uint32_t *tbase; /* per program: index of its first tracker */
  uint32_t ntrk;
  uint8_t *bm4;
  uint32_t *start4;
  anchor *a4;
  uint32_t n4;
  uint8_t bm2[8192];
  uint32_t *start2;
  anchor *a2;
  uint32_t n2;
  tracker *trk;
  uint32_t *tail_start; /* parts that may run past the end, by the 2 bytes ending their head */
  uint32_t *tail_parts;
  uint8_t tail_bm[8192];
  uint32_t ntail, tail_max;
  uint32_t *sig_epoch;
  uint32_t *fb_epoch; /* per program: the scan (epoch) that sent it to the exact scan */
  uint32_t epoch;
  pthread_mutex_t lock;
  struct vav_pf *pf; /* the Hyperscan prefilter (virtav_prefilter.c), NULL when off */
};

/* Interruptible scans: SIGINT/SIGTERM arriving during a native scan set a flag the scan loop
 * polls every VAV_POLL bytes; the scan then returns what it found so far with stats[VAV_ST_CANCELLED]
 * set. The handler chains to the one installed before (Deno's), so the JS side still sees the signal. */
static volatile sig_atomic_t cancel_flag;
static struct sigaction prev_int, prev_term;
static pthread_once_t sig_once = PTHREAD_ONCE_INIT;

static void chain(const struct sigaction *p, int sig, siginfo_t *si, void *uc) {
  if (p->sa_flags & SA_SIGINFO) {
    if (p->sa_sigaction) p->sa_sigaction(sig, si, uc);
  } else if (p->sa_handler != SIG_DFL && p->sa_handler != SIG_IGN && p->sa_handler) {
    p->sa_handler(sig);
  }
}

static void on_signal(int sig, siginfo_t *si, void *uc) {
  cancel_flag = 1;
  chain(sig == SIGINT ? &prev_int : &prev_term, sig, si, uc);
}

static void install(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_signal;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &prev_int);
  sigaction(SIGTERM, &sa, &prev_term);
}

int32_t vav_cancel_reset(void) {
  pthread_once(&sig_once, install);
  cancel_flag = 0;
  return 0;
}

int32_t vav_cancel(void) {
  cancel_flag = 1;
  return 0;
}

static struct vav_db *dbs[MAX_DBS];
static void class_init(void);
static pthread_once_t class_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t dbs_lock = PTHREAD_MUTEX_INITIALIZER;

static inline uint32_t hash4(uint32_t k) { return (k * 0x9E3779B1u) >> (32 - HB); }

static void db_destroy(struct vav_db *d) {
  if (!d) return;
  vav_pf_free(d->pf);
  if (d->trk)
    for (uint32_t i = 0; i < d->ntrk; i++) free(d->trk[i].ents);
  free(d->trk);
  free(d->sig_epoch);
  free(d->fb_epoch);
  free(d->tbase);
  free(d->bm4);
  free(d->start4);
  free(d->a4);
  free(d->start2);
  free(d->a2);
  free(d->tail_start);
  free(d->tail_parts);
  if (d->blob_owned) free(d->blob);
  free(d);
}

/* Sorts `a` by bucket (hash4 of the key, or the key itself) in O(n), stably, and fills
 * start[0..nb] (zeroed by the caller) with each bucket's first index. */
static int bucket_sort(anchor *a, uint32_t n, uint32_t *start, uint32_t nb, int hashed) {
  if (!n) return 0;
  anchor *tmp = malloc((size_t)n * sizeof *tmp);
  if (!tmp) return -ENOMEM;
  memcpy(tmp, a, (size_t)n * sizeof *tmp);
  for (uint32_t i = 0; i < n; i++) start[(hashed ? hash4(tmp[i].key) : tmp[i].key) + 1]++;
  for (uint32_t b = 0; b < nb; b++) start[b + 1] += start[b];
  for (uint32_t i = 0; i < n; i++) a[start[hashed ? hash4(tmp[i].key) : tmp[i].key]++] = tmp[i];
  for (uint32_t b = nb; b > 0; b--) start[b] = start[b - 1]; /* cursors (bucket ends) back to starts */
  start[0] = 0;
  free(tmp);
  return 0;
}

/* Validates the blob's whole structure, so a damaged or crafted cache file can never make the
 * load or the scan read or write out of bounds: every program's parts are its own and in order,
 * every part's atoms and every atom's pool bytes lie inside their tables, widths add up, the key
 * and anchor lie in the core, and the tracker total cannot overflow. */
static int db_validate(const struct vav_db *d) {
  uint64_t next_part = 0, trackers = 0;
  for (uint32_t i = 0; i < d->nprogs; i++) {
    const prog_rec *p = &d->progs[i];
    if (p->sig >= d->nsigs || p->nparts == 0 || p->first_part != next_part || p->off_kind > 2)
      return -EINVAL;
    if ((uint64_t)p->first_part + p->nparts > d->nparts) return -EINVAL;
    for (uint32_t k = 0; k < p->nparts; k++)
      if (d->parts[p->first_part + k].prog != i) return -EINVAL;
    next_part += p->nparts;
    trackers += p->nparts - 1;
  }
  if (next_part != d->nparts || trackers >= UINT32_MAX / 2) return -EINVAL;
  uint64_t next_atom = 0;
  for (uint32_t i = 0; i < d->nparts; i++) {
    const part_rec *p = &d->parts[i];
    if (p->first_atom != next_atom || p->natoms == 0 || (uint64_t)p->first_atom + p->natoms > d->natoms)
      return -EINVAL;
    next_atom += p->natoms;
    if (p->width == 0 || p->width > (1u << 24)) return -EINVAL;
    if ((p->key_len != 2 && p->key_len != 4) || (uint64_t)p->key_off + p->key_len > p->width) return -EINVAL;
    if ((uint64_t)p->anchor_off + p->anchor_len > p->width || p->anchor_len < p->key_len) return -EINVAL;
    /* the key lies in the core, so parts' keys come in part order (see the header comment) */
    if ((uint64_t)p->lead + p->trail >= p->width || p->key_off < p->lead ||
        (uint64_t)p->key_off + p->key_len > (uint64_t)p->width - p->trail)
      return -EINVAL;
    if (p->gap_max != INF32 && p->gap_max < p->gap_min) return -EINVAL;
    if (p->head && (p->head < 2 || p->min_end < p->head || p->min_end >= p->width || p->trail)) return -EINVAL;
    for (int side = 0; side < 2; side++) {
      uint32_t e = (p->edges >> (4 * side)) & 0xf;
      if ((e & 3) == 0 ? e != 0 : (e & 8) != 0 || (side == 0 && (e & 4))) return -EINVAL;
    }
    if (p->edges >> 8) return -EINVAL;
    uint64_t w = 0;
    for (uint32_t a = 0; a < p->natoms; a++) {
      const atom_rec *t = &d->atoms[p->first_atom + a];
      if (t->kind > 3 || t->width == 0 || t->width > p->width) return -EINVAL;
      if ((t->kind == 1 || t->kind == 2) && t->nalts == 0) return -EINVAL;
      uint64_t need = (uint64_t)t->width * 2 * ((t->kind == 0 || t->kind == 3) ? 1 : t->nalts);
      if ((uint64_t)t->pool_off + need > d->pool_len) return -EINVAL;
      w += t->width;
    }
    if (w != p->width) return -EINVAL;
    if (p->cpart != INF32 && (p->cpart >= d->ncparts || p->trig_off >= p->width)) return -EINVAL;
  }
  if (next_atom != d->natoms) return -EINVAL;
  for (uint32_t i = 0; i < d->ncparts; i++) {
    const cpart_rec *c = &d->cparts[i];
    if ((uint64_t)c->first_unit + c->nunits > d->ncunits || c->nunits == 0) return -EINVAL;
    if (c->depth == 0 || (uint64_t)c->ppos + c->depth > c->nunits) return -EINVAL;
    for (uint32_t k = c->ppos; k < c->ppos + c->depth; k++)
      if (d->cunits[c->first_unit + k].kind != CU_BYTE) return -EINVAL;
    if (c->edges >> 8 || (c->edges & 0xc) != 0) return -EINVAL;
    uint32_t r = c->edges >> 4;
    if (r && ((r & 3) == 0 || (r & 8))) return -EINVAL;
    if (c->lch >> 17 || c->lch_min > c->lch_max || c->lch_max > 32) return -EINVAL;
    if (c->rch >> 17 || c->rch_min > c->rch_max || c->rch_max > 32) return -EINVAL;
  }
  for (uint32_t i = 0; i < d->ncunits; i++) {
    const cunit_rec *u = &d->cunits[i];
    if (u->kind > CU_WORD) return -EINVAL;
    if (u->kind == CU_BYTE) {
      if (u->arg >> 16 || u->nmembers) return -EINVAL;
      continue;
    }
    if (u->arg > 1) return -EINVAL;
    if (u->kind != CU_ALT && u->kind != CU_GEN) {
      if (u->nmembers) return -EINVAL;
      continue;
    }
    if (u->nmembers == 0 || (uint64_t)u->first_member + u->nmembers > d->ncmembers) return -EINVAL;
    for (uint32_t j = 0; j < u->nmembers; j++) {
      const cmember_rec *m = &d->cmembers[u->first_member + j];
      if (u->kind == CU_ALT && (m->len == 0 || m->len != d->cmembers[u->first_member].len)) return -EINVAL;
    }
    if (u->kind == CU_GEN && u->arg) return -EINVAL;
  }
  for (uint32_t i = 0; i < d->ncmembers; i++) {
    const cmember_rec *m = &d->cmembers[i];
    if (m->len > (1u << 16) || m->unique > 1 || (uint64_t)m->pool_off + 2ull * m->len > d->pool_len) return -EINVAL;
  }
  return 0;
}

/* The byte at offset `o` of part `p` if it is exact (mask 0xff), else -1. */
static int part_exact_byte(const struct vav_db *d, const part_rec *p, uint32_t o) {
  uint32_t pos = 0;
  for (uint32_t a = 0; a < p->natoms; a++) {
    const atom_rec *t = &d->atoms[p->first_atom + a];
    if (o < pos + t->width) {
      if (t->kind != 0 && t->kind != 3) return -1;
      const uint8_t *v = d->pool + t->pool_off, *m = v + t->width;
      return m[o - pos] == 0xff ? v[o - pos] : -1;
    }
    pos += t->width;
  }
  return -1;
}

int32_t vav_db_load(const uint8_t *blob, uint64_t len) { return vav_db_load_pf(blob, len, NULL, 0, 0, NULL, 0); }

int32_t vav_db_load_pf(const uint8_t *blob, uint64_t len, const uint8_t *pf, uint64_t pf_len, uint32_t pf_flags,
                       char *msg, uint32_t msg_cap) {
  if (!blob || len < HDR_WORDS * 4) return -EINVAL;
  pthread_once(&class_once, class_init);
  const uint32_t *h = (const uint32_t *)blob;
  if (h[0] != MAGIC || h[1] != BLOB_VERSION) return -EINVAL;
  struct vav_db *d = calloc(1, sizeof *d);
  if (!d) return -ENOMEM;
  d->nsigs = h[2];
  d->nprogs = h[3];
  d->nparts = h[4];
  d->natoms = h[5];
  d->pool_len = h[6];
  d->ncparts = h[7];
  d->ncunits = h[8];
  d->ncmembers = h[9];
  uint64_t need = HDR_WORDS * 4 + (uint64_t)d->nprogs * sizeof(prog_rec) + (uint64_t)d->nparts * sizeof(part_rec) +
                  (uint64_t)d->natoms * sizeof(atom_rec) + (uint64_t)d->ncparts * sizeof(cpart_rec) +
                  (uint64_t)d->ncunits * sizeof(cunit_rec) + (uint64_t)d->ncmembers * sizeof(cmember_rec) +
                  d->pool_len;
  int rc = -EINVAL;
  if (need != len || h[10] != 0 || h[11] != 0 || d->nsigs > VAV_MAX_SIGS) goto fail;
  rc = -ENOMEM;
  if ((pf_flags & VAV_DB_IN_PLACE) && ((uintptr_t)blob & 7) == 0) {
    d->blob = (uint8_t *)blob; /* a read-only mapping (the cache): validated below like a copy */
  } else {
    d->blob = malloc(len);
    if (!d->blob) goto fail;
    d->blob_owned = 1;
    memcpy(d->blob, blob, len);
  }
  d->blob_len = len;
  d->progs = (const prog_rec *)(d->blob + HDR_WORDS * 4);
  d->parts = (const part_rec *)(d->progs + d->nprogs);
  d->atoms = (const atom_rec *)(d->parts + d->nparts);
  d->cparts = (const cpart_rec *)(d->atoms + d->natoms);
  d->cunits = (const cunit_rec *)(d->cparts + d->ncparts);
  d->cmembers = (const cmember_rec *)(d->cunits + d->ncunits);
  d->pool = (const uint8_t *)(d->cmembers + d->ncmembers);
  rc = db_validate(d);
  if (rc < 0) goto fail;
  rc = vav_pf_setup(d, &d->pf, pf, pf_len, pf_flags, msg, msg_cap); /* parts it claims leave the index */
  if (rc < 0) goto fail;
  rc = -ENOMEM;
  d->tbase = calloc(d->nprogs + 1, sizeof(uint32_t));
  d->sig_epoch = calloc(d->nsigs + 1, sizeof(uint32_t));
  d->fb_epoch = calloc(d->nprogs + 1, sizeof(uint32_t));
  if (!d->tbase || !d->sig_epoch || !d->fb_epoch) goto fail;
  for (uint32_t i = 0; i < d->nprogs; i++) {
    d->tbase[i] = d->ntrk;
    d->ntrk += d->progs[i].nparts - 1;
  }
  d->trk = calloc(d->ntrk + 1, sizeof(tracker));
  d->bm4 = calloc(1u << (HB - 3), 1);
  d->start4 = calloc((1u << HB) + 1, sizeof(uint32_t));
  d->start2 = calloc(65537, sizeof(uint32_t));
  d->a4 = calloc(d->nparts + 1, sizeof(anchor));
  d->a2 = calloc(d->nparts + 1, sizeof(anchor));
  if (!d->trk || !d->bm4 || !d->start4 || !d->start2 || !d->a4 || !d->a2) goto fail;
  rc = -EINVAL;
  for (uint32_t i = 0; i < d->nparts; i++) {
    const part_rec *p = &d->parts[i];
    uint32_t key = 0;
    for (uint32_t k = 0; k < p->key_len; k++) {
      int b = part_exact_byte(d, p, p->key_off + k);
      if (b < 0) goto fail; /* the key must be exact bytes (the prefilter looks for it too) */
      key |= (uint32_t)b << (8 * k);
    }
    if (vav_pf_claims(d->pf, i)) continue;
    if (p->key_len == 4) d->a4[d->n4++] = (anchor){key, i};
    else d->a2[d->n2++] = (anchor){key, i};
  }
  /* counting sorts (stable: a bucket keeps its parts in order), by the key's hash / the key */
  if (bucket_sort(d->a4, d->n4, d->start4, 1u << HB, 1) < 0 || bucket_sort(d->a2, d->n2, d->start2, 65536, 0) < 0) {
    rc = -ENOMEM;
    goto fail;
  }
  for (uint32_t i = 0; i < d->n4; i++) {
    uint32_t hh = hash4(d->a4[i].key);
    d->bm4[hh >> 3] |= (uint8_t)(1u << (hh & 7));
  }
  for (uint32_t i = 0; i < d->n2; i++) {
    uint32_t k = d->a2[i].key;
    d->bm2[k >> 3] |= (uint8_t)(1u << (k & 7));
  }
  /* the tail index: last parts with a head, keyed by the two exact bytes that end it */
  d->tail_start = calloc(65537, sizeof(uint32_t));
  d->tail_parts = calloc(d->nparts + 1, sizeof(uint32_t));
  if (!d->tail_start || !d->tail_parts) {
    rc = -ENOMEM;
    goto fail;
  }
  for (int pass = 0; pass < 2; pass++) {
    uint32_t *fill = NULL;
    if (pass == 1) {
      for (uint32_t i = 0; i < 65536; i++) d->tail_start[i + 1] += d->tail_start[i];
      fill = calloc(65536, sizeof(uint32_t));
      if (!fill) {
        rc = -ENOMEM;
        goto fail;
      }
    }
    for (uint32_t i = 0; i < d->nparts; i++) {
      const part_rec *p = &d->parts[i];
      const prog_rec *pr = &d->progs[p->prog];
      if (!p->head || i != pr->first_part + pr->nparts - 1) continue;
      int b0 = part_exact_byte(d, p, p->head - 2), b1 = part_exact_byte(d, p, p->head - 1);
      if (b0 < 0 || b1 < 0) {
        free(fill);
        rc = -EINVAL;
        goto fail;
      }
      uint32_t k = (uint32_t)b0 | (uint32_t)b1 << 8;
      if (pass == 0) {
        d->tail_start[k + 1]++;
        d->tail_bm[k >> 3] |= (uint8_t)(1u << (k & 7));
        d->ntail++;
        if (p->width > d->tail_max) d->tail_max = p->width;
      } else {
        d->tail_parts[d->tail_start[k] + fill[k]++] = i;
      }
    }
    free(fill);
  }
  pthread_mutex_init(&d->lock, NULL);
  pthread_mutex_lock(&dbs_lock);
  for (int i = 0; i < MAX_DBS; i++) {
    if (!dbs[i]) {
      dbs[i] = d;
      pthread_mutex_unlock(&dbs_lock);
      return i;
    }
  }
  pthread_mutex_unlock(&dbs_lock);
  rc = -EMFILE;
fail:
  db_destroy(d);
  return rc;
}

/* Checks a blob's structure without building an index (the cache loader's test). */
int32_t vav_db_check(const uint8_t *blob, uint64_t len) {
  int32_t h = vav_db_load(blob, len);
  if (h < 0) return h;
  vav_db_free(h);
  return 0;
}

struct vav_db *vav_db_get(int32_t db) {
  if (db < 0 || db >= MAX_DBS) return NULL;
  pthread_mutex_lock(&dbs_lock);
  struct vav_db *d = dbs[db];
  pthread_mutex_unlock(&dbs_lock);
  return d;
}

int32_t vav_db_free(int32_t db) {
  if (db < 0 || db >= MAX_DBS) return -EBADF;
  pthread_mutex_lock(&dbs_lock);
  struct vav_db *d = dbs[db];
  dbs[db] = NULL;
  pthread_mutex_unlock(&dbs_lock);
  if (!d) return -EBADF;
  pthread_mutex_destroy(&d->lock);
  db_destroy(d);
  return 0;
}

int64_t vav_db_info(int32_t db, uint64_t *info) {
  struct vav_db *d = vav_db_get(db);
  if (!d) return -EBADF;
  if (!info) return -EINVAL;
  info[0] = d->nsigs;
  info[1] = d->nprogs;
  info[2] = d->nparts;
  info[3] = d->n4;
  info[4] = d->n2;
  info[5] = (1u << (HB - 3)) + ((1u << HB) + 1) * 4ull + 65537 * 4ull + (d->n4 + d->n2) * sizeof(anchor);
  info[6] = d->ntrk;
  info[7] = 0;
  return 0;
}

/* What (B) and !(W) accept at a core's edges, measured on clamscan 1.4.6 byte by byte (the
 * same tables as CLASS_SETS in lib/virtav/hex_signature.ts). */
enum { CL_LEFT_B = 1, CL_RIGHT_B = 2, CL_OLD_RIGHT_B = 4, CL_PUNCT_W = 8, CL_MID_B = 16 };
static uint8_t class_tab[256];

static void class_init(void) {
  for (int b = 9; b <= 13; b++) class_tab[b] |= CL_PUNCT_W;
  const uint8_t left[] = {32, 45, 46, 47, 60, 64, 95};
  const uint8_t right[] = {10, 13, 32, 34, 39, 45, 47, 61, 62, 95};
  const uint8_t old_right[] = {10, 13, 32, 34, 39, 45, 47, 61, 62, 95};
  for (size_t i = 0; i < sizeof left; i++) class_tab[left[i]] |= CL_LEFT_B;
  for (size_t i = 0; i < sizeof right; i++) class_tab[right[i]] |= CL_RIGHT_B;
  for (size_t i = 0; i < sizeof old_right; i++) class_tab[old_right[i]] |= CL_OLD_RIGHT_B;
  const uint8_t mid[] = {10, 13, 32, 34, 39, 45, 46, 47, 60, 61, 62, 64, 95};
  for (size_t i = 0; i < sizeof mid; i++) class_tab[mid[i]] |= CL_MID_B;
  for (int b = 32; b <= 47; b++) class_tab[b] |= CL_PUNCT_W;
  for (int b = 58; b <= 64; b++) class_tab[b] |= CL_PUNCT_W;
  for (int b = 91; b <= 96; b++) class_tab[b] |= CL_PUNCT_W;
  for (int b = 123; b <= 127; b++) class_tab[b] |= CL_PUNCT_W;
}

static inline int is_alnum(uint8_t b) {
  return (b >= '0' && b <= '9') || (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z');
}

/* The (B)/(L)/(W) checks at the core's edges: left on the byte before the core start `cs`
 * (the buffer start counts as a boundary; only non-negated classes are left edges), right on
 * the byte at the core end `ce` (the end counts as a boundary, so a negated class fails there). */
static int edges_ok(uint32_t edges, const uint8_t *buf, uint64_t len, uint64_t cs, uint64_t ce) {
  uint32_t l = edges & 0xf, r = (edges >> 4) & 0xf;
  if (l) {
    uint8_t b = cs ? buf[cs - 1] : 0;
    int hit = !cs || ((l & 3) == 1 ? (class_tab[b] & CL_LEFT_B) != 0 : (l & 3) == 2 ? b == '\n' : !is_alnum(b));
    if (!hit) return 0;
  }
  if (r) {
    int end = ce >= len, hit;
    uint8_t b = end ? 0 : buf[ce];
    switch (r) {
    case 1: hit = end || (class_tab[b] & CL_RIGHT_B); break;
    case 5: hit = !end && !(class_tab[b] & CL_OLD_RIGHT_B); break;
    case 2: hit = end || b == '\n' || (b == '\r' && ce + 1 < len && buf[ce + 1] == '\n'); break;
    case 6: hit = !end && b != '\n' && !(b == '\r' && ce + 1 < len && buf[ce + 1] == '\n'); break;
    case 3: hit = end || !is_alnum(b); break;
    default: hit = !end && is_alnum(b); break; /* 7: !(W) */
    }
    if (!hit) return 0;
  }
  return 1;
}

/* Does part p match at buf[s .. s + width)? (s + width <= len already checked) */
static int verify_part(const struct vav_db *d, const part_rec *p, const uint8_t *buf, uint64_t s, uint64_t len) {
  const uint8_t *b = buf + s;
  for (uint32_t a = 0; a < p->natoms; a++) {
    const atom_rec *t = &d->atoms[p->first_atom + a];
    const uint8_t *pool = d->pool + t->pool_off;
    uint32_t w = t->width;
    if (t->kind == 0 || t->kind == 3) {
      const uint8_t *v = pool, *m = pool + w;
      for (uint32_t k = 0; k < w; k++)
        if ((b[k] & m[k]) != v[k]) return 0;
    } else {
      int any = 0;
      for (uint32_t alt = 0; alt < t->nalts && !any; alt++) {
        const uint8_t *v = pool + (uint64_t)alt * 2 * w, *m = v + w;
        uint32_t k = 0;
        while (k < w && (b[k] & m[k]) == v[k]) k++;
        any = k == w;
      }
      if (any != (t->kind == 1)) return 0;
    }
    b += w;
  }
  return !p->edges || edges_ok(p->edges, buf, len, s + p->lead, s + p->width - p->trail);
}

/* Does part p match at s when its end lies past the buffer's end `len` (s + width > len)?
 * clamscan's forward check stops at the end of the buffer and calls that a match: bytes up to
 * `len` must match, an alternative cut by the end fails, the end counts as a right boundary. */
static int verify_truncated(const struct vav_db *d, const part_rec *p, const uint8_t *buf, uint64_t s, uint64_t len) {
  uint64_t pos = s;
  for (uint32_t a = 0; a < p->natoms && pos < len; a++) {
    const atom_rec *t = &d->atoms[p->first_atom + a];
    const uint8_t *pool = d->pool + t->pool_off;
    uint32_t w = t->width;
    if (t->kind == 0) {
      const uint8_t *v = pool, *m = pool + w;
      for (uint32_t k = 0; k < w && pos + k < len; k++)
        if ((buf[pos + k] & m[k]) != v[k]) return 0;
    } else if (t->kind == 3) {
      /* one member of an alternative: whole or not at all */
      const uint8_t *v = pool, *m = pool + w;
      if (pos + w > len) return 0;
      for (uint32_t k = 0; k < w; k++)
        if ((buf[pos + k] & m[k]) != v[k]) return 0;
    } else {
      /* A negated alternative cut by the end matches, and clamscan then moves on by one byte, not
       * its width (ac_findmatch_special keeps its "negative" answer of 1 when the members do not
       * fit); a plain one fails. */
      if (pos + w > len) {
        if (t->kind != 2) return 0;
        pos++;
        continue;
      }
      int any = 0;
      for (uint32_t alt = 0; alt < t->nalts && !any; alt++) {
        const uint8_t *v = pool + (uint64_t)alt * 2 * w, *m = v + w;
        uint32_t k = 0;
        while (k < w && (buf[pos + k] & m[k]) == v[k]) k++;
        any = k == w;
      }
      if (any != (t->kind == 1)) return 0;
    }
    pos += w;
  }
  return !p->edges || edges_ok(p->edges, buf, len, s + p->lead, pos < len ? pos : len);
}

/* clamscan's own search for one part from one Aho-Corasick entry (matcher-ac.c: ac_findmatch,
 * ac_forward_match_branch, ac_backward_match_branch, ac_findmatch_special), on the un-expanded
 * part (hex_signature.ts ClamPart). clamscan keeps, per entry, the first way through the part its
 * depth-first search finds: alternatives forwards from the entry in member order, then backwards
 * from it; a member unique in its alternative is taken as soon as its bytes match, with no
 * backtracking; the match may stop at the buffer's end. A variant's match of such a part counts
 * only where this search ends at the same core start and end (parts_ok). */
typedef struct {
  const struct vav_db *d;
  const cpart_rec *cp;
  const uint8_t *buf;
  uint64_t len, trig, start, end;
} cm_ctx;

static int cm_forward(cm_ctx *x, uint64_t bp, int64_t pp);
static int cm_backward(cm_ctx *x, uint64_t bp, int64_t pp);

static inline const cunit_rec *cm_unit(const cm_ctx *x, int64_t i) { return &x->d->cunits[x->cp->first_unit + i]; }

static inline int cm_byte(uint32_t arg, uint8_t b) { return (b & (uint8_t)(arg >> 8)) == (uint8_t)arg; }

/* A member's bytes at buf[at .. at + len) (the caller checked they lie in the buffer). */
static int cm_member(const cm_ctx *x, const cmember_rec *m, uint64_t at) {
  const uint8_t *v = x->d->pool + m->pool_off, *k = v + m->len;
  for (uint32_t j = 0; j < m->len; j++)
    if ((x->buf[at + j] & k[j]) != v[j]) return 0;
  return 1;
}

/* ac_findmatch_special at unit i: > 0 the bytes it takes, 0 no match, -1 matched by a branch. */
static int cm_special(cm_ctx *x, const cunit_rec *u, uint64_t bp, int64_t i, int rev) {
  uint8_t b = x->buf[bp];
  int neg = (int)u->arg, match = neg;
  switch (u->kind) {
  case CU_ALT: {
    uint32_t w = x->d->cmembers[u->first_member].len;
    uint64_t sub;
    if (!rev) {
      if (bp + w > x->len) break; /* a negated one cut by the end matches (1 byte) */
      sub = bp;
    } else {
      if (bp < (uint64_t)w - 1) break;
      sub = bp - (w - 1);
    }
    match *= (int)w;
    for (uint32_t j = 0; j < u->nmembers; j++)
      if (cm_member(x, &x->d->cmembers[u->first_member + j], sub)) {
        match = (!neg) * (int)w;
        break;
      }
    break;
  }
  case CU_GEN:
    for (uint32_t j = 0; j < u->nmembers; j++) {
      const cmember_rec *m = &x->d->cmembers[u->first_member + j];
      uint64_t sub;
      if (!rev) {
        if (bp + m->len > x->len) continue;
        sub = bp;
      } else {
        if (m->len == 0 || bp < (uint64_t)m->len - 1) continue; /* empty: never backwards */
        sub = bp - (m->len - 1);
      }
      if (!cm_member(x, m, sub)) continue;
      if (m->unique) return (int)m->len;
      /* Backwards from the prefix's first unit clamscan reads before its pattern (undefined
       * behaviour; it finds no match there, checked with clamscan 1.4.6): a miss. */
      int r = !rev ? cm_forward(x, sub + m->len, i + 1) : (i > 0 && sub > 0 ? cm_backward(x, sub - 1, i - 1) : 0);
      if (r) return -1;
    }
    return 0;
  case CU_LINE:
    if (b == '\n') match = !neg;
    else if (b == '\r' && bp + 1 < x->len && x->buf[bp + 1] == '\n') match = (!neg) * 2;
    break;
  case CU_BOUND:
    if (class_tab[b] & CL_MID_B) match = !neg;
    break;
  default: /* CU_WORD */
    if (!is_alnum(b)) match = !neg;
    break;
  }
  return match;
}

/* ac_backward_match_branch: the units before the entry, from unit pp down, then the left edge
 * and the left side byte. */
static int cm_backward(cm_ctx *x, uint64_t bp, int64_t pp) {
  const cpart_rec *cp = x->cp;
  if (cp->ppos) {
    for (int64_t i = pp;; i--) {
      const cunit_rec *u = cm_unit(x, i);
      if (u->kind == CU_BYTE) {
        if (!cm_byte(u->arg, x->buf[bp])) return 0;
      } else {
        int m = cm_special(x, u, bp, i, 1);
        if (m <= 0) return m;
        if ((uint64_t)m > bp + 1) return 0; /* clamscan would read before the buffer */
        bp = bp + 1 - (uint64_t)m;
      }
      if (i == 0 || bp == 0) break;
      bp--;
    }
    x->start = bp;
  } else {
    x->start = bp = x->trig;
  }
  if ((cp->edges & 0xf) && !edges_ok(cp->edges & 0xf, x->buf, x->len, bp, 0)) return 0;
  if (cp->lch) {
    if ((uint64_t)cp->lch_min + 1 > bp) return 0;
    bp -= cp->lch_min + 1;
    int match = 0;
    for (uint32_t i = cp->lch_min; i <= cp->lch_max; i++) {
      if ((match = cm_byte(cp->lch, x->buf[bp]))) break;
      if (!bp) return 0;
      bp--;
    }
    if (!match) return 0;
  }
  return 1;
}

/* ac_forward_match_branch: units from pp while bytes remain, the right edge and side byte, then
 * the units before the entry. */
static int cm_forward(cm_ctx *x, uint64_t bp, int64_t pp) {
  const cpart_rec *cp = x->cp;
  for (int64_t i = pp; i < cp->nunits && bp < x->len; i++) {
    const cunit_rec *u = cm_unit(x, i);
    if (u->kind == CU_BYTE) {
      if (!cm_byte(u->arg, x->buf[bp])) return 0;
    } else {
      int m = cm_special(x, u, bp, i, 0);
      if (m <= 0) return m;
      bp += (uint64_t)m - 1;
    }
    bp++;
  }
  x->end = bp;
  if ((cp->edges >> 4) && !edges_ok(cp->edges & 0xf0, x->buf, x->len, 0, bp)) return 0;
  if (cp->rch) {
    bp += cp->rch_min;
    int match = 0;
    for (uint32_t i = cp->rch_min; i <= cp->rch_max; i++) {
      if (bp >= x->len) return 0;
      if ((match = cm_byte(cp->rch, x->buf[bp]))) break;
      bp++;
    }
    if (!match) return 0;
  }
  if (cp->ppos && x->trig == 0) return 0; /* clamscan would read before the buffer */
  return cm_backward(x, x->trig - 1, (int64_t)cp->ppos - 1);
}

/* Does clamscan's search from the entry of part p, matched at s, find this very match (the same
 * core start, and the same core end unless the match runs past the buffer's end)? */
static int clam_agrees(const struct vav_db *d, const part_rec *p, const uint8_t *buf, uint64_t len, uint64_t s) {
  if (p->cpart == INF32) return 1;
  const cpart_rec *cp = &d->cparts[p->cpart];
  cm_ctx x = {d, cp, buf, len, s + p->trig_off, 0, 0};
  if (x.trig >= len || x.trig + cp->len1 > len || cp->plen1 > x.trig) return 0;
  if (!cm_forward(&x, x.trig + cp->depth, (int64_t)cp->ppos + cp->depth)) return 0;
  if (x.start != s + p->lead) return 0;
  return s + p->width > len || x.end == s + p->width - p->trail;
}

/* Drops the ends of `t` that no start at or after `cs` can use: ends too old for the gap's
 * maximum, and every mature end (end + gap_min <= cs) but the newest, which serves every such
 * start at least as long. What stays is at most one mature end plus the ends in
 * (cs - gap_min, newest end], so a tracker holds at most gap_min + 2 part widths + 1 ends. */
static void track_prune(tracker *t, const part_rec *next, uint64_t cs) {
  while (t->count && next->gap_max != INF32 && t->ents[t->head].end + next->gap_max < cs) {
    t->head = (t->head + 1) % t->cap;
    t->count--;
  }
  while (t->count >= 2 && t->ents[(t->head + 1) % t->cap].end + next->gap_min <= cs) {
    t->head = (t->head + 1) % t->cap;
    t->count--;
  }
}

/* Appends an end; 1 if the tracker is full (the caller falls back to the exact scan). */
static int track_push(tracker *t, uint32_t epoch, uint64_t end, uint64_t origin) {
  if (t->epoch != epoch) {
    t->epoch = epoch;
    t->head = t->count = 0;
  }
  if (t->count == t->cap) {
    if (t->cap >= MAX_TRACK) return 1;
    uint32_t ncap = t->cap ? t->cap * 2 : 8;
    track_ent *ne = malloc((size_t)ncap * sizeof *ne);
    if (!ne) return -ENOMEM;
    for (uint32_t i = 0; i < t->count; i++) ne[i] = t->ents[(t->head + i) % t->cap];
    free(t->ents);
    t->ents = ne;
    t->cap = ncap;
    t->head = 0;
  }
  t->ents[(t->head + t->count) % t->cap] = (track_ent){end, origin};
  t->count++;
  return 0;
}

typedef struct {
  struct vav_db *d;
  const uint8_t *buf;
  uint64_t len;
  uint32_t flags;
  vav_hit *out;
  uint32_t cap;
  uint32_t nhits;
  uint64_t *stats;
  int stop;
  int err;
  uint32_t *fallback; /* programs whose tracker filled up in this scan */
  uint32_t nfallback, fallback_cap;
} scan_ctx;

static int offset_ok(const prog_rec *pr, uint64_t len, uint64_t cs) {
  uint64_t base = (uint64_t)pr->base_hi << 32 | pr->base_lo;
  uint64_t range = (uint64_t)pr->range_hi << 32 | pr->range_lo;
  if (pr->off_kind == 1) return cs >= base && cs - base <= range;
  if (pr->off_kind == 2) {
    if (base > len) return 0;
    uint64_t lo = len - base;
    return cs >= lo && cs - lo <= range;
  }
  return 1;
}

static void report(scan_ctx *c, const prog_rec *pr, uint32_t prog, uint64_t origin) {
  c->d->sig_epoch[pr->sig] = c->d->epoch;
  if (c->nhits < c->cap) c->out[c->nhits++] = (vav_hit){pr->sig, prog, origin};
  else c->stats[VAV_ST_HITS_LOST]++;
  if (!(c->flags & VAV_ALLMATCH)) c->stop = 1;
}

/* Marks a program for the exact scan after the pass (its tracker is full). */
static void mark_fallback(scan_ctx *c, uint32_t prog) {
  struct vav_db *d = c->d;
  if (d->fb_epoch[prog] == d->epoch) return;
  d->fb_epoch[prog] = d->epoch;
  if (c->nfallback == c->fallback_cap) {
    uint32_t ncap = c->fallback_cap ? c->fallback_cap * 2 : 8;
    uint32_t *nf = realloc(c->fallback, ncap * sizeof *nf);
    if (!nf) {
      c->err = -ENOMEM;
      c->stop = 1;
      return;
    }
    c->fallback = nf;
    c->fallback_cap = ncap;
  }
  c->fallback[c->nfallback++] = prog;
  c->stats[VAV_ST_TRACK_DROP]++;
}

static void on_part(scan_ctx *c, uint32_t pi, uint64_t s) {
  struct vav_db *d = c->d;
  const part_rec *p = &d->parts[pi];
  const prog_rec *pr = &d->progs[p->prog];
  if (d->sig_epoch[pr->sig] == d->epoch) return; /* this signature already matched here */
  if (d->fb_epoch[p->prog] == d->epoch) return;  /* the exact scan takes this program */
  uint32_t idx = pi - pr->first_part;
  /* offsets and gaps are measured on the core (ClamAV's `aa[x-y]CORE[x-y]bb`) */
  uint64_t cs = s + p->lead, ce = s + p->width - p->trail;
  uint64_t origin = cs;
  if (idx == 0) {
    if (!offset_ok(pr, c->len, cs)) return;
  } else {
    tracker *t = &d->trk[d->tbase[p->prog] + idx - 1];
    if (t->epoch != d->epoch || t->count == 0) return;
    if (p->gap_max != INF32) {
      track_prune(t, p, cs);
      if (!t->count) return;
    }
    track_ent *e = &t->ents[t->head];
    if (e->end + p->gap_min > cs) return;
    origin = e->origin;
  }
  if (idx + 1 == pr->nparts) {
    report(c, pr, p->prog, origin);
    return;
  }
  tracker *t = &d->trk[d->tbase[p->prog] + idx];
  const part_rec *next = p + 1;
  /* With an unbounded gap after this part, its earliest end is the only one that matters. */
  if (next->gap_max == INF32 && t->epoch == d->epoch && t->count) return;
  if (next->gap_max != INF32 && t->epoch == d->epoch) {
    /* no later start of the next part lies before its key at this position, or earlier */
    uint64_t key_pos = s + p->key_off;
    uint64_t smin = key_pos >= next->key_off ? key_pos - next->key_off + next->lead : 0;
    track_prune(t, next, smin);
  }
  int rc = track_push(t, d->epoch, ce, origin);
  if (rc < 0) {
    c->err = rc;
    c->stop = 1;
  } else if (rc > 0) {
    mark_fallback(c, p->prog);
  }
}

static inline int bit_get(const uint64_t *b, uint64_t i) { return (b[i >> 6] >> (i & 63)) & 1; }

/* The ends (core end offsets) of every chain of parts 0..k of program `pr`, as a bitmap over
 * [0, len]: part 0 where the offset allows it, part j > 0 where an end of part j - 1 lies
 * within its gap. O(len) per part plus a full verification where the key matches. `x` and `y`
 * are scratch bitmaps of `words` words; returns the one holding the result. */
static uint64_t *chain_ends(scan_ctx *c, const prog_rec *pr, uint32_t k, uint64_t *x, uint64_t *y,
                            size_t words) {
  struct vav_db *d = c->d;
  for (uint32_t j = 0; j <= k; j++) {
    const part_rec *p = &d->parts[pr->first_part + j];
    uint64_t *out = j % 2 == 0 ? x : y, *in = j % 2 == 0 ? y : x;
    memset(out, 0, words * 8);
    uint8_t key[4];
    for (uint32_t q = 0; q < p->key_len; q++) key[q] = (uint8_t)part_exact_byte(d, p, p->key_off + q);
    int64_t last = -1; /* newest end of part j - 1 at or before cs - gap_min */
    uint64_t scanned = 0;
    for (uint64_t s = 0; s + p->width <= c->len; s++) {
      uint64_t cs = s + p->lead;
      if (j > 0) {
        if (cs < p->gap_min) continue;
        for (uint64_t upto = cs - p->gap_min; scanned <= upto; scanned++)
          if (bit_get(in, scanned)) last = (int64_t)scanned;
        if (last < 0) continue;
        if (p->gap_max != INF32 && (uint64_t)last + p->gap_max < cs) continue;
      } else if (!offset_ok(pr, c->len, cs)) {
        continue;
      }
      if (memcmp(c->buf + s + p->key_off, key, p->key_len) || !verify_part(d, p, c->buf, s, c->len) ||
          !clam_agrees(d, p, c->buf, c->len, s))
        continue;
      uint64_t ce = s + p->width - p->trail;
      out[ce >> 6] |= 1ull << (ce & 63);
    }
  }
  return k % 2 == 0 ? x : y;
}

/* The exact scan for a program whose tracker filled up: chain bitmaps part by part, then the
 * origin by walking back (recomputing the shorter chains). Reports a hit if a chain exists. */
static int exact_scan(scan_ctx *c, uint32_t prog) {
  struct vav_db *d = c->d;
  const prog_rec *pr = &d->progs[prog];
  size_t words = (size_t)(c->len / 64 + 2);
  uint64_t *x = calloc(words, 8), *y = calloc(words, 8);
  if (!x || !y) {
    free(x);
    free(y);
    return -ENOMEM;
  }
  c->stats[VAV_ST_EXACT]++;
  uint64_t *res = chain_ends(c, pr, pr->nparts - 1, x, y, words);
  int64_t end = -1;
  for (uint64_t e = 0; e <= c->len && end < 0; e++)
    if (bit_get(res, e)) end = (int64_t)e;
  if (end >= 0) {
    uint64_t cs = 0;
    for (uint32_t k = pr->nparts - 1;; k--) {
      const part_rec *p = &d->parts[pr->first_part + k];
      cs = (uint64_t)end - (p->width - p->lead - p->trail);
      if (k == 0) break;
      /* the newest end of part k - 1 within the gap: the forward pass proved one exists */
      res = chain_ends(c, pr, k - 1, x, y, words);
      int64_t e = (int64_t)cs - (int64_t)p->gap_min;
      while (e >= 0 && !bit_get(res, (uint64_t)e)) e--;
      end = e;
    }
    report(c, pr, prog, cs);
  }
  free(x);
  free(y);
  return 0;
}

static inline void candidates(scan_ctx *c, const anchor *a, uint32_t from, uint32_t to, uint32_t key,
                              uint64_t i) {
  struct vav_db *d = c->d;
  for (uint32_t j = from; j < to && !c->stop; j++) {
    if (a[j].key != key) continue;
    const part_rec *p = &d->parts[a[j].part];
    c->stats[VAV_ST_CANDIDATES]++;
    if (i < p->key_off) continue;
    uint64_t s = i - p->key_off;
    if (s + p->width > c->len) continue;
    if (d->sig_epoch[d->progs[p->prog].sig] == d->epoch) continue;
    if (!verify_part(d, p, c->buf, s, c->len) || !clam_agrees(d, p, c->buf, c->len, s)) continue;
    c->stats[VAV_ST_PARTS]++;
    on_part(c, a[j].part, s);
  }
}

int64_t vav_scan_db(struct vav_db *d, const uint8_t *buf, uint64_t len, uint32_t flags, vav_hit *out,
                    uint32_t cap, uint64_t *stats) {
  uint64_t dummy[8] = {0};
  if (!stats) stats = dummy;
  if (!buf && len) return -EINVAL;
  pthread_mutex_lock(&d->lock);
  if (++d->epoch == 0) { /* wrapped: clear every epoch mark */
    for (uint32_t i = 0; i < d->ntrk; i++) d->trk[i].epoch = 0;
    memset(d->sig_epoch, 0, (d->nsigs + 1) * sizeof(uint32_t));
    memset(d->fb_epoch, 0, (d->nprogs + 1) * sizeof(uint32_t));
    d->epoch = 1;
  }
  scan_ctx c = {d, buf, len, flags, out, cap, 0, stats, 0, 0, NULL, 0, 0};
  const uint8_t *bm4 = d->bm4, *bm2 = d->bm2;
  const int has2 = d->n2 > 0, has4 = d->n4 > 0;
  /* The prefilter's programs first; first-match: the key positions left to look at (see there). */
  vav_hit pf_hit;
  uint64_t limit = len;
  int pf_found = d->pf ? vav_pf_scan(d->pf, &c, buf, len, flags, &limit, &pf_hit) : 0;
  uint64_t n4 = has4 || has2 ? (len >= 4 ? len - 3 : 0) : 0;
  if (n4 > limit) n4 = limit;
  uint64_t i = 0;
  for (; i < n4 && !c.stop; i++) {
    if ((i & (VAV_POLL - 1)) == 0 && cancel_flag) {
      stats[VAV_ST_CANCELLED] = 1;
      c.stop = 1;
      break;
    }
    uint32_t k;
    memcpy(&k, buf + i, 4);
    if (has4) {
      uint32_t hh = hash4(k);
      if ((bm4[hh >> 3] >> (hh & 7)) & 1) candidates(&c, d->a4, d->start4[hh], d->start4[hh + 1], k, i);
    }
    if (has2) {
      uint32_t k2 = k & 0xffff;
      if ((bm2[k2 >> 3] >> (k2 & 7)) & 1) candidates(&c, d->a2, d->start2[k2], d->start2[k2 + 1], k2, i);
    }
  }
  for (; has2 && i + 2 <= len && i < limit && !c.stop && !stats[VAV_ST_CANCELLED]; i++) {
    uint32_t k2 = buf[i] | (uint32_t)buf[i + 1] << 8;
    if ((bm2[k2 >> 3] >> (k2 & 7)) & 1) candidates(&c, d->a2, d->start2[k2], d->start2[k2 + 1], k2, i);
  }
  if (pf_found && !c.err) { /* first-match: the prefilter's hit unless one came before it */
    if (!c.nhits && c.cap) c.out[c.nhits++] = pf_hit;
    c.stop = 1;
  }
  /* last parts that run past the end of the buffer (clamscan reports those, docs/virtav.md) */
  if (d->ntail && !c.stop && !stats[VAV_ST_CANCELLED]) {
    uint64_t from = len > d->tail_max ? len - d->tail_max : 0;
    for (uint64_t k = from; k + 2 <= len && !c.stop; k++) {
      uint32_t key = buf[k] | (uint32_t)buf[k + 1] << 8;
      if (!((d->tail_bm[key >> 3] >> (key & 7)) & 1)) continue;
      for (uint32_t j = d->tail_start[key]; j < d->tail_start[key + 1] && !c.stop; j++) {
        uint32_t pi = d->tail_parts[j];
        const part_rec *p = &d->parts[pi];
        if (k + 2 < p->head) continue;
        uint64_t s = k + 2 - p->head;
        if (s + p->width <= len || s + p->min_end > len) continue; /* whole, or too short */
        if (d->sig_epoch[d->progs[p->prog].sig] == d->epoch) continue;
        if (!verify_truncated(d, p, buf, s, len) || !clam_agrees(d, p, buf, len, s)) continue;
        c.stats[VAV_ST_PARTS]++;
        on_part(&c, pi, s);
      }
    }
  }
  /* programs whose partial matches outgrew their tracker: the exact (slower) scan decides */
  for (uint32_t f = 0; f < c.nfallback && !c.stop && !c.err && !cancel_flag; f++) {
    uint32_t prog = c.fallback[f];
    if (d->sig_epoch[d->progs[prog].sig] == d->epoch) continue;
    int rc = exact_scan(&c, prog);
    if (rc < 0) c.err = rc;
  }
  free(c.fallback);
  if (cancel_flag) stats[VAV_ST_CANCELLED] = 1;
  stats[VAV_ST_BYTES] += stats[VAV_ST_CANCELLED] ? i : len;
  pthread_mutex_unlock(&d->lock);
  return c.err ? c.err : (int64_t)c.nhits;
}

int64_t vav_scan_buf(int32_t db, const uint8_t *buf, uint64_t len, uint32_t flags, vav_hit *out, uint32_t cap,
                     uint64_t *stats) {
  struct vav_db *d = vav_db_get(db);
  if (!d) return -EBADF;
  if (!out && cap) return -EINVAL;
  return vav_scan_db(d, buf, len, flags, out, cap, stats);
}

/* For the prefilter (virtav_prefilter.c): the database's parts, and one candidate at a time. */
uint32_t vav_db_nparts(const struct vav_db *d) { return d->nparts; }

int vav_part_shape(const struct vav_db *d, uint32_t part, vav_part_shape_t *out) {
  if (part >= d->nparts) return -EINVAL;
  const part_rec *p = &d->parts[part];
  const prog_rec *pr = &d->progs[p->prog];
  uint32_t key = 0;
  for (uint32_t k = 0; k < p->key_len; k++) key |= (uint32_t)(part_exact_byte(d, p, p->key_off + k) & 0xff) << (8 * k);
  *out = (vav_part_shape_t){p->prog,    pr->sig,  part - pr->first_part, pr->nparts, p->width, p->key_off,
                            p->key_len, key,      p->lead,              p->trail,   p->gap_min, p->gap_max,
                            p->head};
  return 0;
}

/* The part's bytes: vals[k] and exact[k] != 0 where byte k is exact (mask 0xff, a plain atom):
 * 1 in the signature's own bytes, 2 in one member of an alternative (this variant's). */
void vav_part_bytes(const struct vav_db *d, uint32_t part, uint8_t *vals, uint8_t *exact) {
  const part_rec *p = &d->parts[part];
  uint32_t pos = 0;
  for (uint32_t a = 0; a < p->natoms; a++) {
    const atom_rec *t = &d->atoms[p->first_atom + a];
    const uint8_t *v = d->pool + t->pool_off, *m = v + t->width;
    for (uint32_t k = 0; k < t->width; k++) {
      int ex = t->kind == 0 || t->kind == 3 ? m[k] == 0xff : 0;
      vals[pos + k] = ex ? v[k] : 0;
      exact[pos + k] = (uint8_t)(ex ? (t->kind == 3 ? 2 : 1) : 0);
    }
    pos += t->width;
  }
}

/* Part `part` found at `s` by the prefilter: verified and chained as the key loop does
 * (candidates()); returns 1 once the scan must stop. */
int vav_candidate(void *ctx, uint32_t part, uint64_t s) {
  scan_ctx *c = ctx;
  struct vav_db *d = c->d;
  const part_rec *p = &d->parts[part];
  c->stats[VAV_ST_CANDIDATES]++;
  if (s + p->width > c->len || d->sig_epoch[d->progs[p->prog].sig] == d->epoch) return c->stop;
  if (!verify_part(d, p, c->buf, s, c->len) || !clam_agrees(d, p, c->buf, c->len, s)) return c->stop;
  c->stats[VAV_ST_PARTS]++;
  on_part(c, part, s);
  return c->stop || c->err;
}

int vav_ctx_cancel(void *ctx) {
  scan_ctx *c = ctx;
  if (!cancel_flag) return 0;
  c->stats[VAV_ST_CANCELLED] = 1;
  c->stop = 1;
  return 1;
}

void vav_ctx_fail(void *ctx, int err) {
  scan_ctx *c = ctx;
  c->err = err;
  c->stop = 1;
}

/* First-match: forgets the hit the prefilter pass reported (kept by the caller) so that the key
 * loop can look for one before it. */
void vav_ctx_take_hit(void *ctx) {
  scan_ctx *c = ctx;
  c->nhits = 0;
  c->stop = 0;
}

uint32_t vav_ctx_hits(void *ctx, vav_hit **out) {
  scan_ctx *c = ctx;
  *out = c->out;
  return c->nhits;
}

struct vav_pf *vav_db_pf(struct vav_db *d) { return d->pf; }

uint64_t vav_db_blob(const struct vav_db *d, const uint8_t **p) {
  *p = d->blob;
  return d->blob_len;
}
