/* daio: the fio-like job runner behind `daio bench`. The whole I/O loop runs
 * here, one thread per queue (or one process, DAIO_JOBF_PROCESSES), so a
 * benchmark measures the engine and not the FFI: the daio engine keeps iodepth requests in flight on its own io_uring
 * (fixed buffers and file, batched submit and reap, optional SQPOLL/IOPOLL);
 * psync and buffered are the baselines (pread/pwrite, with and without
 * O_DIRECT). Latency is from submission to reaped completion, into a
 * per-thread HDR-style histogram merged at the end. */
#include "daio.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

typedef struct {
  const uint64_t *job;
  int fd;
  uint32_t q;
  uint64_t fsize, region_lo, region_hi, quota;
  uint64_t blocks; /* (region_hi - region_lo) / bs: random jobs pick one of these */
  uint32_t nsid, lba; /* NVMe passthrough: namespace and LBA size */
  uint32_t feats;     /* the ring features the engine granted (DAIO_FEAT_*) */
  uint64_t deadline;
  uint64_t t_io0, t_io1; /* first submission, last completion */
  struct gate *gate;
  /* results */
  uint64_t reads, writes, rbytes, wbytes, mismatches;
  int err;
  struct rusage ru0, ru1;
  daio_hist hr, hw;
} worker;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Every queue sets up its ring and buffers first, then all start together
 * (as fio starts its jobs): a run's time is I/O time, not set-up. Threads meet
 * on a mutex; queue processes on two pipes: each writes one byte to `ready`
 * once set up (or failed) and closes its end, then waits for `go` to reach
 * end-of-file, which the parent's close of its write end gives all at once. */
struct gate {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  uint32_t ready; /* workers set up (or failed) */
  int open;
  int ready_w, go_r; /* queue processes: the pipes' ends a child uses (-1: threads) */
};

/* Waits for the gate (once per worker, also after a failed set-up) and starts
 * this queue's clock. */
static void start_io(worker *w) {
  struct gate *g = w->gate;
  if (g->go_r >= 0) {
    char c = 1;
    while (write(g->ready_w, &c, 1) < 0 && errno == EINTR) {
    }
    close(g->ready_w);
    while (read(g->go_r, &c, 1) < 0 && errno == EINTR) {
    }
  } else {
    pthread_mutex_lock(&g->mu);
    g->ready++;
    pthread_cond_broadcast(&g->cv);
    while (!g->open) pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
  }
  w->t_io0 = now_ns();
  w->deadline = w->t_io0 + w->job[DAIO_JOB_RUNTIME_NS];
}

static uint64_t xs(uint64_t *s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *s = x;
}

/* The verify pattern: every 8-byte word names its own file offset and the seed. */
static void fill_pattern(uint8_t *buf, uint64_t off, uint32_t len, uint64_t seed) {
  uint64_t *w = (uint64_t *)buf;
  for (uint32_t i = 0; i < len / 8; i++) w[i] = (off + 8ull * i) ^ seed;
}

static uint64_t check_pattern(const uint8_t *buf, uint64_t off, uint32_t len, uint64_t seed) {
  const uint64_t *w = (const uint64_t *)buf;
  for (uint32_t i = 0; i < len / 8; i++)
    if (w[i] != ((off + 8ull * i) ^ seed)) return 1;
  return 0;
}

typedef struct {
  uint64_t seq_next;
  uint64_t rng;
} cursor;

/* Picks the next request: is it a write, and where. */
static int next_io(worker *w, cursor *c, uint64_t *off) {
  const uint64_t *j = w->job;
  uint64_t bs = j[DAIO_JOB_BS], rw = j[DAIO_JOB_RW];
  int is_write;
  switch (rw) {
  case DAIO_RW_WRITE:
  case DAIO_RW_RANDWRITE:
    is_write = 1;
    break;
  case DAIO_RW_RANDRW:
    is_write = (xs(&c->rng) % 100) >= j[DAIO_JOB_RWMIXREAD];
    break;
  default:
    is_write = 0;
  }
  if (rw == DAIO_RW_READ || rw == DAIO_RW_WRITE) {
    if (c->seq_next + bs > w->region_hi) c->seq_next = w->region_lo;
    *off = c->seq_next;
    c->seq_next += bs;
  } else {
    /* A block in [0, blocks) by the high half of a 64x64 product (Lemire), not a
     * 64-bit division per I/O (fio too scales its random numbers by a multiplication). */
    *off = w->region_lo + (uint64_t)(((unsigned __int128)xs(&c->rng) * w->blocks) >> 64) * bs;
  }
  return is_write;
}

