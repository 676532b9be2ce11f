/* pviommu: the IOTLB-hit path of checked DMA in one call: look up (endpoint, page) in the
 * IOTLB that lib/pviommu/iotlb.ts keeps in typed arrays, check the permission, copy.
 * A miss (or anything not served in one page) returns 1 and the caller takes the slow
 * path in TypeScript, which walks the page table and fills the IOTLB.
 *
 * The context is an array of uint64_t filled by lib/pviommu/native_dma.ts:
 *   [0] struct entry *entries   [1] double *counters (hits, stale hits)
 *   [2] uint8_t *ram            [3] ram length   [4] index mask   [5] page shift
 *   [6] the last hit's (guest page - IOVA page), written here: see "prediction" below
 *   [8] bytes read, [9] bytes written (doubles): the caller's byte counts, kept here so
 *       that the JS side stores nothing on a hit (each store after the call waits in the
 *       store buffer behind the copy's 64-128 stores: +3-5% on a 4 KiB read, A/B)
 * The hash is the one iotlb.ts uses: ((uint32)page ^ endpoint * 0x9e3779b1) & mask. */
#include "pviommu.h"
#include <errno.h>
#include <string.h>

/* One IOTLB entry as lib/pviommu/iotlb.ts lays it out (32 bytes, one cache line per lookup). */
struct entry {
    double tag_page;
    double gpa_page;
    double stale_since; /* 0 = valid */
    int32_t tag_ep; /* -1 = empty */
    uint8_t perm;   /* MAP_F_READ | MAP_F_WRITE */
    uint8_t pad2[3];
};
_Static_assert(sizeof(struct entry) == 32, "IOTLB entry layout");

enum { C_ENTRIES, C_COUNT, C_RAM, C_RAM_LEN, C_MASK, C_SHIFT, C_DELTA, C_BYTES_READ = 8,
       C_BYTES_WRITTEN, C_N };

/* The guest-physical address of an access inside one page on an IOTLB hit, or -1. */
/* 2^64 as a double: addresses are integers in [0, 2^64). Above 2^53 a double holds only some
 * of them (multiples of 2^11 near the top, so every page start); the others cannot be passed
 * here and go through the model, which takes bigints. */
#define TWO_64 18446744073709551616.0

/* A double that is an integer address in [0, 2^64), as uint64_t; false otherwise. */
static inline int to_u64(double x, uint64_t *out)
{
    if (!(x >= 0) || !(x < TWO_64))
        return 0;
    const uint64_t a = (uint64_t)x;
    if ((double)a != x)
        return 0;
    *out = a;
    return 1;
}

/* True when [gpa, gpa + len) lies inside guest RAM, without wrapping near 2^64. */
static inline int in_ram(const uint64_t *ctx, uint64_t gpa, uint64_t len)
{
    const uint64_t ram_len = ctx[C_RAM_LEN];
    return gpa <= ram_len && len <= ram_len - gpa;
}

/* The guest-physical address of an access inside one page on an IOTLB hit, or -1; the entry
 * that hit in *hit_entry (its stale_since says whether its mapping was already unmapped). Counts
 * nothing. */
static inline int64_t lookup(const uint64_t *ctx, int32_t endpoint, double iova, uint32_t len,
                             uint8_t need, const struct entry **hit_entry)
{
    uint64_t a;
    if (len == 0 || !to_u64(iova, &a))
        return -1;
    const uint32_t shift = (uint32_t)ctx[C_SHIFT];
    const uint64_t page = a >> shift;
    const uint64_t off = a & ((UINT64_C(1) << shift) - 1);
    if (off + len > (UINT64_C(1) << shift))
        return -1;
    const uint32_t i = ((uint32_t)page ^ ((uint32_t)endpoint * 0x9e3779b1u)) & (uint32_t)ctx[C_MASK];
    const struct entry *e = (const struct entry *)(uintptr_t)ctx[C_ENTRIES] + i;
    if (e->tag_ep != endpoint || e->tag_page != (double)page || (e->perm & need) == 0)
        return -1;
    /* Prediction: if the copy's address were computed from the entry's gpa_page, the copy
     * would wait for that load (an L2/L3 miss when the device's pages stream through the
     * caches: +10-25 ns measured on a 4 KiB read). Predict it from the last hit's offset
     * instead and only *check* the entry: a correct guess leaves a branch, which the CPU
     * predicts and runs past; a wrong one costs a mispredict and learns the new offset.
     * The asm keeps the compiler from replacing the guess by the loaded value. */
    uint64_t guess = page + ((uint64_t *)ctx)[C_DELTA];
    const uint64_t gp = (uint64_t)e->gpa_page;
    if (__builtin_expect(gp != guess, 0)) {
        ((uint64_t *)ctx)[C_DELTA] = gp - page;
        guess = gp;
    } else {
        __asm__("" : "+r"(guess));
    }
    const uint64_t gpa = (guess << shift) + off;
    if (!in_ram(ctx, gpa, len))
        return -1;
    *hit_entry = e;
    return (int64_t)gpa;
}

