/* daio: the direct io_uring engine (issue 3). Every exported function returns
 * >= 0 on success and -errno on failure, like the rest of native/. */
#ifndef DAIO_H
#define DAIO_H
#include <stdint.h>
#include <stddef.h>

#include "hvkit.h"

/* ---- daio_hist.c: the HDR-style log-linear latency histogram ----
 * Values are nanoseconds. Below 2^DAIO_HIST_P a bucket holds one value; above,
 * every power of two is cut into 2^(P-1) equal buckets (relative width < 0.8%).
 * lib/stats/histogram.ts uses the same layout, so counts cross FFI unchanged. */
#define DAIO_HIST_P 8
#define DAIO_HIST_BUCKETS ((64 - DAIO_HIST_P + 1) * (1u << (DAIO_HIST_P - 1)) + (1u << (DAIO_HIST_P - 1)))

typedef struct daio_hist {
  uint64_t count, min, max;
  double sum;
  uint64_t buckets[DAIO_HIST_BUCKETS];
} daio_hist;

void daio_hist_reset(daio_hist *h);
void daio_hist_record(daio_hist *h, uint64_t v);
void daio_hist_merge(daio_hist *into, const daio_hist *from);
uint32_t daio_hist_index(uint64_t v);
HV_EXPORT uint32_t daio_hist_bucket_count(void);

/* ---- daio_ring.c: the one io_uring engine, an operations table in fio's shape ---- */
struct io_uring_sqe;
struct io_uring_cqe;
struct iovec;
#include <liburing.h>

/* Ring set-up features: asked for by a caller, granted (or not) by the kernel;
 * daio_ring.feats says which a ring got, and each run records them. */
enum {
  DAIO_FEAT_SQPOLL = 1,         /* IORING_SETUP_SQPOLL: a kernel thread polls the SQ */
  DAIO_FEAT_COOP_TASKRUN = 2,   /* no IPI per completion */
  DAIO_FEAT_DEFER_TASKRUN = 4,  /* completions run when the (single) issuer reaps */
  DAIO_FEAT_IOPOLL = 8,         /* polled completions (NVMe poll queues) */
  DAIO_FEAT_FIXED_FILES = 16,   /* registered files */
  DAIO_FEAT_FIXED_BUFS = 32,    /* registered buffers */
  DAIO_FEAT_NVME = 64,          /* NVMe passthrough: io_uring_cmd on /dev/ngXnY (SQE128/CQE32) */
  DAIO_FEAT_MIN_WAIT = 128,     /* batched waits bounded by a min timeout (IORING_FEAT_MIN_TIMEOUT) */
  DAIO_FEAT_REG_RING = 256,     /* the ring fd registered (IORING_REGISTER_RING_FDS): no fdget per enter */
  DAIO_FEAT_HUGE_BUFS = 512,    /* I/O buffers in transparent huge pages (daio_buf_alloc) */
};

typedef struct daio_ring {
  struct io_uring ring;
  uint32_t feats;
  int fds[2];        /* the files, by index (daio_io.file) */
  uint32_t nsid, lba; /* NVMe passthrough: namespace and LBA size */
} daio_ring;

/* One operation for queue(). */
typedef struct daio_io {
  uint64_t tag;    /* user_data: echoed by the completion */
  uint64_t off;    /* bytes */
  uint64_t len64;  /* FALLOCATE's length */
  void *buf;
  uint32_t len;    /* READ/WRITE bytes */
  int32_t buf_index; /* registered buffer index, or -1 */
  uint8_t op;      /* DAIO_OP_* */
  uint8_t file;    /* index into daio_ring.fds */
  uint8_t flags;   /* DAIO_REQ_* */
  uint8_t mode;    /* FALLOCATE's mode */
} daio_io;

typedef struct daio_engine_ops {
  const char *name;
  /* Sets up a ring of `entries` with the features in `want` it can have. */
  int (*init)(daio_ring *r, uint32_t entries, uint32_t want, uint32_t sq_idle_ms);
  /* Records the files (fds[0..nfds)) and, with try_register, registers them and the buffers. */
  void (*reg)(daio_ring *r, const int *fds, int nfds, const struct iovec *iov, unsigned niov,
              int try_register);
  /* Fills an SQE (the caller got it, so it can take a request and its links together). */
  void (*queue)(daio_ring *r, struct io_uring_sqe *sqe, const daio_io *io);
  /* Hands the queued SQEs to the kernel; returns how many it left queued (sent next time). */
  unsigned (*commit)(daio_ring *r);
  /* Commits and waits for `min` completions: one system call (fio's commit + getevents). */
  int (*commit_wait)(daio_ring *r, unsigned min);
  /* Commits and waits for `want` completions, but once min_wait_us has passed
   * for at least one only (MIN_WAIT; without it, for `want`, as fio's
   * iodepth_batch_complete_min): one system call. */
  int (*commit_wait_min)(daio_ring *r, unsigned want, unsigned min_wait_us);
  /* Up to `max` completions, not consumed until seen(). */
  unsigned (*reap)(daio_ring *r, struct io_uring_cqe **cqes, unsigned max);
  void (*seen)(daio_ring *r, unsigned n);
  /* Queues a cancel of the request tagged `tag`; the cancel itself completes as cancel_tag. */
  int (*cancel)(daio_ring *r, uint64_t tag, uint64_t cancel_tag);
  void (*exit)(daio_ring *r);
} daio_engine_ops;