static int done_time(worker *w, uint64_t t, uint64_t issued_bytes) {
  if (w->job[DAIO_JOB_RUNTIME_NS]) return t >= w->deadline;
  /* One pass: this queue's share of the region's bytes (random jobs too). */
  return issued_bytes >= w->quota;
}

static void run_psync(worker *w) {
  const uint64_t *j = w->job;
  uint32_t bs = (uint32_t)j[DAIO_JOB_BS];
  uint64_t seed = j[DAIO_JOB_SEED];
  int verify = j[DAIO_JOB_FLAGS] & DAIO_JOBF_VERIFY;
  void *buf;
  if (posix_memalign(&buf, 4096, bs)) {
    w->err = ENOMEM;
    start_io(w);
    return;
  }
  memset(buf, 0x5a, bs);
  cursor c = {.seq_next = w->region_lo, .rng = seed * 2654435761u + w->q + 1};
  uint64_t issued = 0;
  start_io(w);
  for (;;) {
    uint64_t t0 = now_ns();
    if (done_time(w, t0, issued)) break;
    uint64_t off;
    int wr = next_io(w, &c, &off);
    if (wr && verify) fill_pattern(buf, off, bs, seed);
    ssize_t n = wr ? pwrite(w->fd, buf, bs, (off_t)off) : pread(w->fd, buf, bs, (off_t)off);
    uint64_t t1 = now_ns();
    if (n != (ssize_t)bs) {
      w->err = n < 0 ? errno : EIO;
      break;
    }
    issued += bs;
    if (wr) {
      w->writes++;
      w->wbytes += bs;
      daio_hist_record(&w->hw, t1 - t0);
    } else {
      w->reads++;
      w->rbytes += bs;
      daio_hist_record(&w->hr, t1 - t0);
      if (verify) w->mismatches += check_pattern(buf, off, bs, seed);
    }
  }
  w->t_io1 = now_ns();
  free(buf);
}

typedef struct {
  uint64_t t0, off;
  int wr;
} slot;

