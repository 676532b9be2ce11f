/* daio: the one io_uring engine (issue 16), in fio's shape: an operations table
 * (init, reg, queue, commit, reap, seen, cancel, exit) over one ring, with the
 * ring's set-up chosen per device and per use. Every io_uring user in native/
 * goes through it: daio_bench.c (the C job loop of `daio bench`) and
 * daio_dev.c (the device under `daio replay` and every `serve` export).
 *
 * Set-up features (DAIO_FEAT_*) are asked for and the ring records what it got:
 * a kernel that refuses DEFER_TASKRUN or COOP_TASKRUN gets the ring without
 * them (dropped one by one, as fio does), and registered files or buffers that
 * cannot be had (RLIMIT_MEMLOCK, an old kernel) are simply not used. The
 * caller reports `feats` so a run says which features it used. */
#include "daio.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <liburing.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

/* Newer than Debian 12's headers (liburing 2.3, Linux 6.1 uapi). */
#define DAIO_IORING_FEAT_MIN_TIMEOUT (1U << 15) /* Linux 6.12 */
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25 /* Linux 6.1 */
#endif
#define HUGE_SZ (2u << 20)

static int ring_init(daio_ring *r, uint32_t entries, uint32_t want, uint32_t sq_idle_ms) {
  memset(r, 0, sizeof *r);
  r->fds[0] = r->fds[1] = -1;
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  /* NVMe commands need the big SQEs (the 64-byte command inside) and CQEs. */
  if (want & DAIO_FEAT_NVME) p.flags |= IORING_SETUP_SQE128 | IORING_SETUP_CQE32;
  if (want & DAIO_FEAT_SQPOLL) {
    p.flags |= IORING_SETUP_SQPOLL;
    p.sq_thread_idle = sq_idle_ms ? sq_idle_ms : 50;
  }
  if (want & DAIO_FEAT_IOPOLL) p.flags |= IORING_SETUP_IOPOLL;
  if (want & DAIO_FEAT_COOP_TASKRUN) p.flags |= IORING_SETUP_COOP_TASKRUN;
  /* DEFER_TASKRUN needs SINGLE_ISSUER and cannot go with SQPOLL. */
  if ((want & DAIO_FEAT_DEFER_TASKRUN) && !(want & DAIO_FEAT_SQPOLL))
    p.flags |= IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  int rc;
  for (;;) {
    struct io_uring_params q = p;
    rc = io_uring_queue_init_params(entries, &r->ring, &q);
    if (rc != -EINVAL) break;
    if (p.flags & IORING_SETUP_DEFER_TASKRUN)
      p.flags &= ~(IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER);
    else if (p.flags & IORING_SETUP_COOP_TASKRUN)
      p.flags &= ~IORING_SETUP_COOP_TASKRUN;
    else
      break;
  }
  if (rc < 0) return rc;
  uint32_t got = 0;
  if (p.flags & IORING_SETUP_SQPOLL) got |= DAIO_FEAT_SQPOLL;
  if (p.flags & IORING_SETUP_IOPOLL) got |= DAIO_FEAT_IOPOLL;
  if (p.flags & IORING_SETUP_COOP_TASKRUN) got |= DAIO_FEAT_COOP_TASKRUN;
  if (p.flags & IORING_SETUP_DEFER_TASKRUN) got |= DAIO_FEAT_DEFER_TASKRUN;
  if (p.flags & IORING_SETUP_SQE128) got |= DAIO_FEAT_NVME;
  if ((want & DAIO_FEAT_MIN_WAIT) && (r->ring.features & DAIO_IORING_FEAT_MIN_TIMEOUT))
    got |= DAIO_FEAT_MIN_WAIT;
  /* Per thread: only for a ring that one thread sets up and drives (bench). */
  if ((want & DAIO_FEAT_REG_RING) && io_uring_register_ring_fd(&r->ring) == 1)
    got |= DAIO_FEAT_REG_RING;
  r->feats = got;
  return 0;
}

static void ring_reg(daio_ring *r, const int *fds, int nfds, const struct iovec *iov,
                     unsigned niov, int try_register) {
  for (int i = 0; i < nfds && i < 2; i++) r->fds[i] = fds[i];
  if (!try_register) return;
  if (io_uring_register_files(&r->ring, fds, (unsigned)nfds) == 0) r->feats |= DAIO_FEAT_FIXED_FILES;
  if (niov && io_uring_register_buffers(&r->ring, iov, niov) == 0) r->feats |= DAIO_FEAT_FIXED_BUFS;
}