extern const daio_engine_ops daio_uring;
/* I/O buffer memory: zeroed, 2 MiB-aligned, in transparent huge pages where the
 * kernel grants them (*huge set then). Free with daio_buf_free(p, len). */
void *daio_buf_alloc(size_t len, int *huge);
void daio_buf_free(void *p, size_t len);
/* The DAIO_FEAT_* bits this kernel grants (each tried on a small ring). */
HV_EXPORT int32_t daio_ring_features(void);

/* ---- daio_dev.c: the device behind lib/block/file_device.ts ----
 * JS fills an array of daio_req (32 bytes each), calls daio_dev_submit (a short
 * synchronous call), and reads completions straight from the CQ rings
 * (daio_dev_cq), woken by a notification socket (daio_dev_notify) or a
 * nonblocking daio_dev_wait; daio_dev_reap collects them in bulk instead. Data moves through a pool of
 * aligned buffers the library owns and JS maps with getArrayBuffer. */
enum { DAIO_OP_READ = 0, DAIO_OP_WRITE = 1, DAIO_OP_FSYNC = 2, DAIO_OP_FALLOCATE = 3 };
enum { DAIO_REQ_FUA = 1 };
enum { DAIO_FD_MAIN = 0, DAIO_FD_BUFFERED = 1 };
enum {
  DAIO_OPEN_READONLY = 1,
  DAIO_OPEN_DIRECT = 2,      /* O_DIRECT, fail if refused */
  DAIO_OPEN_DIRECT_AUTO = 4, /* O_DIRECT, fall back to buffered if refused */
  DAIO_OPEN_SQPOLL = 8,
  DAIO_OPEN_NOREGISTER = 16,
};

typedef struct daio_req {
  uint64_t tag;     /* echoed in the completion */
  uint64_t off;     /* file offset */
  uint64_t len;     /* bytes (read/write: <= 4 GiB) */
  uint32_t buf_off; /* offset into the pool */
  uint8_t op;       /* DAIO_OP_* */
  uint8_t flags;    /* DAIO_REQ_* ; for FALLOCATE the mode */
  uint8_t fd;       /* DAIO_FD_* */
  uint8_t queue;    /* ring index */
} daio_req;

typedef struct daio_cqe {
  uint64_t tag;
  int64_t res; /* bytes or -errno */
} daio_cqe;

/* info_out[0] size, [1] alignment, [2] direct in use (0/1), [3] pool bytes,
 * [4] registered buffers (0/1), [5] is block device (0/1), [6] direct refused errno,
 * [7] the ring features in use (DAIO_FEAT_*), [8] NVMe passthrough (0/1): then a
 * read or write completes with 0 (or an NVMe status > 0), not a byte count. */
#define DAIO_DEV_INFO_WORDS 9
HV_EXPORT int32_t daio_dev_open(const char *path, uint32_t flags, uint32_t queues,
                                uint32_t qdepth, uint64_t pool_bytes, uint64_t *info_out);
HV_EXPORT void *daio_dev_pool(int32_t h);
/* Puts reqs[0..n) on the rings, in order, and returns how many it took: each
 * request taken completes exactly once, with its tag (what the kernel did not
 * take yet stays queued for the next submit or daio_dev_kick). Fewer than n:
 * reqs[k] and later got no SQE at all (nothing will ever complete for their
 * tags). When none is taken the return is -errno: -EINVAL for reqs[0] itself
 * (bad op or range), -EBUSY when its ring has no room now (retry later). */
HV_EXPORT int32_t daio_dev_submit(int32_t h, const daio_req *reqs, uint32_t n);
/* Submits SQEs an earlier submit left queued; returns how many are still queued. */
HV_EXPORT int32_t daio_dev_kick(int32_t h);
/* Test-only fault injection, off (0, 0) by default: every prep_every-th request
 * is refused as if it were invalid; every submit_every-th ring submission the
 * kernel takes only half of what is queued, and every submit_every-th request
 * finds its ring full. */
