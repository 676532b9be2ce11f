/* daio: the device engine behind lib/block/file_device.ts. One io_uring per
 * queue, O_DIRECT with a pool of aligned buffers registered as fixed buffers,
 * the file registered as a fixed file, batched submission from the JS thread.
 *
 * Completions: JS reads every CQ ring directly (daio_dev_cq gives it the ring's
 * head, tail and entries), so collecting completions costs no FFI call. To wait
 * without a thread hop, JS connects a Unix socket it awaits with Deno's own
 * async I/O (daio_dev_notify), and every request is hard-linked to a one-byte
 * send on that socket: the kernel completes the request and, in the same task
 * work on the submitting (JS) thread, makes the socket readable, so the JS
 * thread is woken once per batch, as a C loop blocked in io_uring_enter would
 * be. Without the socket, daio_dev_wait (a nonblocking FFI call, one thread
 * hop) waits on an eventfd every ring signals; daio_dev_reap is the older
 * consuming form. Only one side consumes a ring's CQ at a time. */
#include "daio.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/fs.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/uio.h>
#include <unistd.h>

#define DAIO_MAX_DEVS 256
#define DAIO_MAX_QUEUES 64

/* user_data of the notification sends (their CQE appears only if one fails). */
#define DAIO_NOTIFY_TAG UINT64_MAX

typedef struct daio_dev {
  int fd, bfd, efd, nfd;
  uint32_t nq, qdepth;
  int registered_files, registered_bufs;
  void *pool;
  uint64_t pool_bytes;
  int huge; /* the pool is in transparent huge pages */
  volatile int closing;
  int sqpoll;
  /* Test-only fault injection (daio_dev_inject), off (0) by default. */
  uint32_t inj_prep, inj_submit, inj_prep_n, inj_submit_n, inj_full_n;
  int nvme; /* NVMe passthrough (a /dev/ngXnY): commands complete with 0, not a byte count */
  daio_ring rings[DAIO_MAX_QUEUES];
} daio_dev;

static daio_dev *devs[DAIO_MAX_DEVS];
static pthread_mutex_t devs_lock = PTHREAD_MUTEX_INITIALIZER;

/* The table's slots are published and cleared under devs_lock and read with an
 * acquire load, so a reader never sees a torn or stale-before-init pointer (reading
 * them unlocked was a data race). A handle's lifetime is the caller's contract:
 * lib/block/daio_engine.ts never closes a device while a call on it is running. */
static daio_dev *get_dev(int32_t h) {
  if (h < 0 || h >= DAIO_MAX_DEVS) return NULL;
  return __atomic_load_n(&devs[h], __ATOMIC_ACQUIRE);
}

static void free_dev(daio_dev *d, uint32_t rings_up) {
  for (uint32_t i = 0; i < rings_up; i++) daio_uring.exit(&d->rings[i]);
  if (d->fd >= 0) close(d->fd);
  if (d->bfd >= 0) close(d->bfd);
  if (d->efd >= 0) close(d->efd);
  if (d->nfd >= 0) close(d->nfd);
  daio_buf_free(d->pool, d->pool_bytes);
  free(d);
}