/* lookup() for one access, counting the hit (and a stale hit) in the IOTLB's counters. */
static inline int64_t hit(const uint64_t *ctx, int32_t endpoint, double iova, uint32_t len,
                          uint8_t need)
{
    const struct entry *e;
    const int64_t gpa = lookup(ctx, endpoint, iova, len, need, &e);
    if (gpa < 0)
        return -1;
    double *count = (double *)(uintptr_t)ctx[C_COUNT];
    count[0] += 1;
    if (__builtin_expect(e->stale_since != 0, 0))
        count[1] += 1;
    return gpa;
}

/* Adds a chain's hits, stale hits and bytes to the counters once, when the chain stops. Counted
 * per segment in memory (the compiler must assume each memcpy may write the counters, so every
 * segment reloaded and stored them after its copy), the 16x4K chain write over its peer was
 * +5.9% (median of 15 runs), counted once +4.5%, lower in each of the 15 paired runs; chain
 * read +4.7 -> +3.5% (docs/pviommu.md). */
static inline void count_chain(const uint64_t *ctx, uint32_t hits, uint32_t stale, uint64_t bytes,
                               int slot)
{
    double *count = (double *)(uintptr_t)ctx[C_COUNT];
    count[0] += hits;
    count[1] += stale;
    ((double *)ctx)[slot] += (double)bytes;
}

int32_t hv_pviommu_dma_read(const uint64_t *ctx, int32_t endpoint, double iova, uint8_t *dst,
                            uint32_t len)
{
    const int64_t gpa = hit(ctx, endpoint, iova, len, 1 /* MAP_F_READ */);
    if (gpa < 0)
        return 1;
    ((double *)ctx)[C_BYTES_READ] += len;
    memcpy(dst, (const uint8_t *)(uintptr_t)ctx[C_RAM] + gpa, len);
    return 0;
}

int32_t hv_pviommu_dma_write(const uint64_t *ctx, int32_t endpoint, double iova,
                             const uint8_t *src, uint32_t len)
{
    const int64_t gpa = hit(ctx, endpoint, iova, len, 2 /* MAP_F_WRITE */);
    if (gpa < 0)
        return 1;
    ((double *)ctx)[C_BYTES_WRITTEN] += len;
    memcpy((uint8_t *)(uintptr_t)ctx[C_RAM] + gpa, src, len);
    return 0;
}

/* The unchecked peer: the same call shape and copy, with only the bounds check any
 * emulated device's memory access does (QEMU's address_space_rw checks the region). */
int32_t hv_pviommu_copy_read(const uint64_t *ctx, double gpa, uint8_t *dst, uint32_t len)
{
    uint64_t g;
    if (!to_u64(gpa, &g) || !in_ram(ctx, g, len))
        return -EFAULT;
    memcpy(dst, (const uint8_t *)(uintptr_t)ctx[C_RAM] + g, len);
    return 0;
}

int32_t hv_pviommu_copy_write(const uint64_t *ctx, double gpa, const uint8_t *src, uint32_t len)
{
    uint64_t g;
    if (!to_u64(gpa, &g) || !in_ram(ctx, g, len))
        return -EFAULT;
    memcpy((uint8_t *)(uintptr_t)ctx[C_RAM] + g, src, len);
    return 0;
}

