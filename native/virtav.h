/* virtav native layer: the signature matcher (virtav_match.c) and guest memory access
 * (virtav_mem.c: read-only mappings, x86-64 page-table walks, page hashes).
 * Every exported function returns >= 0 on success and -errno on failure. */
#ifndef VIRTAV_H
#define VIRTAV_H
#include <stdint.h>
#include <stddef.h>

#define VAV_EXPORT __attribute__((visibility("default")))

/* scan flags */
#define VAV_ALLMATCH 1u /* report every signature, not only the first */

/* walk flags */
#define VAV_LA57 1u /* 5-level paging (CR4.LA57) */
#define VAV_IGNORE_NX 2u /* treat every present page as executable (EFER.NXE clear) */

/* One detection: the signature, the variant (program) and the match's start offset. */
typedef struct {
  uint32_t sig;
  uint32_t prog;
  uint64_t off;
} vav_hit;

/* stats[] indices filled by the scan functions (uint64_t stats[8]) */
/* VAV_ST_TRACK_DROP: programs whose partial matches outgrew their tracker (each then decided by
 * the exact scan, VAV_ST_EXACT counts those runs; nothing is dropped). */
/* VAV_ST_CANCELLED: the scan stopped early on SIGINT/SIGTERM (see vav_cancel_reset); the hits
 * returned are those found in the first VAV_ST_BYTES bytes. */
enum { VAV_ST_BYTES, VAV_ST_CANDIDATES, VAV_ST_PARTS, VAV_ST_TRACK_DROP, VAV_ST_HITS_LOST, VAV_ST_COPIED, VAV_ST_EXACT, VAV_ST_CANCELLED };
/* stats[] indices filled by vav_walk (uint64_t stats[8]) */
/* VAV_WS_SUPERVISOR: bytes of executable supervisor pages (U/S clear at some level): kernel text,
 * which every live Linux CR3 maps; none means a wrong CR3 or paging depth. */
enum { VAV_WS_TABLES, VAV_WS_OUTSIDE, VAV_WS_LOOPS, VAV_WS_BUDGET, VAV_WS_TRUNCATED, VAV_WS_RESERVED_PS, VAV_WS_LEAVES, VAV_WS_SUPERVISOR };

/* virtav_match.c */
VAV_EXPORT int32_t vav_db_load(const uint8_t *blob, uint64_t len);
VAV_EXPORT int32_t vav_db_free(int32_t db);
VAV_EXPORT int32_t vav_db_check(const uint8_t *blob, uint64_t len);
VAV_EXPORT int32_t vav_cancel_reset(void);
VAV_EXPORT int32_t vav_cancel(void);
VAV_EXPORT int64_t vav_db_info(int32_t db, uint64_t *info /* [8]: sigs, progs, parts, anchors4, anchors2, index bytes */);
/* native/virtav_pcre.c: PCRE subsignature matches in the window buf/len, counted as clamscan
 * does (flags: 1 i, 2 s, 4 m, 8 x, 16 A, 32 E, 64 U, 128 g, 256 anchored at the window's start);
 * a match starting after maxstart stops the count; the first match's start in *first; -EINVAL
 * when the pattern does not compile */
VAV_EXPORT int64_t vav_pcre_count(const uint8_t *pat, uint64_t pat_len, uint32_t flags, const uint8_t *buf,
                                  uint64_t len, uint64_t maxstart, uint64_t *first);
VAV_EXPORT int64_t vav_scan_buf(int32_t db, const uint8_t *buf, uint64_t len, uint32_t flags,
                                vav_hit *out, uint32_t cap, uint64_t *stats);

/* virtav_mem.c */
VAV_EXPORT int32_t vav_map_open(const char *path, uint64_t *size_out);
VAV_EXPORT int32_t vav_map_close(int32_t map);
VAV_EXPORT int64_t vav_map_read(int32_t map, uint64_t off, uint8_t *dst, uint64_t len);
VAV_EXPORT int64_t vav_map_scan(int32_t db, int32_t map, uint64_t off, uint64_t len, uint32_t flags,
                                vav_hit *out, uint32_t cap, uint64_t *stats);
VAV_EXPORT int64_t vav_map_scan_chunks(int32_t db, int32_t map, const uint64_t *segs, uint32_t nsegs,
                                       const uint64_t *chunks, uint32_t nchunks, uint32_t flags,
                                       vav_hit *out, uint32_t cap, uint64_t *stats);
VAV_EXPORT const uint8_t *vav_map_ptr(int32_t map, uint64_t off, uint64_t len);
VAV_EXPORT int64_t vav_map_gather(int32_t map, const uint64_t *segs, uint32_t nsegs, const uint64_t *chunks,
                                  uint32_t nchunks, uint8_t *dst, uint64_t cap);
