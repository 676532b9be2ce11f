/* Run inside the NVMe test guest (tests/e2e/daio_nvme_test.ts): identifies
 * the namespace, writes a verify pattern with NVMe passthrough, reads it back
 * at random with passthrough and checks every block (the bench's job loop),
 * then does the same through the device engine under `daio replay` and every
 * `serve` export (daio_dev: submit and reap, a flush, a refused fallocate),
 * and prints one line per part that the test parses. Linked statically with
 * native/daio_{bench,dev,ring,nvme,hist}.c. */
#include "daio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int run(const char *path, uint64_t rw, uint64_t depth, uint64_t size, uint64_t *out) {
  uint64_t job[DAIO_JOB_WORDS] = {0};
  job[DAIO_JOB_RW] = rw;
  job[DAIO_JOB_BS] = 4096;
  job[DAIO_JOB_IODEPTH] = depth;
  job[DAIO_JOB_QUEUES] = 2;
  job[DAIO_JOB_ENGINE] = DAIO_ENGINE_URING;
  job[DAIO_JOB_DIRECT] = 1;
  job[DAIO_JOB_FLAGS] = DAIO_JOBF_REGISTER | DAIO_JOBF_VERIFY | DAIO_JOBF_NVME;
  job[DAIO_JOB_SIZE] = size;
  job[DAIO_JOB_SEED] = 4242;
  int rc = daio_bench_run(path, job, out);
  if (rc < 0) return rc;
  return out[DAIO_OUT_ERRNO] ? -(int)out[DAIO_OUT_ERRNO] : 0;
}

/* The device engine's part: 8 MiB at 16 MiB written in 64 KiB requests (word =
 * offset ^ 777), a flush, reads of random sizes checked word by word. */
#define DEV_BASE (16ull << 20)
#define DEV_SIZE (8ull << 20)
#define SLOT 65536u

