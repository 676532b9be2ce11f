/* daio: NVMe passthrough. Reads and writes go to an NVMe namespace's generic
 * character device (/dev/ngXnY) as NVMe commands carried by io_uring
 * (IORING_OP_URING_CMD with NVME_URING_CMD_IO, on a ring set up with
 * IORING_SETUP_SQE128 | IORING_SETUP_CQE32): no block layer, no file system,
 * as fio's io_uring_cmd engine does. The namespace's ID comes from
 * NVME_IOCTL_ID and its LBA size and capacity from Identify Namespace (an
 * admin command), or from sysfs where admin commands are not allowed. */
#include "daio.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/nvme_ioctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

/* NVMe command set opcodes (NVM Express NVM Command Set, figure "Opcodes for
 * NVM Commands") and the admin Identify. */
enum { NVME_OP_FLUSH = 0x00, NVME_OP_WRITE = 0x01, NVME_OP_READ = 0x02, NVME_ADMIN_IDENTIFY = 0x06 };
/* CDW12 bit 30: Force Unit Access. */
#define NVME_RW_FUA (1u << 30)

/* Reads /sys/block/nvmeXnY/<name> for /dev/ngXnY; -errno or 0. */
static int sysfs_u64(const char *path, const char *name, uint64_t *v) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  if (strncmp(base, "ng", 2) != 0) return -ENOENT;
  char p[256];
  snprintf(p, sizeof p, "/sys/block/nvme%s/%s", base + 2, name);
  FILE *f = fopen(p, "r");
  if (!f) return -errno;
  unsigned long long x;
  int ok = fscanf(f, "%llu", &x) == 1;
  fclose(f);
  if (!ok) return -EINVAL;
  *v = x;
  return 0;
}

int daio_nvme_identify(int fd, const char *path, uint32_t *nsid, uint32_t *lba, uint64_t *nlba) {
  struct stat st;
  if (fstat(fd, &st) < 0) return -errno;
  if (!S_ISCHR(st.st_mode)) return -ENOTTY;
  int id = ioctl(fd, NVME_IOCTL_ID);
  if (id < 0) return errno == EINVAL ? -ENOTTY : -errno;
  *nsid = (uint32_t)id;
  void *buf;
  if (posix_memalign(&buf, 4096, 4096)) return -ENOMEM;
  memset(buf, 0, 4096);
  struct nvme_admin_cmd cmd;
  memset(&cmd, 0, sizeof cmd);
  cmd.opcode = NVME_ADMIN_IDENTIFY;
  cmd.nsid = (uint32_t)id;
  cmd.addr = (uint64_t)(uintptr_t)buf;
  cmd.data_len = 4096;
  cmd.cdw10 = 0; /* CNS 0: Identify Namespace */
  int rc = ioctl(fd, NVME_IOCTL_ADMIN_CMD, &cmd);
  if (rc == 0) {
    const uint8_t *b = buf;
    uint64_t nsze;
    memcpy(&nsze, b, 8); /* NSZE, bytes 7:0 (little endian, as x86 is) */
    uint8_t flbas = b[26], nlbaf = b[25];
    /* FLBAS bits 3:0 index the format; bits 6:5 extend it past 16 formats. */
    unsigned fmt = (flbas & 0xf) | (nlbaf >= 16 ? ((flbas >> 5) & 3u) << 4 : 0);
    uint8_t lbads = b[128 + 4 * fmt + 2]; /* LBAF[fmt].LBADS: log2 of the LBA size */
    free(buf);
    if (lbads < 9 || lbads > 16 || nsze == 0) return -EINVAL;
    *lba = 1u << lbads;
    *nlba = nsze;
    return 0;
  }
  free(buf);
  /* Admin commands need CAP_SYS_ADMIN: fall back to what the block layer says. */
  uint64_t lbs, sectors;
  if (sysfs_u64(path, "queue/logical_block_size", &lbs) < 0 || sysfs_u64(path, "size", &sectors) < 0)
    return rc < 0 ? -errno : -EIO;
  if (lbs < 512 || (lbs & (lbs - 1))) return -EINVAL;
  *lba = (uint32_t)lbs;
  *nlba = sectors * 512 / lbs;
  return 0;
}

int32_t daio_nvme_info(const char *path, uint64_t *out) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  uint32_t nsid = 0, lba = 0;
  uint64_t nlba = 0;
  int rc = daio_nvme_identify(fd, path, &nsid, &lba, &nlba);
  close(fd);
  if (rc < 0) return rc;
  out[0] = nsid;
  out[1] = lba;
  out[2] = nlba;
  return 0;
}

void daio_nvme_prep(struct io_uring_sqe *sqe, int fd, int fixed_file, int buf_index, uint32_t nsid,
                    uint32_t lba, int op, void *buf, uint32_t len, uint64_t off, int fua) {
  memset(sqe, 0, 128); /* an SQE128 slot: the command lives in its second half */
  sqe->opcode = IORING_OP_URING_CMD;
  sqe->fd = fd;
  if (fixed_file) sqe->flags |= IOSQE_FIXED_FILE;
  sqe->cmd_op = NVME_URING_CMD_IO;
  if (buf_index >= 0) {
    sqe->uring_cmd_flags = IORING_URING_CMD_FIXED;
    sqe->buf_index = (uint16_t)buf_index;
  }
  struct nvme_uring_cmd *cmd = (struct nvme_uring_cmd *)sqe->cmd;
  cmd->nsid = nsid;
  if (op == DAIO_OP_FSYNC) {
    cmd->opcode = NVME_OP_FLUSH;
    return;
  }
  uint64_t slba = off / lba;
  cmd->opcode = op == DAIO_OP_WRITE ? NVME_OP_WRITE : NVME_OP_READ;
  cmd->addr = (uint64_t)(uintptr_t)buf;
  cmd->data_len = len;
  cmd->cdw10 = (uint32_t)slba;
  cmd->cdw11 = (uint32_t)(slba >> 32);
  cmd->cdw12 = (len / lba - 1) | (fua ? NVME_RW_FUA : 0); /* NLB is zero-based */
}