static void run_uring(worker *w) {
  const uint64_t *j = w->job;
  uint32_t bs = (uint32_t)j[DAIO_JOB_BS];
  uint32_t depth = (uint32_t)j[DAIO_JOB_IODEPTH];
  uint32_t batch = j[DAIO_JOB_BATCH] ? (uint32_t)j[DAIO_JOB_BATCH] : depth;
  /* Completions per round (fio's iodepth_batch_complete_min): half the depth
   * by default. Waking once per batch rather than per completion costs fewer
   * wake-ups and system calls, and the batch resubmitted at once goes to the
   * device under one plug (one doorbell) rather than one request at a time
   * (on this shared 2-core VM: 4K QD32 +20-30%, 128K QD8 +50%, both engines).
   * A min wait (opt-in) ends a round's wait early once one is in: it measured
   * slower here (the kernel then wakes the thread per completion). */
  uint32_t min_wait_us = (uint32_t)j[DAIO_JOB_MIN_WAIT_US];
  uint32_t batch_c = j[DAIO_JOB_BATCH_COMPLETE] ? (uint32_t)j[DAIO_JOB_BATCH_COMPLETE]
                                                : (depth > 1 ? depth / 2 : 1);
  if (batch_c > depth) batch_c = depth;
  uint64_t flags = j[DAIO_JOB_FLAGS], seed = j[DAIO_JOB_SEED];
  int verify = flags & DAIO_JOBF_VERIFY;
  int nvme = (flags & DAIO_JOBF_NVME) != 0;
  /* As fio's io_uring engine sets up its ring: one thread submits and reaps, so
   * completions need no IPI (COOP_TASKRUN) and their task work can wait until
   * this thread asks for events (DEFER_TASKRUN, not with SQPOLL); the engine
   * drops what an older kernel refuses, one by one, as fio does. This thread
   * alone enters the ring, so its fd can be registered (as newer fio does). */
  uint32_t want = DAIO_FEAT_COOP_TASKRUN | DAIO_FEAT_DEFER_TASKRUN | DAIO_FEAT_REG_RING;
  if (min_wait_us && batch_c > 1) want |= DAIO_FEAT_MIN_WAIT;
  if (nvme) want |= DAIO_FEAT_NVME;
  if (flags & DAIO_JOBF_SQPOLL) want |= DAIO_FEAT_SQPOLL;
  if (flags & DAIO_JOBF_HIPRI) want |= DAIO_FEAT_IOPOLL;
  daio_ring ring;
  int rc = daio_uring.init(&ring, depth, want, 100);
  if (rc < 0) {
    w->err = -rc;
    start_io(w);
    return;
  }
  ring.nsid = w->nsid;
  ring.lba = w->lba;
  size_t blen = (size_t)bs * depth;
  int huge;
  uint8_t *bufs = daio_buf_alloc(blen, &huge);
  if (!bufs) {
    w->err = ENOMEM;
    daio_uring.exit(&ring);
    start_io(w);
    return;
  }
  memset(bufs, 0x5a, blen);
  slot *slots = calloc(depth, sizeof *slots);
  struct iovec *iov = calloc(depth, sizeof *iov);
  for (uint32_t i = 0; i < depth; i++) {
    iov[i].iov_base = bufs + (size_t)i * bs;
    iov[i].iov_len = bs;
  }
  daio_uring.reg(&ring, &w->fd, 1, iov, depth, (flags & DAIO_JOBF_REGISTER) != 0);
  free(iov);
  w->feats = ring.feats | (huge ? DAIO_FEAT_HUGE_BUFS : 0);
  cursor c = {.seq_next = w->region_lo, .rng = seed * 2654435761u + w->q + 1};
  uint64_t issued = 0;
  uint32_t inflight = 0, queued = 0;
  int stopping = 0;
  struct io_uring_cqe *cqes[256];

#define PREP(i)                                                                               \
  do {                                                                                        \
    slot *s = &slots[i];                                                                      \
    s->wr = next_io(w, &c, &s->off);                                                          \
    uint8_t *b = bufs + (size_t)(i) * bs;                                                     \
    if (s->wr && verify) fill_pattern(b, s->off, bs, seed);                                   \
    daio_io io = {.tag = (i), .off = s->off, .buf = b, .len = bs, .buf_index = (int)(i),       \
                  .op = s->wr ? DAIO_OP_WRITE : DAIO_OP_READ};                                 \
    daio_uring.queue(&ring, io_uring_get_sqe(&ring.ring), &io);                               \
    issued += bs;                                                                             \
    inflight++;                                                                               \
    queued++;                                                                                 \
  } while (0)

  start_io(w);
  uint64_t t = w->t_io0;
  for (uint32_t i = 0; i < depth && !done_time(w, t, issued); i++) {
    PREP(i);
    slots[i].t0 = t;
  }
  if (queued) {
    if (daio_uring.commit(&ring) == queued) {
      w->err = EAGAIN; /* the kernel took none of them */
      inflight = 0;
    }
    queued = 0;
  }
  uint32_t *resub = calloc(depth, sizeof *resub);
  while (inflight > 0) {
    /* One system call per round: submit what the last round prepared and wait
     * for a batch of completions (fio's commit + getevents). */
    rc = daio_uring.commit_wait_min(&ring, batch_c < inflight ? batch_c : inflight, min_wait_us);
    queued = 0;
    if (rc < 0) {
      if (rc == -EINTR) continue;
      w->err = -rc;
      break;
    }
    unsigned n = daio_uring.reap(&ring, cqes, 256);
    if (n == 0) continue;
    uint64_t tc = now_ns();
    uint32_t nres = 0;
    for (unsigned k = 0; k < n; k++) {
      uint32_t i = (uint32_t)cqes[k]->user_data;
      int res = cqes[k]->res;
      slot *s = &slots[i];
      inflight--;
      /* An NVMe command completes with 0 (or an NVMe status > 0, or -errno). */
      if (nvme ? res != 0 : res != (int)bs) {
        if (!w->err) w->err = res < 0 ? -res : EIO;
        stopping = 1;
        continue;
      }
      if (s->wr) {
        w->writes++;
        w->wbytes += bs;
        daio_hist_record(&w->hw, tc - s->t0);
      } else {
        w->reads++;
        w->rbytes += bs;
        daio_hist_record(&w->hr, tc - s->t0);
        if (verify) w->mismatches += check_pattern(bufs + (size_t)i * bs, s->off, bs, seed);
      }
      /* Count the resubmissions this round already decided on, so one pass
       * does not run past its quota by up to a batch. */
      if (!stopping && !done_time(w, tc, issued + (uint64_t)nres * bs)) resub[nres++] = i;
      else stopping = 1;
    }
    daio_uring.seen(&ring, n);
    /* Resubmit in batches of at most `batch` (fio's iodepth_batch_submit); the
     * last batch goes with the next wait. */
    uint64_t ts = now_ns();
    for (uint32_t k = 0; k < nres; k++) {
      if (queued >= batch) {
        daio_uring.commit(&ring); /* what the kernel leaves goes with the next commit */
        queued = 0;
      }
      PREP(resub[k]);
      slots[resub[k]].t0 = ts;
    }
  }
#undef PREP
  w->t_io1 = now_ns();
  free(resub);
  free(slots);
  daio_uring.exit(&ring);
  daio_buf_free(bufs, blen);
}