static int dev_part(const char *path, uint32_t oflags) {
  uint64_t info[DAIO_DEV_INFO_WORDS];
  const uint32_t qd = 8, nq = 2;
  int32_t h = daio_dev_open(path, oflags, nq, qd, (uint64_t)nq * qd * SLOT, info);
  if (h < 0) {
    printf("DAIO-DEV-FAIL open %s\n", strerror(-h));
    return 1;
  }
  if (info[8] != 1) {
    printf("DAIO-DEV-FAIL not opened as NVMe passthrough\n");
    return 1;
  }
  uint8_t *pool = daio_dev_pool(h);
  daio_req reqs[16];
  daio_cqe cqes[64];
  uint64_t writes = 0, reads = 0, mismatches = 0, bad = 0;
  int64_t first_bad = 0;
  /* Writes: 16 slots in flight, each completion must be 0 (an NVMe command's success). */
  uint64_t next = 0, done = 0, total = DEV_SIZE / SLOT;
  uint32_t inflight = 0;
  /* Free pool slots: a slot is reused only once its write has completed (the tag names it). */
  uint32_t free_slots[16], nfree = 0;
  for (uint32_t i = 0; i < nq * qd; i++) free_slots[nfree++] = i;
  while (done < total) {
    uint32_t n = 0;
    while (nfree > 0 && next < total) {
      uint32_t slot = free_slots[--nfree];
      uint64_t off = DEV_BASE + next * SLOT;
      uint64_t *w = (uint64_t *)(pool + (uint64_t)slot * SLOT);
      for (uint32_t i = 0; i < SLOT / 8; i++) w[i] = (off + 8ull * i) ^ 777;
      reqs[n] = (daio_req){.tag = slot, .off = off, .len = SLOT, .buf_off = slot * SLOT,
                           .op = DAIO_OP_WRITE, .queue = (uint8_t)(next % nq)};
      n++;
      next++;
    }
    if (n) {
      int rc = daio_dev_submit(h, reqs, n);
      if (rc != (int)n) {
        printf("DAIO-DEV-FAIL submit %d of %u\n", rc, n);
        return 1;
      }
      inflight += n;
    }
    int got = daio_dev_reap(h, cqes, 64, 5000);
    if (got <= 0) {
      printf("DAIO-DEV-FAIL reap %d\n", got);
      return 1;
    }
    for (int k = 0; k < got; k++) {
      if (cqes[k].res != 0 && !first_bad) first_bad = cqes[k].res;
      bad += cqes[k].res != 0;
      free_slots[nfree++] = (uint32_t)cqes[k].tag;
    }
    writes += (uint64_t)got;
    done += (uint64_t)got;
    inflight -= (uint32_t)got;
  }
  daio_req fl = {.tag = 1000000, .op = DAIO_OP_FSYNC};
  if (daio_dev_submit(h, &fl, 1) != 1 || daio_dev_reap(h, cqes, 1, 5000) != 1 || cqes[0].res != 0) {
    printf("DAIO-DEV-FAIL flush\n");
    return 1;
  }
  daio_req fa = {.tag = 1000001, .op = DAIO_OP_FALLOCATE, .off = 0, .len = 4096};
  int refused = daio_dev_submit(h, &fa, 1);
  /* Reads of 4..64 KiB at random 4 KiB-aligned offsets, one at a time per slot. */
  uint64_t seed = 88172645463325252ull;
  for (int r = 0; r < 400; r++) {
    seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
    uint32_t len = 4096u * (uint32_t)(1 + seed % 16);
    uint64_t off = DEV_BASE + 4096ull * ((seed >> 8) % ((DEV_SIZE - len) / 4096));
    daio_req rq = {.tag = (uint64_t)r, .off = off, .len = len, .buf_off = 0, .op = DAIO_OP_READ,
                   .queue = (uint8_t)(r % nq)};
    memset(pool, 0xee, len);
    if (daio_dev_submit(h, &rq, 1) != 1 || daio_dev_reap(h, cqes, 1, 5000) != 1) {
      printf("DAIO-DEV-FAIL read\n");
      return 1;
    }
    bad += cqes[0].res != 0 || cqes[0].tag != (uint64_t)r;
    const uint64_t *w = (const uint64_t *)pool;
    for (uint32_t i = 0; i < len / 8; i++) mismatches += w[i] != ((off + 8ull * i) ^ 777);
    reads++;
  }
  daio_dev_close(h);
  printf("DAIO-DEV-OK feats=%llu writes=%llu reads=%llu bad=%llu mismatches=%llu fallocate=%d first=%lld\n",
         (unsigned long long)info[7], (unsigned long long)writes, (unsigned long long)reads, (unsigned long long)bad,
         (unsigned long long)mismatches, refused, (long long)first_bad);
  return 0;
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : "/dev/ng0n1";
  uint64_t info[3];
  int rc = daio_nvme_info(path, info);
  if (rc < 0) {
    printf("DAIO-NVME-FAIL identify %s\n", strerror(-rc));
    return 1;
  }
  uint64_t *out = calloc(DAIO_OUT_WORDS + 2 * DAIO_HIST_WORDS, sizeof *out);
  uint64_t size = 8u << 20;
  rc = run(path, DAIO_RW_WRITE, 8, size, out);
  uint64_t written = out[DAIO_OUT_WRITES];
  if (rc < 0) {
    printf("DAIO-NVME-FAIL write %s\n", strerror(-rc));
    return 1;
  }
  rc = run(path, DAIO_RW_RANDREAD, 16, size, out);
  if (rc < 0) {
    printf("DAIO-NVME-FAIL read %s\n", strerror(-rc));
    return 1;
  }
  printf("DAIO-NVME-OK nsid=%llu lba=%llu lbas=%llu writes=%llu reads=%llu mismatches=%llu\n",
         (unsigned long long)info[0], (unsigned long long)info[1], (unsigned long long)info[2],
         (unsigned long long)written, (unsigned long long)out[DAIO_OUT_READS],
         (unsigned long long)out[DAIO_OUT_MISMATCHES]);
  return dev_part(path, 0);
}
