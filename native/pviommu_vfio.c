/* pviommu: VFIO type1 bindings: container, group, VFIO_IOMMU_MAP_DMA / UNMAP_DMA.
 * These program the host IOMMU for an assigned device; they need /dev/vfio. */
#include "pviommu.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int32_t hv_pviommu_vfio_open_container(void)
{
    int fd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int v = ioctl(fd, VFIO_GET_API_VERSION);
    if (v != VFIO_API_VERSION) {
        close(fd);
        return v < 0 ? -errno : -EPROTO;
    }
    return fd;
}

int32_t hv_pviommu_vfio_check_extension(int32_t container, int32_t ext)
{
    int r = ioctl(container, VFIO_CHECK_EXTENSION, ext);
    return r < 0 ? -errno : r;
}

/* Opens /dev/vfio/<group>; -EPERM... from open, -EBUSY when the group is not viable
 * (some device of the group is still bound to a host driver). */
int32_t hv_pviommu_vfio_open_group(int32_t group)
{
    char path[64];
    snprintf(path, sizeof path, "/dev/vfio/%d", group);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct vfio_group_status st = {.argsz = sizeof st};
    if (ioctl(fd, VFIO_GROUP_GET_STATUS, &st) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    if (!(st.flags & VFIO_GROUP_FLAGS_VIABLE)) {
        close(fd);
        return -EBUSY;
    }
    return fd;
}

int32_t hv_pviommu_vfio_group_set_container(int32_t group_fd, int32_t container)
{
    int c = container;
    return ioctl(group_fd, VFIO_GROUP_SET_CONTAINER, &c) < 0 ? -errno : 0;
}

int32_t hv_pviommu_vfio_set_iommu(int32_t container, int32_t type)
{
    return ioctl(container, VFIO_SET_IOMMU, type) < 0 ? -errno : 0;
}

/* flags: bit 0 read (VFIO_DMA_MAP_FLAG_READ), bit 1 write (VFIO_DMA_MAP_FLAG_WRITE). */
int32_t hv_pviommu_vfio_map_dma(int32_t container, uint64_t vaddr, uint64_t iova,
                                uint64_t size, uint32_t flags)
{
    struct vfio_iommu_type1_dma_map m = {
        .argsz = sizeof m,
        .flags = flags & (VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE),
        .vaddr = vaddr,
        .iova = iova,
        .size = size,
    };
    return ioctl(container, VFIO_IOMMU_MAP_DMA, &m) < 0 ? -errno : 0;
}

/* Returns the number of bytes the kernel unmapped. */
int64_t hv_pviommu_vfio_unmap_dma(int32_t container, uint64_t iova, uint64_t size)
{
    struct vfio_iommu_type1_dma_unmap u = {.argsz = sizeof u, .iova = iova, .size = size};
    if (ioctl(container, VFIO_IOMMU_UNMAP_DMA, &u) < 0)
        return -errno;
    return (int64_t)u.size;
}

int32_t hv_pviommu_close(int32_t fd)
{
    return close(fd) < 0 ? -errno : 0;
}
