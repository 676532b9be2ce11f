/* open_regular.c: open a file to be mapped and check its kind and size, once for every caller
 * (trace replay, virtav's cache and memory files, pviommu's guest RAM file). */
#include "open_regular.h"
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

int hv_open_regular(const char *path, int flags, int *fd, uint64_t *size) {
  int f = open(path, flags | O_CLOEXEC);
  if (f < 0) return -errno;
  struct stat st;
  if (fstat(f, &st) < 0) {
    int e = errno;
    close(f);
    return -e;
  }
  if (!S_ISREG(st.st_mode)) {
    close(f);
    return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
  }
  *fd = f;
  *size = (uint64_t)st.st_size;
  return 0;
}
