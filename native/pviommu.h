/* pviommu native part: guest RAM mapping for checked DMA, and VFIO type1 bindings.
 * Every function returns >= 0 on success, -errno on failure. */
#ifndef HVKIT_PVIOMMU_H
#define HVKIT_PVIOMMU_H
#include "hvkit.h"

/* pviommu_mem.c */
HV_EXPORT int32_t hv_pviommu_mmap_file(const char *path, int32_t writable, uint64_t *out);
HV_EXPORT int32_t hv_pviommu_munmap(uint64_t addr, uint64_t len);
HV_EXPORT int32_t hv_pviommu_iommu_groups(void);

/* pviommu_dma.c: checked DMA's IOTLB-hit path (0 = copied, 1 = take the slow path) */
HV_EXPORT int32_t hv_pviommu_dma_read(const uint64_t *ctx, int32_t endpoint, double iova,
                                      uint8_t *dst, uint32_t len);
HV_EXPORT int32_t hv_pviommu_dma_write(const uint64_t *ctx, int32_t endpoint, double iova,
                                       const uint8_t *src, uint32_t len);
HV_EXPORT int32_t hv_pviommu_copy_read(const uint64_t *ctx, double gpa, uint8_t *dst,
                                       uint32_t len);
HV_EXPORT int32_t hv_pviommu_copy_write(const uint64_t *ctx, double gpa, const uint8_t *src,
                                        uint32_t len);
/* pviommu_dma.c: a descriptor chain (seg = address, length pairs) in one call */
HV_EXPORT int32_t hv_pviommu_dma_readv(const uint64_t *ctx, int32_t endpoint, const double *seg,
                                       uint32_t n, uint8_t *buf, uint32_t buf_len);
HV_EXPORT int32_t hv_pviommu_dma_writev(const uint64_t *ctx, int32_t endpoint, const double *seg,
                                        uint32_t n, const uint8_t *buf, uint32_t buf_len);
HV_EXPORT int32_t hv_pviommu_copy_readv(const uint64_t *ctx, const double *seg, uint32_t n,
                                        uint8_t *buf, uint32_t buf_len);
HV_EXPORT int32_t hv_pviommu_copy_writev(const uint64_t *ctx, const double *seg, uint32_t n,
                                         const uint8_t *buf, uint32_t buf_len);

/* pviommu_vfio.c */
HV_EXPORT int32_t hv_pviommu_vfio_open_container(void);
HV_EXPORT int32_t hv_pviommu_vfio_check_extension(int32_t container, int32_t ext);
HV_EXPORT int32_t hv_pviommu_vfio_open_group(int32_t group);
HV_EXPORT int32_t hv_pviommu_vfio_group_set_container(int32_t group_fd, int32_t container);
HV_EXPORT int32_t hv_pviommu_vfio_set_iommu(int32_t container, int32_t type);
HV_EXPORT int32_t hv_pviommu_vfio_map_dma(int32_t container, uint64_t vaddr, uint64_t iova,
                                          uint64_t size, uint32_t flags);
HV_EXPORT int64_t hv_pviommu_vfio_unmap_dma(int32_t container, uint64_t iova, uint64_t size);
HV_EXPORT int32_t hv_pviommu_close(int32_t fd);

#endif