static void *worker_main(void *arg) {
  worker *w = arg;
  getrusage(RUSAGE_THREAD, &w->ru0);
  if (w->job[DAIO_JOB_ENGINE] == DAIO_ENGINE_URING) run_uring(w);
  else run_psync(w);
  getrusage(RUSAGE_THREAD, &w->ru1);
  return NULL;
}

/* Runs the queues as processes, one forked per queue: lets them through the
 * gate together and waits for them. Returns 0 when it could make neither the
 * pipes nor the first process (the caller then runs threads); otherwise 1, with
 * *started the processes made (one that cannot be forked: rc -EAGAIN, as a
 * thread that cannot start). A child runs its queue's loop only and leaves
 * with _exit, never back into the caller's runtime (Deno's, under FFI); it
 * blocks every signal (the caller's handlers are not its own) and dies with
 * the forking thread. The pipes are close-on-exec, so a process the caller
 * spawns meanwhile does not hold them open. */
static int run_queue_procs(worker *ws, uint32_t nq, struct gate *g, pid_t *pids,
                           uint32_t *started, int *rc) {
  int ready[2], go[2];
  if (pipe2(ready, O_CLOEXEC) < 0) return 0;
  if (pipe2(go, O_CLOEXEC) < 0) {
    close(ready[0]);
    close(ready[1]);
    return 0;
  }
  g->ready_w = ready[1];
  g->go_r = go[0];
  uint32_t n = 0;
  for (; n < nq; n++) {
    pid_t pid = fork();
    if (pid == 0) {
      sigset_t all;
      sigfillset(&all);
      pthread_sigmask(SIG_BLOCK, &all, NULL);
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      close(ready[0]);
      close(go[1]);
      worker_main(&ws[n]);
      _exit(0);
    }
    if (pid < 0) break;
    pids[n] = pid;
  }
  close(ready[1]);
  close(go[0]);
  g->ready_w = g->go_r = -1;
  if (n == 0) {
    close(ready[0]);
    close(go[1]);
    return 0;
  }
  if (n < nq) *rc = -EAGAIN;
  /* End-of-file once every child has written its byte and closed its end (or
   * died): all are set up. Closing `go` then starts them together. */
  char buf[64];
  for (;;) {
    ssize_t k = read(ready[0], buf, sizeof buf);
    if (k > 0 || (k < 0 && errno == EINTR)) continue;
    break;
  }
  close(go[1]);
  close(ready[0]);
  for (uint32_t q = 0; q < n; q++) {
    int st = 0;
    pid_t r;
    while ((r = waitpid(pids[q], &st, 0)) < 0 && errno == EINTR) {
    }
    /* ECHILD: something else reaped it; its figures are in shared memory. */
    if (r == pids[q] && !(WIFEXITED(st) && WEXITSTATUS(st) == 0) && !ws[q].err) ws[q].err = EIO;
  }
  *started = n;
  return 1;
}