VAV_EXPORT int64_t vav_walk(int32_t map, const uint64_t *segs, uint32_t nsegs, uint64_t cr3,
                            uint32_t flags, uint64_t *out, uint32_t cap, uint64_t *stats);
VAV_EXPORT int64_t vav_map_hash_pages(int32_t map, const uint64_t *segs, uint32_t nsegs,
                                      const uint64_t *pages, uint32_t n, uint64_t *out);

/* virtav_prefilter.c: the Hyperscan literal prefilter. vav_db_load_pf with VAV_PF_ON loads a
 * database with it: `pf` (from vav_pf_serialize, e.g. a cache) is attached when it fits this
 * database and this Hyperscan, else refused (-EINVAL damaged, -ENOEXEC another Hyperscan version
 * or platform); without `pf` the literals are compiled. Where Hyperscan cannot compile them the
 * database loads without it and `msg` says why. vav_db_load is vav_db_load_pf with no flags. */
#define VAV_PF_ON 1u
#define VAV_PF_MIN_LIT 4 /* the shortest literal worth prefiltering (docs/limits.md) */
#define VAV_DB_IN_PLACE 2u /* use `blob` in place (kept alive and unchanged until vav_db_free), no copy */
VAV_EXPORT int32_t vav_db_load_pf(const uint8_t *blob, uint64_t len, const uint8_t *pf, uint64_t pf_len,
                                  uint32_t pf_flags, char *msg, uint32_t msg_cap);
VAV_EXPORT int64_t vav_pf_serialize(int32_t db, uint8_t *out, uint64_t cap);
/* info[8]: state (0 off, 1 compiled, 2 attached), programs prefiltered, programs on the key loop,
 * signatures prefiltered, signatures with a program on the key loop, literals, prefilter
 * database bytes (Hyperscan's and the sampler's tables), scratch bytes */
VAV_EXPORT int64_t vav_pf_info(int32_t db, uint64_t *info);
VAV_EXPORT int32_t vav_pf_window(uint64_t bytes); /* tests: the window of one Hyperscan call, 0 default */
VAV_EXPORT int32_t vav_pf_sampler(int32_t always); /* tests: the sampler at any literal count, 0 default */

/* virtav_cache.c: cache files mapped read-only (out[0] address, out[1] length) and their hash */
VAV_EXPORT int32_t vav_cache_map(const char *path, uint64_t *out);
VAV_EXPORT int32_t vav_cache_unmap(uint64_t addr, uint64_t len);
VAV_EXPORT uint64_t vav_hash64(const uint8_t *p, uint64_t len, uint64_t seed);

/* shared between the files */
struct vav_db;
struct vav_pf;
typedef struct {
  uint32_t prog, sig, index, nparts, width, key_off;
  uint32_t key_len, key;           /* the key loop's key: its length (2 or 4) and bytes (little-endian) */
  uint32_t lead, trail;            /* side bytes outside the core (gaps are measured between cores) */
  uint32_t gap_min, gap_max, head; /* the gap before this part (max ~0: unbounded); head: see part_rec */
} vav_part_shape_t;
int vav_pf_setup(struct vav_db *d, struct vav_pf **out, const uint8_t *ser, uint64_t len, uint32_t flags,
                 char *msg, uint32_t msg_cap);
int vav_pf_claims(const struct vav_pf *pf, uint32_t part);
void vav_pf_free(struct vav_pf *pf);
int vav_pf_scan(struct vav_pf *pf, void *ctx, const uint8_t *buf, uint64_t len, uint32_t flags, uint64_t *limit,
                vav_hit *first);
uint32_t vav_db_nparts(const struct vav_db *d);
int vav_part_shape(const struct vav_db *d, uint32_t part, vav_part_shape_t *out);
void vav_part_bytes(const struct vav_db *d, uint32_t part, uint8_t *vals, uint8_t *exact);
int vav_candidate(void *ctx, uint32_t part, uint64_t s);
int vav_ctx_cancel(void *ctx);
void vav_ctx_fail(void *ctx, int err);
void vav_ctx_take_hit(void *ctx);
uint32_t vav_ctx_hits(void *ctx, vav_hit **out);
struct vav_pf *vav_db_pf(struct vav_db *d);
uint64_t vav_db_blob(const struct vav_db *d, const uint8_t **p);
struct vav_db;
struct vav_db *vav_db_get(int32_t db);
int64_t vav_scan_db(struct vav_db *d, const uint8_t *buf, uint64_t len, uint32_t flags,
                    vav_hit *out, uint32_t cap, uint64_t *stats);
#endif
