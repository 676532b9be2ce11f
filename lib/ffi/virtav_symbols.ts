/** FFI symbols of native/virtav_match.c and native/virtav_mem.c (see native/virtav.h). */
export const virtavSymbols = {
  /** int32_t vav_db_load(const uint8_t *blob, uint64_t len): database handle or -errno */
  vav_db_load: {
    parameters: ["buffer", /* const uint8_t *blob */ "u64" /* uint64_t len */],
    result: "i32",
  },
  /** int32_t vav_db_check(const uint8_t *blob, uint64_t len): 0 if the blob's structure is valid, else -errno */
  vav_db_check: {
    parameters: ["buffer", /* const uint8_t *blob */ "u64" /* uint64_t len */],
    result: "i32",
  },
  /** int32_t vav_cache_map(const char *path, uint64_t *out): maps a cache file read-only (MAP_PRIVATE, populated): out[0] address, out[1] length */
  vav_cache_map: {
    parameters: ["buffer", /* const char *path */ "buffer" /* uint64_t *out */],
    result: "i32",
  },
  /** int32_t vav_cache_unmap(uint64_t addr, uint64_t len) */
  vav_cache_unmap: {
    parameters: ["u64", /* uint64_t addr */ "u64" /* uint64_t len */],
    result: "i32",
  },
  /** uint64_t vav_hash64(const uint8_t *p, uint64_t len, uint64_t seed): XXH64 of the bytes */
  vav_hash64: {
    parameters: [
      "buffer", /* const uint8_t *p */
      "u64", /* uint64_t len */
      "u64", /* uint64_t seed */
    ],
    result: "u64",
  },
  /** int32_t vav_cancel_reset(void): installs the SIGINT/SIGTERM flag handler once, clears the flag */
  vav_cancel_reset: { parameters: [], result: "i32" },
  /** int32_t vav_cancel(void): sets the flag (scans in progress stop within VAV_POLL bytes) */
  vav_cancel: { parameters: [], result: "i32" },
  /** int32_t vav_db_free(int32_t db) */
  vav_db_free: { parameters: ["i32" /* int32_t db */], result: "i32" },
  /** int64_t vav_db_info(int32_t db, uint64_t *info): info[8] = sigs, progs, parts, anchors4, anchors2, index bytes, trackers */
  vav_db_info: {
    parameters: ["i32", /* int32_t db */ "buffer" /* uint64_t *info */],
    result: "i64",
  },
  /** int64_t vav_pcre_count(const uint8_t *pat, uint64_t pat_len, uint32_t flags, const uint8_t *buf, uint64_t len, uint64_t maxstart, uint64_t *first) */
  vav_pcre_count: {
    parameters: [
      "buffer", /* const uint8_t *pat */
      "u64", /* uint64_t pat_len */
      "u32", /* uint32_t flags */
      "buffer", /* const uint8_t *buf */
      "u64", /* uint64_t len */
      "u64", /* uint64_t maxstart */
      "buffer", /* uint64_t *first */
    ],
    result: "i64",
  },
  /** int64_t vav_scan_buf(int32_t db, const uint8_t *buf, uint64_t len, uint32_t flags, vav_hit *out, uint32_t cap, uint64_t *stats) */
  vav_scan_buf: {
    parameters: [
      "i32", /* int32_t db */
      "buffer", /* const uint8_t *buf */
      "u64", /* uint64_t len */
      "u32", /* uint32_t flags */
      "buffer", /* vav_hit *out */
      "u32", /* uint32_t cap */
      "buffer", /* uint64_t *stats */
    ],
    result: "i64",
  },
  /** int32_t vav_map_open(const char *path, uint64_t *size_out): map handle or -errno */
  vav_map_open: {
    parameters: ["buffer", /* const char *path */ "buffer" /* uint64_t *size_out */],
    result: "i32",
  },
  /** int32_t vav_map_close(int32_t map) */
  vav_map_close: { parameters: ["i32" /* int32_t map */], result: "i32" },
  /** int64_t vav_map_read(int32_t map, uint64_t off, uint8_t *dst, uint64_t len): bytes copied */
  vav_map_read: {
    parameters: [
      "i32", /* int32_t map */
      "u64", /* uint64_t off */
      "buffer", /* uint8_t *dst */
      "u64", /* uint64_t len */
    ],
    result: "i64",
  },
  /** int64_t vav_map_scan(int32_t db, int32_t map, uint64_t off, uint64_t len, uint32_t flags, vav_hit *out, uint32_t cap, uint64_t *stats) */
  vav_map_scan: {
    parameters: [
      "i32", /* int32_t db */
      "i32", /* int32_t map */
      "u64", /* uint64_t off */
      "u64", /* uint64_t len */
      "u32", /* uint32_t flags */
      "buffer", /* vav_hit *out */
      "u32", /* uint32_t cap */
      "buffer", /* uint64_t *stats */
    ],
    result: "i64",
  },
  /** int64_t vav_map_scan_chunks(int32_t db, int32_t map, const uint64_t *segs, uint32_t nsegs, const uint64_t *chunks, uint32_t nchunks, uint32_t flags, vav_hit *out, uint32_t cap, uint64_t *stats) */
  vav_map_scan_chunks: {
    parameters: [
      "i32", /* int32_t db */
      "i32", /* int32_t map */
      "buffer", /* const uint64_t *segs */
      "u32", /* uint32_t nsegs */
      "buffer", /* const uint64_t *chunks */
      "u32", /* uint32_t nchunks */
      "u32", /* uint32_t flags */
      "buffer", /* vav_hit *out */
      "u32", /* uint32_t cap */
      "buffer", /* uint64_t *stats */
    ],
    result: "i64",
  },
  /** const uint8_t *vav_map_ptr(int32_t map, uint64_t off, uint64_t len): NULL when out of range */
  vav_map_ptr: {
    parameters: ["i32", /* int32_t map */ "u64", /* uint64_t off */ "u64" /* uint64_t len */],
    result: "pointer",
  },
  /** int64_t vav_map_gather(int32_t map, const uint64_t *segs, uint32_t nsegs, const uint64_t *chunks, uint32_t nchunks, uint8_t *dst, uint64_t cap): bytes copied */
  vav_map_gather: {
    parameters: [
      "i32", /* int32_t map */
      "buffer", /* const uint64_t *segs */
      "u32", /* uint32_t nsegs */
      "buffer", /* const uint64_t *chunks */
      "u32", /* uint32_t nchunks */
      "buffer", /* uint8_t *dst */
      "u64", /* uint64_t cap */
    ],
    result: "i64",
  },
  /** int64_t vav_walk(int32_t map, const uint64_t *segs, uint32_t nsegs, uint64_t cr3, uint32_t flags, uint64_t *out, uint32_t cap, uint64_t *stats): runs written */
  vav_walk: {
    parameters: [
      "i32", /* int32_t map */
      "buffer", /* const uint64_t *segs */
      "u32", /* uint32_t nsegs */
      "u64", /* uint64_t cr3 */
      "u32", /* uint32_t flags */
      "buffer", /* uint64_t *out */
      "u32", /* uint32_t cap */
      "buffer", /* uint64_t *stats */
    ],
    result: "i64",
  },
  /** int64_t vav_map_hash_pages(int32_t map, const uint64_t *segs, uint32_t nsegs, const uint64_t *pages, uint32_t n, uint64_t *out): pages not in RAM */
  vav_map_hash_pages: {
    parameters: [
      "i32", /* int32_t map */
      "buffer", /* const uint64_t *segs */
      "u32", /* uint32_t nsegs */
      "buffer", /* const uint64_t *pages */
      "u32", /* uint32_t n */
      "buffer", /* uint64_t *out */
    ],
    result: "i64",
  },
} as const satisfies Deno.ForeignLibraryInterface;