static uint64_t tv_us(struct timeval a, struct timeval b) {
  return (uint64_t)((b.tv_sec - a.tv_sec) * 1000000 + (b.tv_usec - a.tv_usec));
}

static void put_hist(uint64_t *o, const daio_hist *h) {
  o[0] = h->count;
  o[1] = h->count ? h->min : 0;
  o[2] = h->max;
  memcpy(&o[3], &h->sum, sizeof(double));
  memcpy(&o[4], h->buckets, sizeof h->buckets);
}

int32_t daio_bench_run(const char *path, const uint64_t *job, uint64_t *out) {
  uint64_t bs = job[DAIO_JOB_BS], depth = job[DAIO_JOB_IODEPTH], nq = job[DAIO_JOB_QUEUES];
  uint64_t rw = job[DAIO_JOB_RW], engine = job[DAIO_JOB_ENGINE];
  if (bs == 0 || bs > (64u << 20) || depth == 0 || depth > 4096 || nq == 0 || nq > 64 ||
      rw > DAIO_RW_RANDRW || engine > DAIO_ENGINE_BUFFERED)
    return -EINVAL;
  if ((job[DAIO_JOB_FLAGS] & DAIO_JOBF_VERIFY) && bs % 8) return -EINVAL;
  int writes = rw == DAIO_RW_WRITE || rw == DAIO_RW_RANDWRITE ||
               (rw == DAIO_RW_RANDRW && job[DAIO_JOB_RWMIXREAD] < 100);
  int nvme = (job[DAIO_JOB_FLAGS] & DAIO_JOBF_NVME) != 0;
  if (nvme && engine != DAIO_ENGINE_URING) return -EINVAL;
  /* Passthrough bypasses the page cache by nature; the char device takes no O_DIRECT. */
  int direct = nvme || (job[DAIO_JOB_DIRECT] && engine != DAIO_ENGINE_BUFFERED);
  int fd = open(path, (writes ? O_RDWR : O_RDONLY) | O_CLOEXEC | (direct && !nvme ? O_DIRECT : 0));
  if (fd < 0) return -errno;
  uint32_t nsid = 0, lba = 0;
  uint64_t nlba = 0;
  if (nvme) {
    int rc = daio_nvme_identify(fd, path, &nsid, &lba, &nlba);
    if (rc == 0 && bs % lba) rc = -EINVAL;
    if (rc < 0) {
      close(fd);
      return rc;
    }
  }
  struct stat st;
  if (fstat(fd, &st) < 0 || S_ISDIR(st.st_mode)) {
    int e = S_ISDIR(st.st_mode) ? EISDIR : errno;
    close(fd);
    return -e;
  }
  /* As daio_dev_open: root could write a read-only file; refuse as a user would be. */
  if (writes && S_ISREG(st.st_mode) && !(st.st_mode & 0222)) {
    close(fd);
    return -EACCES;
  }
  uint64_t fsize = nvme ? nlba * lba : (uint64_t)st.st_size;
  if (S_ISBLK(st.st_mode) && ioctl(fd, BLKGETSIZE64, &fsize) < 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  uint64_t size = job[DAIO_JOB_SIZE] ? job[DAIO_JOB_SIZE] : fsize;
  if (size > fsize) {
    close(fd);
    return -ENOSPC;
  }
  size -= size % bs;
  if (size < bs * nq) {
    close(fd);
    return -ENOSPC;
  }
  /* Shared memory, so that queue processes write their figures where the
   * caller reads them. */
  size_t ws_len = nq * sizeof(worker);
  worker *ws = mmap(NULL, ws_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  pthread_t *th = calloc(nq, sizeof *th);
  pid_t *pids = calloc(nq, sizeof *pids);
  if (ws == MAP_FAILED || !th || !pids) {
    close(fd);
    if (ws != MAP_FAILED) munmap(ws, ws_len);
    free(th);
    free(pids);
    return -ENOMEM;
  }
  uint64_t share = (size / bs / nq) * bs;
  struct gate gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, -1, -1};
  uint64_t t0 = now_ns();
  for (uint32_t q = 0; q < nq; q++) {
    worker *w = &ws[q];
    w->job = job;
    w->fd = fd;
    w->q = q;
    w->fsize = fsize;
    w->nsid = nsid;
    w->lba = lba;
    /* Sequential jobs split the region between queues; random ones share it. */
    int seq = rw == DAIO_RW_READ || rw == DAIO_RW_WRITE;
    w->region_lo = seq ? q * share : 0;
    /* The last queue also takes the remainder, so one pass covers every block. */
    w->region_hi = seq ? (q + 1 == nq ? size : (q + 1) * share) : size;
    w->gate = &gate;
    w->quota = seq ? w->region_hi - w->region_lo : share;
    w->blocks = (w->region_hi - w->region_lo) / bs;
    daio_hist_reset(&w->hr);
    daio_hist_reset(&w->hw);
  }
  uint32_t started = 0;
  int rc = 0;
  /* Asked for (DAIO_JOBF_PROCESSES, two or more queues): one process per
   * queue, as fio runs numjobs without thread=1; by default one thread each. */
  int procs = nq > 1 && (job[DAIO_JOB_FLAGS] & DAIO_JOBF_PROCESSES) &&
              run_queue_procs(ws, nq, &gate, pids, &started, &rc);
  if (!procs) {
    for (; started < nq; started++) {
      if (pthread_create(&th[started], NULL, worker_main, &ws[started]) != 0) {
        rc = -EAGAIN;
        break;
      }
    }
    pthread_mutex_lock(&gate.mu);
    while (gate.ready < started) pthread_cond_wait(&gate.cv, &gate.mu);
    gate.open = 1;
    pthread_cond_broadcast(&gate.cv);
    pthread_mutex_unlock(&gate.mu);
    for (uint32_t q = 0; q < started; q++) pthread_join(th[q], NULL);
  }
  uint64_t elapsed = now_ns() - t0;
  /* As fio: the figures cover the time I/O ran (the first submission of any
   * queue to the last completion of any), not ring and thread set-up. */
  uint64_t io0 = UINT64_MAX, io1 = 0;
  for (uint32_t q = 0; q < started; q++) {
    if (ws[q].t_io0 && ws[q].t_io0 < io0) io0 = ws[q].t_io0;
    if (ws[q].t_io1 > io1) io1 = ws[q].t_io1;
  }
  if (io0 != UINT64_MAX && io1 > io0) elapsed = io1 - io0;
  memset(out, 0, DAIO_OUT_WORDS * sizeof *out);
  daio_hist hr, hw;
  daio_hist_reset(&hr);
  daio_hist_reset(&hw);
  for (uint32_t q = 0; q < started; q++) {
    worker *w = &ws[q];
    out[DAIO_OUT_READS] += w->reads;
    out[DAIO_OUT_WRITES] += w->writes;
    out[DAIO_OUT_BYTES_READ] += w->rbytes;
    out[DAIO_OUT_BYTES_WRITTEN] += w->wbytes;
    out[DAIO_OUT_USR_US] += tv_us(w->ru0.ru_utime, w->ru1.ru_utime);
    out[DAIO_OUT_SYS_US] += tv_us(w->ru0.ru_stime, w->ru1.ru_stime);
    out[DAIO_OUT_MISMATCHES] += w->mismatches;
    if (w->err && !out[DAIO_OUT_ERRNO]) out[DAIO_OUT_ERRNO] = (uint64_t)w->err;
    daio_hist_merge(&hr, &w->hr);
    daio_hist_merge(&hw, &w->hw);
  }
  out[DAIO_OUT_ELAPSED_NS] = elapsed;
  out[DAIO_OUT_FILE_SIZE] = fsize;
  out[DAIO_OUT_DIRECT] = (uint64_t)direct;
  out[DAIO_OUT_FEATURES] = started ? ws[0].feats : 0;
  put_hist(out + DAIO_OUT_WORDS, &hr);
  put_hist(out + DAIO_OUT_WORDS + DAIO_HIST_WORDS, &hw);
  close(fd);
  munmap(ws, ws_len);
  free(th);
  free(pids);
  return rc;
}