HV_EXPORT int32_t daio_dev_inject(int32_t h, uint32_t prep_every, uint32_t submit_every);
HV_EXPORT int32_t daio_dev_reap(int32_t h, daio_cqe *out, uint32_t max, int32_t timeout_ms);
HV_EXPORT int32_t daio_dev_wake(int32_t h);
/* out[0] &khead, [1] &ktail, [2] cqes, [3] ring mask, [4] entries, [5] bytes per CQE. */
HV_EXPORT int32_t daio_dev_cq(int32_t h, uint32_t q, uint64_t *out);
/* Waits (up to timeout_ms) until some CQ holds a completion; consumes nothing. */
HV_EXPORT int32_t daio_dev_wait(int32_t h, int32_t timeout_ms);
/* Connects to the Unix stream socket at path; from then on every request is
 * hard-linked to a one-byte send on it (completion notification). */
HV_EXPORT int32_t daio_dev_notify(int32_t h, const char *path);
HV_EXPORT int32_t daio_dev_close(int32_t h);

/* ---- daio_bench.c: the fio-like job runner, the whole I/O loop in C ----
 * job[] (uint64): see DAIO_JOB_*; out[]: DAIO_OUT_* then two histograms
 * (read, write), each DAIO_HIST_WORDS words: count, min, max, sum (double
 * bits), then DAIO_HIST_BUCKETS counts. One thread per queue. */
enum {
  DAIO_JOB_RW, DAIO_JOB_RWMIXREAD, DAIO_JOB_BS, DAIO_JOB_IODEPTH, DAIO_JOB_QUEUES,
  DAIO_JOB_ENGINE, DAIO_JOB_DIRECT, DAIO_JOB_FLAGS, DAIO_JOB_SIZE, DAIO_JOB_RUNTIME_NS,
  DAIO_JOB_SEED, DAIO_JOB_BATCH,
  DAIO_JOB_BATCH_COMPLETE, /* completions to wait for per round (fio's iodepth_batch_complete_min); 0 = iodepth/2 */
  DAIO_JOB_MIN_WAIT_US,    /* with it, a round's wait ends this long after one completion is in (0: off) */
  DAIO_JOB_WORDS = 16
};
enum { DAIO_RW_READ, DAIO_RW_WRITE, DAIO_RW_RANDREAD, DAIO_RW_RANDWRITE, DAIO_RW_RANDRW };
enum { DAIO_ENGINE_URING, DAIO_ENGINE_PSYNC, DAIO_ENGINE_BUFFERED };
enum {
  DAIO_JOBF_REGISTER = 1, DAIO_JOBF_SQPOLL = 2, DAIO_JOBF_HIPRI = 4, DAIO_JOBF_VERIFY = 8,
  DAIO_JOBF_NVME = 16, /* NVMe passthrough on /dev/ngXnY (daio_nvme.c) */
  DAIO_JOBF_PROCESSES = 32, /* two or more queues: one process each (fork), not one thread */
};
enum {
  DAIO_OUT_READS, DAIO_OUT_WRITES, DAIO_OUT_BYTES_READ, DAIO_OUT_BYTES_WRITTEN,
  DAIO_OUT_ELAPSED_NS, DAIO_OUT_USR_US, DAIO_OUT_SYS_US, DAIO_OUT_MISMATCHES,
  DAIO_OUT_ERRNO, DAIO_OUT_FILE_SIZE, DAIO_OUT_DIRECT, DAIO_OUT_FEATURES, DAIO_OUT_WORDS = 16
};
#define DAIO_HIST_WORDS (4 + DAIO_HIST_BUCKETS)

HV_EXPORT int32_t daio_bench_run(const char *path, const uint64_t *job, uint64_t *out);

/* ---- daio_nvme.c: NVMe passthrough (io_uring_cmd on /dev/ngXnY) ---- */
struct io_uring_sqe;
/* The namespace behind fd: ID, LBA size in bytes, capacity in LBAs. -ENOTTY
 * when fd is not an NVMe generic character device. */
int daio_nvme_identify(int fd, const char *path, uint32_t *nsid, uint32_t *lba, uint64_t *nlba);
/* Fills an SQE128 slot with an NVMe read, write (op DAIO_OP_READ/WRITE; fua
 * sets Force Unit Access) or flush (DAIO_OP_FSYNC); buf_index >= 0 uses a
 * registered buffer. off and len are bytes, multiples of lba. */
void daio_nvme_prep(struct io_uring_sqe *sqe, int fd, int fixed_file, int buf_index, uint32_t nsid,
                    uint32_t lba, int op, void *buf, uint32_t len, uint64_t off, int fua);
/* out[0] namespace ID, [1] LBA size, [2] capacity in LBAs; 0 or -errno. */
HV_EXPORT int32_t daio_nvme_info(const char *path, uint64_t *out);

#endif
