/* pviommu: maps a guest RAM file (QEMU's memory-backend-file share=on) so checked DMA can
 * copy into and out of the running guest's memory. */
#include "pviommu.h"
#include "open_regular.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Maps the whole file MAP_SHARED; out[0] = address, out[1] = length, out[2] = the address of
 * an int32 that turns 1 when the file shrank under the mapping and a page past its new end was
 * touched (sigbus_guard.c put a zero page there instead of letting SIGBUS kill the process). */
int32_t hv_pviommu_mmap_file(const char *path, int32_t writable, uint64_t *out)
{
    int fd;
    uint64_t size;
    int rc = hv_open_regular(path, writable ? O_RDWR : O_RDONLY, &fd, &size);
    if (rc < 0)
        return rc == -EISDIR ? -EINVAL : rc;
    if (size == 0) {
        close(fd);
        return -EINVAL;
    }
    void *p = mmap(NULL, (size_t)size, PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED)
        return -e;
    int32_t *shrunk = hv_sigbus_patch_register((uint64_t)(uintptr_t)p, size);
    if (!shrunk) {
        munmap(p, (size_t)size);
        return -EMFILE;
    }
    out[0] = (uint64_t)(uintptr_t)p;
    out[1] = size;
    out[2] = (uint64_t)(uintptr_t)shrunk;
    return 0;
}

int32_t hv_pviommu_munmap(uint64_t addr, uint64_t len)
{
    hv_sigbus_patch_unregister(addr);
    if (munmap((void *)(uintptr_t)addr, (size_t)len) < 0)
        return -errno;
    return 0;
}

/* Number of IOMMU groups the host kernel made (0 when no hardware IOMMU is enabled). */
int32_t hv_pviommu_iommu_groups(void)
{
    DIR *d = opendir("/sys/kernel/iommu_groups");
    if (!d)
        return -errno;
    int32_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}