/* Vectored DMA: a descriptor chain in one call. seg[2k] is segment k's address (IOVA for the
 * checked calls, guest-physical for the peers) and seg[2k+1] its length; the segments' bytes
 * are packed one after another in the device buffer buf (buf_len bytes).
 *
 * The checked calls look up, check and copy each segment in order, inside one C loop, where
 * the CPU overlaps the next segment's IOTLB lookup with the current copy (across FFI calls it
 * does not). Prefetching every segment's entry first measured no better (A/B: -0.2%, -0.1%)
 * and is not done. They return the number of segments copied: n when all were IOTLB hits inside one page, else the index k
 * of the first one that was not (segments before k are copied; the caller takes the slow
 * path from k). */
/* A segment's length, or -1 when it is not a whole number that fits what is left of buf. */
static inline int64_t seg_len(const double *seg, uint32_t k, uint64_t done, uint32_t buf_len)
{
    const double l = seg[2 * k + 1];
    if (!(l >= 0) || l > (double)buf_len || (double)(uint32_t)l != l)
        return -1;
    return done + (uint32_t)l > buf_len ? -1 : (int64_t)(uint32_t)l;
}

int32_t hv_pviommu_dma_readv(const uint64_t *ctx, int32_t endpoint, const double *seg,
                             uint32_t n, uint8_t *buf, uint32_t buf_len)
{
    uint64_t done = 0;
    uint32_t k = 0, stale = 0;
    for (; k < n; k++) {
        const int64_t len = seg_len(seg, k, done, buf_len);
        if (len < 0)
            break;
        const struct entry *e;
        const int64_t gpa = lookup(ctx, endpoint, seg[2 * k], (uint32_t)len, 1 /* read */, &e);
        if (gpa < 0)
            break;
        stale += e->stale_since != 0;
        memcpy(buf + done, (const uint8_t *)(uintptr_t)ctx[C_RAM] + gpa, (size_t)len);
        done += (uint64_t)len;
    }
    count_chain(ctx, k, stale, done, C_BYTES_READ);
    return (int32_t)k;
}

int32_t hv_pviommu_dma_writev(const uint64_t *ctx, int32_t endpoint, const double *seg,
                              uint32_t n, const uint8_t *buf, uint32_t buf_len)
{
    uint64_t done = 0;
    uint32_t k = 0, stale = 0;
    for (; k < n; k++) {
        const int64_t len = seg_len(seg, k, done, buf_len);
        if (len < 0)
            break;
        const struct entry *e;
        const int64_t gpa = lookup(ctx, endpoint, seg[2 * k], (uint32_t)len, 2 /* write */, &e);
        if (gpa < 0)
            break;
        stale += e->stale_since != 0;
        memcpy((uint8_t *)(uintptr_t)ctx[C_RAM] + gpa, buf + done, (size_t)len);
        done += (uint64_t)len;
    }
    count_chain(ctx, k, stale, done, C_BYTES_WRITTEN);
    return (int32_t)k;
}

/* The unchecked vectored peers: each segment bounds-checked and copied; n or -EFAULT. */
int32_t hv_pviommu_copy_readv(const uint64_t *ctx, const double *seg, uint32_t n, uint8_t *buf,
                              uint32_t buf_len)
{
    uint64_t done = 0;
    for (uint32_t k = 0; k < n; k++) {
        uint64_t gpa;
        const int64_t len = seg_len(seg, k, done, buf_len);
        if (len < 0 || !to_u64(seg[2 * k], &gpa) || !in_ram(ctx, gpa, (uint64_t)len))
            return -EFAULT;
        memcpy(buf + done, (const uint8_t *)(uintptr_t)ctx[C_RAM] + gpa, (size_t)len);
        done += (uint64_t)len;
    }
    return (int32_t)n;
}

int32_t hv_pviommu_copy_writev(const uint64_t *ctx, const double *seg, uint32_t n,
                               const uint8_t *buf, uint32_t buf_len)
{
    uint64_t done = 0;
    for (uint32_t k = 0; k < n; k++) {
        uint64_t gpa;
        const int64_t len = seg_len(seg, k, done, buf_len);
        if (len < 0 || !to_u64(seg[2 * k], &gpa) || !in_ram(ctx, gpa, (uint64_t)len))
            return -EFAULT;
        memcpy((uint8_t *)(uintptr_t)ctx[C_RAM] + gpa, buf + done, (size_t)len);
        done += (uint64_t)len;
    }
    return (int32_t)n;
}
