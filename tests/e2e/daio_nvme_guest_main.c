/* Run inside the NVMe test guest (tests/e2e/daio_nvme_guest_test.ts): identifies
 * the namespace, writes a verify pattern with NVMe passthrough, reads it back
 * at random with passthrough and checks every block, and prints one line the
 * test parses. Linked statically with native/daio_{bench,nvme,hist}.c. */
#include "daio.h"

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
  return 0;
}