int32_t daio_dev_open(const char *path, uint32_t flags, uint32_t queues, uint32_t qdepth,
                      uint64_t pool_bytes, uint64_t *info) {
  if (queues == 0 || queues > DAIO_MAX_QUEUES || qdepth == 0 || qdepth > 4096) return -EINVAL;
  if (pool_bytes == 0 || pool_bytes > (1ull << 32) || pool_bytes % 4096) return -EINVAL;
  int ro = flags & DAIO_OPEN_READONLY;
  int want_direct = flags & (DAIO_OPEN_DIRECT | DAIO_OPEN_DIRECT_AUTO);
  int base = (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC;
  memset(info, 0, DAIO_DEV_INFO_WORDS * sizeof *info);

  /* Open buffered first: names a missing path, a directory or a refused mode
   * plainly, before O_DIRECT gets a say. */
  int bfd = open(path, base);
  if (bfd < 0) return -errno;
  struct stat st;
  if (fstat(bfd, &st) < 0) {
    int e = errno;
    close(bfd);
    return -e;
  }
  if (S_ISDIR(st.st_mode)) {
    close(bfd);
    return -EISDIR;
  }
  /* root may write a file whose mode says read-only; a user who opens one for
   * writing almost certainly made a mistake, so refuse it like a non-root open. */
  if (!ro && S_ISREG(st.st_mode) && !(st.st_mode & 0222)) {
    close(bfd);
    return -EACCES;
  }
  int isblk = S_ISBLK(st.st_mode);
  /* An NVMe generic character device (/dev/ngXnY): passthrough, no page cache. */
  uint32_t nsid = 0, lba = 0;
  uint64_t nlba = 0;
  int nvme = S_ISCHR(st.st_mode) && daio_nvme_identify(bfd, path, &nsid, &lba, &nlba) == 0;
  if (!isblk && !nvme && !S_ISREG(st.st_mode)) {
    close(bfd);
    return -ENOTBLK;
  }
  uint64_t size = (uint64_t)st.st_size;
  uint32_t lbs = 512;
  if (nvme) {
    size = nlba * lba;
    lbs = lba;
    want_direct = 0;
  }
  if (isblk) {
    if (ioctl(bfd, BLKGETSIZE64, &size) < 0 || ioctl(bfd, BLKSSZGET, &lbs) < 0) {
      int e = errno;
      close(bfd);
      return -e;
    }
  }
  int fd = -1, direct = 0;
  if (want_direct) {
    fd = open(path, base | O_DIRECT);
    if (fd >= 0) {
      direct = 1;
    } else if (errno == EINVAL && (flags & DAIO_OPEN_DIRECT_AUTO)) {
      info[6] = EINVAL;
    } else {
      int e = errno;
      close(bfd);
      return -e;
    }
  }
  if (!direct) {
    fd = bfd;
    bfd = -1;
  }
  daio_dev *d = calloc(1, sizeof *d);
  if (!d) {
    close(fd);
    if (bfd >= 0) close(bfd);
    return -ENOMEM;
  }
  d->fd = fd;
  d->bfd = bfd;
  d->efd = -1;
  d->nfd = -1;
  d->nq = queues;
  d->nvme = nvme;
  d->qdepth = qdepth;
  d->pool_bytes = pool_bytes;
  /* Zeroed, in huge pages where granted: a request's data then lies in few
   * physically contiguous segments (daio_buf_alloc). */
  d->pool = daio_buf_alloc(pool_bytes, &d->huge);
  if (!d->pool) {
    free_dev(d, 0);
    return -ENOMEM;
  }
  d->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (d->efd < 0) {
    int e = errno;
    free_dev(d, 0);
    return -e;
  }
  /* No IPI per completion while the JS thread runs JS: the completion's task
   * work waits for its next system call, and a thread asleep (in epoll_wait)
   * is still woken for it. Measured: bridge QD32 ~0.62 -> ~0.74 of the C
   * runner with the socket wakeup. Not DEFER_TASKRUN: completions would then
   * wait for an io_uring_enter that the JS side never makes while asleep. */
  uint32_t want = DAIO_FEAT_COOP_TASKRUN;
  if (flags & DAIO_OPEN_SQPOLL) want |= DAIO_FEAT_SQPOLL;
  d->sqpoll = (flags & DAIO_OPEN_SQPOLL) != 0;
  if (nvme) want |= DAIO_FEAT_NVME;
  /* Fixed files and buffers are an optimisation: without them (old kernel,
   * RLIMIT_MEMLOCK) the engine works the same, a little slower. */
  int files[2] = {d->fd, d->bfd};
  int nfiles = d->bfd >= 0 ? 2 : 1;
  struct iovec iov = {.iov_base = d->pool, .iov_len = pool_bytes};
  uint32_t up = 0;
  for (; up < queues; up++) {
    /* Two SQEs per request: the request and its linked notification send. */
    int rc = daio_uring.init(&d->rings[up], 2 * qdepth, want, 50);
    if (rc < 0) {
      free_dev(d, up);
      return rc;
    }
    d->rings[up].nsid = nsid;
    d->rings[up].lba = lba;
    rc = io_uring_register_eventfd(&d->rings[up].ring, d->efd);
    if (rc < 0) {
      free_dev(d, up + 1);
      return rc;
    }
    /* Not the pool as a registered buffer under NVMe passthrough: QEMU's emulated
     * controller (Linux 6.x) answers EINVAL to commands whose data sits at an
     * offset inside one large registered buffer (seen in tests/e2e/daio_nvme_test.ts). */
    daio_uring.reg(&d->rings[up], files, nfiles, &iov, nvme ? 0 : 1,
                   !(flags & DAIO_OPEN_NOREGISTER));
  }
  /* Every ring must agree on fixed files and buffers: the request's file and
   * buffer index are the same whichever ring it goes to. */
  uint32_t feats = d->rings[0].feats;
  for (uint32_t i = 1; i < queues; i++) feats &= d->rings[i].feats;
  for (uint32_t i = 0; i < queues; i++) d->rings[i].feats = feats | (d->rings[i].feats & ~(DAIO_FEAT_FIXED_FILES | DAIO_FEAT_FIXED_BUFS));
  d->registered_files = (feats & DAIO_FEAT_FIXED_FILES) != 0;
  d->registered_bufs = (feats & DAIO_FEAT_FIXED_BUFS) != 0;
  pthread_mutex_lock(&devs_lock);
  int32_t h = -1;
  for (int32_t i = 0; i < DAIO_MAX_DEVS; i++) {
    if (!devs[i]) {
      __atomic_store_n(&devs[i], d, __ATOMIC_RELEASE);
      h = i;
      break;
    }
  }
  pthread_mutex_unlock(&devs_lock);
  if (h < 0) {
    free_dev(d, up);
    return -EMFILE;
  }
  info[0] = size;
  info[1] = nvme ? lbs : direct ? (isblk ? lbs : 4096) : 1;
  info[2] = (uint64_t)direct;
  info[3] = pool_bytes;
  info[4] = (uint64_t)d->registered_bufs;
  info[5] = (uint64_t)isblk;
  info[7] = d->rings[0].feats | (d->huge ? DAIO_FEAT_HUGE_BUFS : 0);
  info[8] = (uint64_t)nvme;
  return h;
}

void *daio_dev_pool(int32_t h) {
  daio_dev *d = get_dev(h);
  return d ? d->pool : NULL;
}

/* Whether the engine can carry r at all; checked before any SQE is taken, so a
 * refused request leaves nothing on the ring that could complete for its tag. */
static int check(daio_dev *d, const daio_req *r) {
  switch (r->op) {
  case DAIO_OP_READ:
  case DAIO_OP_WRITE:
    if ((uint64_t)r->buf_off + r->len > d->pool_bytes || r->len > UINT32_MAX) return -EINVAL;
    if (d->nvme && (r->off % d->rings[0].lba || r->len % d->rings[0].lba || r->len == 0))
      return -EINVAL;
    return 0;
  case DAIO_OP_FSYNC:
    return 0;
  case DAIO_OP_FALLOCATE:
    return d->nvme ? -EOPNOTSUPP : 0;
  default:
    return -EINVAL;
  }
}

/* Fills sqe for r (already checked) through the engine. */
static void prep(daio_dev *d, daio_ring *ring, struct io_uring_sqe *sqe, const daio_req *r) {
  daio_io io = {
      .tag = r->tag,
      .off = r->off,
      .len64 = r->len,
      .buf = (char *)d->pool + r->buf_off,
      .len = (uint32_t)r->len,
      .buf_index = 0, /* the pool is one registered buffer */
      .op = r->op,
      .file = r->fd == DAIO_FD_BUFFERED && d->bfd >= 0 ? 1 : 0,
      .flags = r->op == DAIO_OP_FALLOCATE ? 0 : r->flags,
      .mode = r->op == DAIO_OP_FALLOCATE ? r->flags : 0,
  };
  daio_uring.queue(ring, sqe, &io);
}

/* Hands ring q's queued SQEs to the kernel. What the kernel does not take (an
 * error such as EBUSY/EAGAIN, or a partial submit) stays queued in the SQ ring
 * and goes with the next submit or daio_dev_kick: it is never dropped, so every
 * request that got an SQE completes exactly once. Returns what is still queued. */
static unsigned ring_submit(daio_dev *d, uint32_t q) {
  struct io_uring *ring = &d->rings[q].ring;
  if (d->inj_submit && !d->sqpoll && ++d->inj_submit_n % d->inj_submit == 0) {
    /* Test-only: publish the SQ tail as io_uring_submit would, but have the
     * kernel take only half of it (whole request+notification pairs). */
    struct io_uring_sq *sq = &ring->sq;
    sq->sqe_head = sq->sqe_tail;
    io_uring_smp_store_release(sq->ktail, sq->sqe_tail);
    unsigned ready = io_uring_sq_ready(ring);
    unsigned take = ready / 2;
    if (d->nfd >= 0) take &= ~1u;
    if (take > 0) (void)io_uring_enter(ring->ring_fd, take, 0, 0, NULL);
    return io_uring_sq_ready(ring);
  }
  return daio_uring.commit(&d->rings[q]);
}

int32_t daio_dev_submit(int32_t h, const daio_req *reqs, uint32_t n) {
  daio_dev *d = get_dev(h);
  if (!d) return -EBADF;
  uint64_t touched = 0;
  /* One SQE a request, two with the linked notification send. */
  unsigned need = d->nfd >= 0 ? 2 : 1;
  int32_t refused = 0;
  uint32_t i = 0;
  for (; i < n; i++) {
    const daio_req *r = &reqs[i];
    uint32_t q = r->queue % d->nq;
    struct io_uring *ring = &d->rings[q].ring;
    int rc = check(d, r);
    if (rc == 0 && d->inj_prep && ++d->inj_prep_n % d->inj_prep == 0) rc = -EINVAL;
    if (rc < 0) {
      refused = rc;
      break;
    }
    /* Room for the whole request (and its send) or none of it: a request is
     * never left half on the ring. */
    int full = io_uring_sq_space_left(ring) < need;
    if (full) {
      ring_submit(d, q);
      full = io_uring_sq_space_left(ring) < need;
    }
    if (!full && d->inj_submit && ++d->inj_full_n % d->inj_submit == 0) full = 1;
    if (full) {
      refused = -EBUSY;
      break;
    }
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
    prep(d, &d->rings[q], sqe, r);
    if (d->nfd >= 0) {
      /* Hard link: the send runs however the request ended. */
      sqe->flags |= IOSQE_IO_HARDLINK;
      struct io_uring_sqe *ns = io_uring_get_sqe(ring);
      /* MSG_DONTWAIT: a full socket must not stall the ring; its unread bytes
       * already make the reader look at every ring, so the byte is not missed. */
      static const char one = 1;
      io_uring_prep_send(ns, d->nfd, &one, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
      ns->flags |= IOSQE_CQE_SKIP_SUCCESS;
      io_uring_sqe_set_data64(ns, DAIO_NOTIFY_TAG);
    }
    touched |= 1ull << q;
  }
  for (uint32_t q = 0; q < d->nq; q++)
    if (touched & (1ull << q)) ring_submit(d, q);
  return i > 0 || n == 0 ? (int32_t)i : refused;
}

int32_t daio_dev_kick(int32_t h) {
  daio_dev *d = get_dev(h);
  if (!d) return -EBADF;
  unsigned left = 0;
  for (uint32_t q = 0; q < d->nq; q++)
    if (io_uring_sq_ready(&d->rings[q].ring)) left += ring_submit(d, q);
  return (int32_t)left;
}

int32_t daio_dev_inject(int32_t h, uint32_t prep_every, uint32_t submit_every) {
  daio_dev *d = get_dev(h);
  if (!d) return -EBADF;
  d->inj_prep = prep_every;
  d->inj_submit = submit_every;
  d->inj_prep_n = d->inj_submit_n = d->inj_full_n = 0;
  return 0;
}

int32_t daio_dev_cq(int32_t h, uint32_t q, uint64_t *out) {
  daio_dev *d = get_dev(h);
  if (!d) return -EBADF;
  if (q >= d->nq) return -EINVAL;
  struct io_uring_cq *cq = &d->rings[q].ring.cq;
  out[0] = (uint64_t)(uintptr_t)cq->khead;
  out[1] = (uint64_t)(uintptr_t)cq->ktail;
  out[2] = (uint64_t)(uintptr_t)cq->cqes;
  out[3] = cq->ring_mask;
  out[4] = cq->ring_entries;
  out[5] = sizeof(struct io_uring_cqe) * (d->nvme ? 2 : 1); /* CQE32 with passthrough */
  return 0;
}

static int any_ready(daio_dev *d) {
  for (uint32_t q = 0; q < d->nq; q++)
    if (io_uring_cq_ready(&d->rings[q].ring)) return 1;
  return 0;
}

int32_t daio_dev_wait(int32_t h, int32_t timeout_ms) {
  daio_dev *d = get_dev(h);
  if (!d) return -EBADF;
  for (;;) {
    /* Clear the eventfd before looking, so a completion posted in between
     * still wakes the poll below. */
    uint64_t v;
    if (read(d->efd, &v, sizeof v) < 0 && errno != EAGAIN) return -errno;
    if (any_ready(d)) return 1;
    if (d->closing) return 0;
    struct pollfd pfd = {.fd = d->efd, .events = POLLIN};
    int rc = poll(&pfd, 1, timeout_ms);
    if (rc < 0 && errno != EINTR) return -errno;
    if (rc == 0) return 0;
  }
}

int32_t daio_dev_notify(int32_t h, const char *path) {
  daio_dev *d = get_dev(h);
  if (!d) return -EBADF;
  if (d->nfd >= 0) return -EBUSY;
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof sa.sun_path) return -ENAMETOOLONG;
  strcpy(sa.sun_path, path);
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -errno;
  if (connect(s, (struct sockaddr *)&sa, sizeof sa) < 0) {
    int e = errno;
    close(s);
    return -e;
  }
  d->nfd = s;
  return 0;
}

static uint32_t drain(daio_dev *d, daio_cqe *out, uint32_t max) {
  uint32_t n = 0;
  for (uint32_t q = 0; q < d->nq && n < max; q++) {
    struct io_uring *ring = &d->rings[q].ring;
    struct io_uring_cqe *cqe;
    unsigned head, seen = 0;
    io_uring_for_each_cqe(ring, head, cqe) {
      if (n >= max) break;
      out[n].tag = cqe->user_data;
      out[n].res = cqe->res;
      n++;
      seen++;
    }
    if (seen) io_uring_cq_advance(ring, seen);
  }
  return n;
}

int32_t daio_dev_reap(int32_t h, daio_cqe *out, uint32_t max, int32_t timeout_ms) {
  daio_dev *d = get_dev(h);
  if (!d) return -EBADF;
  for (;;) {
    uint32_t n = drain(d, out, max);
    if (n > 0 || d->closing) return (int32_t)n;
    struct pollfd pfd = {.fd = d->efd, .events = POLLIN};
    int rc = poll(&pfd, 1, timeout_ms);
    if (rc < 0 && errno != EINTR) return -errno;
    if (rc == 0) return 0;
    uint64_t v;
    if (read(d->efd, &v, sizeof v) < 0 && errno != EAGAIN) return -errno;
  }
}

int32_t daio_dev_wake(int32_t h) {
  daio_dev *d = get_dev(h);
  if (!d) return -EBADF;
  d->closing = 1;
  uint64_t one = 1;
  if (write(d->efd, &one, sizeof one) < 0) return -errno;
  /* A reader waiting on the notification socket wakes too (it may wait with
   * nothing in flight when completions were taken inline after a submit). */
  if (d->nfd >= 0) (void)send(d->nfd, &one, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
  return 0;
}

int32_t daio_dev_close(int32_t h) {
  pthread_mutex_lock(&devs_lock);
  daio_dev *d = get_dev(h);
  if (d) __atomic_store_n(&devs[h], NULL, __ATOMIC_RELEASE);
  pthread_mutex_unlock(&devs_lock);
  if (!d) return -EBADF;
  free_dev(d, d->nq);
  return 0;
}
