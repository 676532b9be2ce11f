/** FFI symbols of the daio part of native/ (native/daio.h): the device engine and the bench. */
export const daioSymbols = {
  /** uint32_t daio_hist_bucket_count(void) */
  daio_hist_bucket_count: { parameters: [], result: "u32" },
  /**
   * int32_t daio_dev_open(const char *path, uint32_t flags, uint32_t queues, uint32_t qdepth,
   * uint64_t pool_bytes, uint64_t *info_out): a handle or -errno
   */
  daio_dev_open: {
    parameters: [
      "buffer", /* const char *path */
      "u32", /* uint32_t flags */
      "u32", /* uint32_t queues */
      "u32", /* uint32_t qdepth */
      "u64", /* uint64_t pool_bytes */
      "buffer", /* uint64_t *info_out (DAIO_DEV_INFO_WORDS = 9 values) */
    ],
    result: "i32",
  },
  /** void *daio_dev_pool(int32_t h) */
  daio_dev_pool: { parameters: ["i32" /* int32_t h */], result: "pointer" },
  /**
   * int32_t daio_dev_submit(int32_t h, const daio_req *reqs, uint32_t n): how many of the first
   * requests are on the rings, or -errno when none (-EINVAL: reqs[0] is bad; -EBUSY: no room now)
   */
  daio_dev_submit: {
    parameters: ["i32", /* int32_t h */ "buffer", /* const daio_req *reqs */ "u32" /* n */],
    result: "i32",
  },
  /** int32_t daio_ring_features(void): the DAIO_FEAT_* bits this kernel grants a ring */
  daio_ring_features: { parameters: [], result: "i32" },
  /** int32_t daio_dev_kick(int32_t h): submits what earlier submits left queued; how many remain */
  daio_dev_kick: { parameters: ["i32" /* int32_t h */], result: "i32" },
  /**
   * int32_t daio_dev_inject(int32_t h, uint32_t prep_every, uint32_t submit_every): test-only
   * fault injection (refused requests, partial submits, full rings); 0, 0 turns it off
   */
  daio_dev_inject: {
    parameters: ["i32", /* int32_t h */ "u32", /* prep_every */ "u32" /* submit_every */],
    result: "i32",
  },
  /**
   * int32_t daio_dev_reap(int32_t h, daio_cqe *out, uint32_t max, int32_t timeout_ms): completions
   * collected (0 on timeout or wake) or -errno; blocks, so it runs off the JS thread.
   */
  daio_dev_reap: {
    parameters: [
      "i32", /* int32_t h */
      "buffer", /* daio_cqe *out */
      "u32", /* uint32_t max */
      "i32", /* int32_t timeout_ms */
    ],
    result: "i32",
    nonblocking: true,
  },
  /**
   * int32_t daio_dev_cq(int32_t h, uint32_t q, uint64_t *out): ring q's CQ as out[0] &khead,
   * [1] &ktail, [2] cqes, [3] mask, [4] entries, [5] bytes per CQE; 0 or -errno
   */
  daio_dev_cq: {
    parameters: ["i32", /* int32_t h */ "u32", /* uint32_t q */ "buffer" /* uint64_t *out */],
    result: "i32",
  },
  /**
   * int32_t daio_dev_wait(int32_t h, int32_t timeout_ms): 1 when some CQ holds a completion, 0 on
   * timeout or wake, or -errno; consumes nothing. Blocks, so it runs off the JS thread.
   */
  daio_dev_wait: {
    parameters: ["i32", /* int32_t h */ "i32" /* int32_t timeout_ms */],
    result: "i32",
    nonblocking: true,
  },
  /**
   * int32_t daio_dev_notify(int32_t h, const char *path): connects to the Unix socket at path;
   * every later request is linked to a one-byte send on it. 0 or -errno
   */
  daio_dev_notify: {
    parameters: ["i32", /* int32_t h */ "buffer" /* const char *path */],
    result: "i32",
  },
  /** int32_t daio_dev_wake(int32_t h): makes a pending reap or wait return */
  daio_dev_wake: { parameters: ["i32" /* int32_t h */], result: "i32" },
  /** int32_t daio_dev_close(int32_t h) */
  daio_dev_close: { parameters: ["i32" /* int32_t h */], result: "i32" },
  /**
   * int32_t daio_bench_run(const char *path, const uint64_t *job, uint64_t *out): 0 or -errno;
   * runs a whole fio-like job (one thread per queue), so it runs off the JS thread.
   */
  daio_bench_run: {
    parameters: [
      "buffer", /* const char *path */
      "buffer", /* const uint64_t *job (DAIO_JOB_WORDS) */
      "buffer", /* uint64_t *out (DAIO_OUT_WORDS + 2 * DAIO_HIST_WORDS) */
    ],
    result: "i32",
    nonblocking: true,
  },
  /**
   * int32_t daio_nvme_info(const char *path, uint64_t *out): an NVMe generic character device's
   * namespace ID, LBA size and capacity in LBAs (out[0..2]); 0 or -errno (ENOTTY: not one)
   */
  daio_nvme_info: {
    parameters: ["buffer", /* const char *path */ "buffer" /* uint64_t *out (3 values) */],
    result: "i32",
  },
} as const satisfies Deno.ForeignLibraryInterface;