static void ring_queue(daio_ring *r, struct io_uring_sqe *sqe, const daio_io *io) {
  int fixed = (r->feats & DAIO_FEAT_FIXED_FILES) != 0;
  int fd = fixed ? io->file : r->fds[io->file];
  int bi = (r->feats & DAIO_FEAT_FIXED_BUFS) ? io->buf_index : -1;
  if (r->feats & DAIO_FEAT_NVME) {
    daio_nvme_prep(sqe, fd, fixed, bi, r->nsid, r->lba, io->op, io->buf, io->len, io->off,
                   io->flags & DAIO_REQ_FUA);
    io_uring_sqe_set_data64(sqe, io->tag);
    return;
  }
  switch (io->op) {
  case DAIO_OP_READ:
    if (bi >= 0)
      io_uring_prep_read_fixed(sqe, fd, io->buf, io->len, io->off, bi);
    else
      io_uring_prep_read(sqe, fd, io->buf, io->len, io->off);
    break;
  case DAIO_OP_WRITE:
    if (bi >= 0)
      io_uring_prep_write_fixed(sqe, fd, io->buf, io->len, io->off, bi);
    else
      io_uring_prep_write(sqe, fd, io->buf, io->len, io->off);
    if (io->flags & DAIO_REQ_FUA) sqe->rw_flags = RWF_DSYNC;
    break;
  case DAIO_OP_FSYNC:
    io_uring_prep_fsync(sqe, fd, 0);
    break;
  default: /* DAIO_OP_FALLOCATE */
    io_uring_prep_fallocate(sqe, fd, io->mode, io->off, io->len64);
    break;
  }
  if (fixed) sqe->flags |= IOSQE_FIXED_FILE;
  io_uring_sqe_set_data64(sqe, io->tag);
}

static unsigned ring_commit(daio_ring *r) {
  (void)io_uring_submit(&r->ring);
  return io_uring_sq_ready(&r->ring);
}

static int ring_commit_wait(daio_ring *r, unsigned min) {
  /* Nothing to send and completions already there: no system call. */
  if (io_uring_sq_ready(&r->ring) == 0 && io_uring_cq_ready(&r->ring) >= min) return 0;
  return io_uring_submit_and_wait(&r->ring, min);
}

/* liburing 2.3 has no submit with a min timeout: the prepared SQEs are handed
 * to the kernel ring here as its io_uring_submit does, so that submitting and
 * waiting stay one system call. Returns how many are waiting to be submitted. */
static unsigned sq_flush(struct io_uring *ring) {
  struct io_uring_sq *sq = &ring->sq;
  unsigned tail = sq->sqe_tail;
  if (sq->sqe_head != tail) {
    sq->sqe_head = tail;
    io_uring_smp_store_release(sq->ktail, tail);
  }
  return tail - IO_URING_READ_ONCE(*sq->khead);
}

static int ring_commit_wait_min(daio_ring *r, unsigned want, unsigned min_wait_us) {
  if (want <= 1 || !(r->feats & DAIO_FEAT_MIN_WAIT) || !min_wait_us)
    return ring_commit_wait(r, want ? want : 1);
  struct io_uring *ring = &r->ring;
  unsigned submit = sq_flush(ring);
  if (submit == 0 && io_uring_cq_ready(ring) >= want) return 0;
  /* The kernel returns once `want` completions are there, or at min_wait_us
   * with at least one; the 1 s timeout only bounds a wait for the first. */
  struct __kernel_timespec ts = {.tv_sec = 1, .tv_nsec = 0};
  struct io_uring_getevents_arg arg = {
      .sigmask = 0, .sigmask_sz = _NSIG / 8, .pad = min_wait_us, .ts = (uint64_t)(uintptr_t)&ts};
  unsigned flags = IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG;
  int fd = ring->ring_fd;
  if (r->feats & DAIO_FEAT_REG_RING) {
    flags |= IORING_ENTER_REGISTERED_RING;
    fd = ring->enter_ring_fd;
  }
  long rc = syscall(__NR_io_uring_enter, fd, submit, want, flags, &arg, sizeof arg);
  if (rc < 0) return errno == ETIME ? 0 : -errno;
  return (int)rc;
}

