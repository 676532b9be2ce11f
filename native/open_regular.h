/* open_regular.c: the one way native/ opens a file it is about to map. */
#pragma once
#include <stdint.h>

/* Opens `path` with `flags` (O_CLOEXEC added) and checks that it is a regular file: 0 with
 * *fd and *size, or -errno (-EISDIR for a directory, -EINVAL for any other kind of file). */
int hv_open_regular(const char *path, int flags, int *fd, uint64_t *size);
