/* The NBD server's native helpers (lib/block/file_extents.ts): where a file's data and holes
 * are, for NBD_CMD_BLOCK_STATUS base:allocation. Each returns >= 0 or -errno. */
#ifndef HV_NBD_H
#define HV_NBD_H
#include "hvkit.h"

/* Opens path read-only for extent queries; returns the fd. */
HV_EXPORT int32_t hv_nbd_extents_open(const char *path);
/* Closes an fd from hv_nbd_extents_open. */
HV_EXPORT int32_t hv_nbd_extents_close(int32_t fd);
/* Describes [offset, offset+length) as at most max consecutive extents, written to out as
 * pairs (length, is_hole), using lseek SEEK_DATA/SEEK_HOLE. Returns the number of extents;
 * they may cover less than length when max is reached (never zero extents for length > 0). */
HV_EXPORT int32_t hv_nbd_extents(int32_t fd, uint64_t offset, uint64_t length, uint64_t *out,
                                 uint32_t max);

#endif
