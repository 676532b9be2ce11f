/* virtav compiled-database cache files (lib/virtav/db_cache.ts): mapped read-only and used in
 * place (the blob by the matcher, see VAV_DB_IN_PLACE), and checked whole with a fast 64-bit
 * hash (XXH64's algorithm, written here) instead of SHA-256: ~55 MiB at 100,000 signatures is
 * hashed in a few milliseconds, so every start still sees any accidental damage.
 *
 * The mapping is MAP_PRIVATE and PROT_READ, populated at once (one call instead of a fault per
 * page). The cache is rewritten by rename, never in place, so a mapped file does not change
 * under its mapping; a cache directory someone truncates files in is as untrusted as a
 * database someone edits (docs/virtav.md). */
#include "virtav.h"
#include "open_regular.h"
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int32_t vav_cache_map(const char *path, uint64_t *out) {
  if (!path || !out) return -EINVAL;
  int fd;
  uint64_t size;
  int rc = hv_open_regular(path, O_RDONLY, &fd, &size);
  if (rc < 0) return rc == -EISDIR ? -EINVAL : rc;
  if (size == 0) {
    close(fd);
    return -EINVAL;
  }
  void *p = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
  int e = errno;
  close(fd);
  if (p == MAP_FAILED) return -e;
  out[0] = (uint64_t)(uintptr_t)p;
  out[1] = size;
  return 0;
}

int32_t vav_cache_unmap(uint64_t addr, uint64_t len) {
  if (!addr || !len) return -EINVAL;
  return munmap((void *)(uintptr_t)addr, (size_t)len) < 0 ? -errno : 0;
}

#define P1 0x9E3779B185EBCA87ull
#define P2 0xC2B2AE3D27D4EB4Full
#define P3 0x165667B19E3779F9ull
#define P4 0x85EBCA77C2B2AE63ull
#define P5 0x27D4EB2F165667C5ull

static inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static inline uint64_t rd64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}
static inline uint32_t rd32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}
static inline uint64_t round1(uint64_t acc, uint64_t v) { return rotl(acc + v * P2, 31) * P1; }
static inline uint64_t merge(uint64_t acc, uint64_t v) { return (acc ^ round1(0, v)) * P1 + P4; }

uint64_t vav_hash64(const uint8_t *p, uint64_t len, uint64_t seed) {
  if (!p) len = 0;
  const uint8_t *end = p + len;
  uint64_t h;
  if (len >= 32) {
    uint64_t v1 = seed + P1 + P2, v2 = seed + P2, v3 = seed, v4 = seed - P1;
    for (; end - p >= 32; p += 32) {
      v1 = round1(v1, rd64(p));
      v2 = round1(v2, rd64(p + 8));
      v3 = round1(v3, rd64(p + 16));
      v4 = round1(v4, rd64(p + 24));
    }
    h = rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18);
    h = merge(merge(merge(merge(h, v1), v2), v3), v4);
  } else {
    h = seed + P5;
  }
  h += len;
  for (; end - p >= 8; p += 8) h = rotl(h ^ round1(0, rd64(p)), 27) * P1 + P4;
  if (end - p >= 4) {
    h = rotl(h ^ (uint64_t)rd32(p) * P1, 23) * P2 + P3;
    p += 4;
  }
  for (; p < end; p++) h = rotl(h ^ *p * P5, 11) * P1;
  h ^= h >> 33;
  h *= P2;
  h ^= h >> 29;
  h *= P3;
  h ^= h >> 32;
  return h;
}
