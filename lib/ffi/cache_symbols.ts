/**
 * FFI symbols of the cache part of native/ (native/cache.h): the native twins of lib/cache's
 * policies and the simulator's hot loop. Handles are small non-negative integers.
 */
export const cacheSymbols = {
  /** int32_t cache_policy_known(const char *name): 1 when a native twin exists */
  cache_policy_known: { parameters: ["buffer" /* const char *name */], result: "i32" },
  /** int32_t cache_open(const char *name, uint64_t capacity, uint64_t block_size): handle */
  cache_open: {
    parameters: [
      "buffer", /* const char *name */
      "u64", /* uint64_t capacity (blocks) */
      "u64", /* uint64_t block_size (bytes) */
    ],
    result: "i32",
  },
  /**
   * int32_t cache_open_with(const char *name, uint64_t capacity, uint64_t block_size,
   * const double *params, uint32_t n): a policy with parameters (-EINVAL when bad)
   */
  cache_open_with: {
    parameters: [
      "buffer", /* const char *name */
      "u64", /* uint64_t capacity (blocks) */
      "u64", /* uint64_t block_size (bytes) */
      "buffer", /* const double *params */
      "u32", /* uint32_t n */
    ],
    result: "i32",
  },
  /** int32_t cache_close(int32_t h) */
  cache_close: { parameters: ["i32" /* int32_t h */], result: "i32" },
  /** int32_t cache_access(int32_t h, uint64_t block, uint32_t is_write): 1 hit, 0 miss */
  cache_access: {
    parameters: ["i32", /* int32_t h */ "u64", /* uint64_t block */ "u32" /* uint32_t is_write */],
    result: "i32",
  },
  /** int32_t cache_has(int32_t h, uint64_t block): 1 when resident */
  cache_has: { parameters: ["i32", /* int32_t h */ "u64" /* uint64_t block */], result: "i32" },
  /** int32_t cache_remove(int32_t h, uint64_t block) */
  cache_remove: {
    parameters: ["i32", /* int32_t h */ "u64" /* uint64_t block */],
    result: "i32",
  },
  /**
   * int32_t cache_feed(int32_t h, const uint8_t *op, const double *off, const double *len,
   * const uint8_t *mask, uint32_t n): replays n requests in column form (mask may be NULL)
   */
  cache_feed: {
    parameters: [
      "i32", /* int32_t h */
      "buffer", /* const uint8_t *op */
      "buffer", /* const double *off */
      "buffer", /* const double *len */
      "buffer", /* const uint8_t *mask (NULL = all admitted) */
      "u32", /* uint32_t n */
    ],
    result: "i32",
  },
  /** The same C function, run off the JS thread (so a signal can cancel it meanwhile). */
  cache_feed_async: {
    name: "cache_feed",
    parameters: ["i32", "buffer", "buffer", "buffer", "buffer", "u32"],
    result: "i32",
    nonblocking: true,
  },
  /**
   * int32_t cache_cancel(int32_t h): a running or later cache_feed / cache_run_file on h stops
   * soon and returns -ECANCELED (any thread may call it)
   */
  cache_cancel: { parameters: ["i32" /* int32_t h */], result: "i32" },
  /**
   * int32_t cache_set_admission(int32_t h, const double *ranges, uint32_t n, uint32_t flags):
   * PDC's exact admission for cache_run_file (n sorted, disjoint [start, end) pairs)
   */
  cache_set_admission: {
    parameters: [
      "i32", /* int32_t h */
      "buffer", /* const double *ranges (2n) */
      "u32", /* uint32_t n */
      "u32", /* uint32_t flags (1 = refuse class "journal" tags) */
    ],
    result: "i32",
  },
  /**
   * int32_t cache_run_file(int32_t h, const char *path, uint64_t *out): replays a whole binary
   * trace file (mmapped) off the JS thread; fills out (CACHE_OUT_WORDS) even on -EBADMSG
   */
  cache_run_file: {
    parameters: [
      "i32", /* int32_t h */
      "buffer", /* const char *path */
      "buffer", /* uint64_t *out */
    ],
    result: "i32",
    nonblocking: true,
  },
  /**
   * int32_t cache_test_fail_grow(int32_t on): tests only: while on, growing a node table fails
   * as on ENOMEM (the access that needed it returns -ENOMEM, the cache is as it was)
   */
  cache_test_fail_grow: { parameters: ["i32" /* int32_t on */], result: "i32" },
  /**
   * int32_t cache_run_file_as(int32_t h, const char *path, uint32_t format, uint64_t *out): as
   * cache_run_file, format 0 = hvkit's binary trace, 1 = libCacheSim's oracleGeneral
   */
  cache_run_file_as: {
    parameters: [
      "i32", /* int32_t h */
      "buffer", /* const char *path */
      "u32", /* uint32_t format */
      "buffer", /* uint64_t *out */
    ],
    result: "i32",
    nonblocking: true,
  },
  /** int32_t cache_result(int32_t h, uint64_t *out): the counters (CACHE_OUT_WORDS words) */
  cache_result: {
    parameters: ["i32", /* int32_t h */ "buffer" /* uint64_t *out */],
    result: "i32",
  },
} as const satisfies Deno.ForeignLibraryInterface;
