/* Data and holes of a file by lseek(SEEK_DATA/SEEK_HOLE), as nbdkit's file plugin and
 * qemu-nbd find them. A file system without the support reports everything as data (lseek
 * SEEK_DATA then behaves as "all data"), which is always a correct answer for NBD. */
#include "nbd.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

int32_t hv_nbd_extents_open(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  return fd < 0 ? -errno : fd;
}

int32_t hv_nbd_extents_close(int32_t fd) { return close(fd) < 0 ? -errno : 0; }

static int32_t push(uint64_t *out, int32_t n, uint64_t len, uint64_t hole) {
  /* Merge with the previous extent of the same kind. */
  if (n > 0 && out[2 * (n - 1) + 1] == hole) {
    out[2 * (n - 1)] += len;
    return n;
  }
  out[2 * n] = len;
  out[2 * n + 1] = hole;
  return n + 1;
}

int32_t hv_nbd_extents(int32_t fd, uint64_t offset, uint64_t length, uint64_t *out,
                       uint32_t max) {
  if (max == 0 || length == 0) return -EINVAL;
  uint64_t end = offset + length;
  uint64_t pos = offset;
  int32_t n = 0;
  while (pos < end && (uint32_t)n < max) {
    off_t data = lseek(fd, (off_t)pos, SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) { /* no data from pos to the end of the file: a hole */
        n = push(out, n, end - pos, 1);
        break;
      }
      if (errno == EINVAL || errno == EOPNOTSUPP) { /* no SEEK_DATA here: all data */
        n = push(out, n, end - pos, 0);
        break;
      }
      return -errno;
    }
    if ((uint64_t)data > pos) {
      uint64_t h = ((uint64_t)data < end ? (uint64_t)data : end) - pos;
      n = push(out, n, h, 1);
      pos += h;
      if (pos >= end || (uint32_t)n >= max) break;
    }
    off_t hole = lseek(fd, (off_t)pos, SEEK_HOLE);
    if (hole < 0) return -errno;
    uint64_t stop = (uint64_t)hole < end ? (uint64_t)hole : end;
    if (stop <= pos) stop = end; /* cannot happen on a sane fs: do not loop forever */
    n = push(out, n, stop - pos, 0);
    pos = stop;
  }
  return n;
}