static unsigned ring_reap(daio_ring *r, struct io_uring_cqe **cqes, unsigned max) {
  return io_uring_peek_batch_cqe(&r->ring, cqes, max);
}

static void ring_seen(daio_ring *r, unsigned n) { io_uring_cq_advance(&r->ring, n); }

static int ring_cancel(daio_ring *r, uint64_t tag, uint64_t cancel_tag) {
  struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
  if (!sqe) return -EBUSY;
  if (r->feats & DAIO_FEAT_NVME) memset(sqe, 0, 128);
  io_uring_prep_cancel64(sqe, tag, 0);
  io_uring_sqe_set_data64(sqe, cancel_tag);
  return 0;
}

static void ring_exit(daio_ring *r) { io_uring_queue_exit(&r->ring); }

const daio_engine_ops daio_uring = {
    .name = "io_uring",
    .init = ring_init,
    .reg = ring_reg,
    .queue = ring_queue,
    .commit = ring_commit,
    .commit_wait = ring_commit_wait,
    .commit_wait_min = ring_commit_wait_min,
    .reap = ring_reap,
    .seen = ring_seen,
    .cancel = ring_cancel,
    .exit = ring_exit,
};

/* Buffers in transparent huge pages: a 128 KiB request then lies in one
 * physically contiguous piece, one segment for the device, where malloc'd
 * memory gives 32 scattered 4 KiB pages (32 descriptors for virtio or NVMe).
 * fio reaches that only with hugetlbfs pages reserved (iomem=mmaphuge).
 * MADV_COLLAPSE (Linux 6.1) says whether the pages really are huge. */
void *daio_buf_alloc(size_t len, int *huge) {
  *huge = 0;
  size_t want = (len + HUGE_SZ - 1) & ~(size_t)(HUGE_SZ - 1);
  size_t span = want + HUGE_SZ;
  uint8_t *p = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return NULL;
  /* Keep the 2 MiB-aligned part only. */
  uint8_t *a = (uint8_t *)(((uintptr_t)p + HUGE_SZ - 1) & ~(uintptr_t)(HUGE_SZ - 1));
  if (a > p) munmap(p, (size_t)(a - p));
  if (a + want < p + span) munmap(a + want, (size_t)(p + span - (a + want)));
  (void)madvise(a, want, MADV_HUGEPAGE);
  memset(a, 0, want); /* fault it in now (huge where granted), not during the run */
  if (madvise(a, want, MADV_COLLAPSE) == 0) *huge = 1;
  return a;
}

void daio_buf_free(void *p, size_t len) {
  if (p) munmap(p, (len + HUGE_SZ - 1) & ~(size_t)(HUGE_SZ - 1));
}

/* Which set-up features this kernel grants, each tried alone on a small ring
 * (registered files and buffers on a ring of their own). */
int32_t daio_ring_features(void) {
  static const uint32_t each[] = {DAIO_FEAT_SQPOLL, DAIO_FEAT_COOP_TASKRUN,
                                  DAIO_FEAT_DEFER_TASKRUN, DAIO_FEAT_IOPOLL, DAIO_FEAT_NVME,
                                  DAIO_FEAT_MIN_WAIT, DAIO_FEAT_REG_RING};
  uint32_t ok = 0;
  daio_ring r;
  for (unsigned i = 0; i < sizeof each / sizeof *each; i++) {
    if (ring_init(&r, 4, each[i], 10) < 0) continue;
    ok |= r.feats & each[i];
    ring_exit(&r);
  }
  if (ring_init(&r, 4, 0, 0) == 0) {
    static char page[4096] __attribute__((aligned(4096)));
    struct iovec iov = {.iov_base = page, .iov_len = sizeof page};
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      ring_reg(&r, &fd, 1, &iov, 1, 1);
      ok |= r.feats & (DAIO_FEAT_FIXED_FILES | DAIO_FEAT_FIXED_BUFS);
      close(fd);
    }
    ring_exit(&r);
  }
  int huge;
  void *b = daio_buf_alloc(HUGE_SZ, &huge);
  if (b && huge) ok |= DAIO_FEAT_HUGE_BUFS;
  daio_buf_free(b, HUGE_SZ);
  return (int32_t)ok;
}
