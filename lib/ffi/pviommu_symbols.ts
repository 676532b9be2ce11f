/** FFI symbols of native/pviommu_*.c: guest RAM mapping and VFIO type1 bindings. */
export const pviommuSymbols = {
  /** int32_t hv_pviommu_mmap_file(const char *path, int32_t writable, uint64_t *out[3]): address, length, &shrunk */
  hv_pviommu_mmap_file: {
    parameters: [
      "buffer", /* const char *path */
      "i32", /* int32_t writable */
      "buffer", /* uint64_t *out */
    ],
    result: "i32",
  },
  /** int32_t hv_pviommu_munmap(uint64_t addr, uint64_t len) */
  hv_pviommu_munmap: {
    parameters: ["u64", /* uint64_t addr */ "u64" /* uint64_t len */],
    result: "i32",
  },
  /** int32_t hv_pviommu_iommu_groups(void): count of /sys/kernel/iommu_groups or -errno */
  hv_pviommu_iommu_groups: { parameters: [], result: "i32" },
  /** int32_t hv_pviommu_dma_read(const uint64_t *ctx, int32_t ep, double iova, uint8_t *dst, uint32_t len): 0 copied, 1 slow path */
  hv_pviommu_dma_read: {
    parameters: [
      "buffer", /* const uint64_t *ctx */
      "i32", /* int32_t endpoint */
      "f64", /* double iova */
      "buffer", /* uint8_t *dst */
      "u32", /* uint32_t len */
    ],
    result: "i32",
  },
  /** int32_t hv_pviommu_dma_write(const uint64_t *ctx, int32_t ep, double iova, const uint8_t *src, uint32_t len) */
  hv_pviommu_dma_write: {
    parameters: [
      "buffer", /* const uint64_t *ctx */
      "i32", /* int32_t endpoint */
      "f64", /* double iova */
      "buffer", /* const uint8_t *src */
      "u32", /* uint32_t len */
    ],
    result: "i32",
  },
  /** int32_t hv_pviommu_copy_read(const uint64_t *ctx, double gpa, uint8_t *dst, uint32_t len): the unchecked peer */
  hv_pviommu_copy_read: {
    parameters: [
      "buffer", /* const uint64_t *ctx */
      "f64", /* double gpa */
      "buffer", /* uint8_t *dst */
      "u32", /* uint32_t len */
    ],
    result: "i32",
  },
  /** int32_t hv_pviommu_copy_write(const uint64_t *ctx, double gpa, const uint8_t *src, uint32_t len) */
  hv_pviommu_copy_write: {
    parameters: [
      "buffer", /* const uint64_t *ctx */
      "f64", /* double gpa */
      "buffer", /* const uint8_t *src */
      "u32", /* uint32_t len */
    ],
    result: "i32",
  },
  /** int32_t hv_pviommu_dma_readv(const uint64_t *ctx, int32_t ep, const double *seg, uint32_t n, uint8_t *buf, uint32_t buf_len): segments copied (n = all) */
  hv_pviommu_dma_readv: {
    parameters: [
      "buffer", /* const uint64_t *ctx */
      "i32", /* int32_t endpoint */
      "buffer", /* const double *seg: (IOVA, length) pairs */
      "u32", /* uint32_t n */
      "buffer", /* uint8_t *buf */
      "u32", /* uint32_t buf_len */
    ],
    result: "i32",
  },
  /** int32_t hv_pviommu_dma_writev(const uint64_t *ctx, int32_t ep, const double *seg, uint32_t n, const uint8_t *buf, uint32_t buf_len) */
  hv_pviommu_dma_writev: {
    parameters: [
      "buffer", /* const uint64_t *ctx */
      "i32", /* int32_t endpoint */
      "buffer", /* const double *seg: (IOVA, length) pairs */
      "u32", /* uint32_t n */
      "buffer", /* const uint8_t *buf */
      "u32", /* uint32_t buf_len */
    ],
    result: "i32",
  },
  /** int32_t hv_pviommu_copy_readv(const uint64_t *ctx, const double *seg, uint32_t n, uint8_t *buf, uint32_t buf_len): the unchecked vectored peer */
  hv_pviommu_copy_readv: {
    parameters: [
      "buffer", /* const uint64_t *ctx */
      "buffer", /* const double *seg: (guest-physical address, length) pairs */
      "u32", /* uint32_t n */
      "buffer", /* uint8_t *buf */
      "u32", /* uint32_t buf_len */
    ],
    result: "i32",
  },
  /** int32_t hv_pviommu_copy_writev(const uint64_t *ctx, const double *seg, uint32_t n, const uint8_t *buf, uint32_t buf_len) */
  hv_pviommu_copy_writev: {
    parameters: [
      "buffer", /* const uint64_t *ctx */
      "buffer", /* const double *seg: (guest-physical address, length) pairs */
      "u32", /* uint32_t n */
      "buffer", /* const uint8_t *buf */
      "u32", /* uint32_t buf_len */
    ],
    result: "i32",
  },
  /** int32_t hv_pviommu_vfio_open_container(void): fd or -errno */
  hv_pviommu_vfio_open_container: { parameters: [], result: "i32" },
  /** int32_t hv_pviommu_vfio_check_extension(int32_t container, int32_t ext) */
  hv_pviommu_vfio_check_extension: {
    parameters: ["i32", /* int32_t container */ "i32" /* int32_t ext */],
    result: "i32",
  },
  /** int32_t hv_pviommu_vfio_open_group(int32_t group): fd, -EBUSY when not viable */
  hv_pviommu_vfio_open_group: { parameters: ["i32" /* int32_t group */], result: "i32" },
  /** int32_t hv_pviommu_vfio_group_set_container(int32_t group_fd, int32_t container) */
  hv_pviommu_vfio_group_set_container: {
    parameters: ["i32", /* int32_t group_fd */ "i32" /* int32_t container */],
    result: "i32",
  },
  /** int32_t hv_pviommu_vfio_set_iommu(int32_t container, int32_t type) */
  hv_pviommu_vfio_set_iommu: {
    parameters: ["i32", /* int32_t container */ "i32" /* int32_t type */],
    result: "i32",
  },
  /** int32_t hv_pviommu_vfio_map_dma(int32_t c, uint64_t vaddr, uint64_t iova, uint64_t size, uint32_t flags) */
  hv_pviommu_vfio_map_dma: {
    parameters: [
      "i32", /* int32_t container */
      "u64", /* uint64_t vaddr */
      "u64", /* uint64_t iova */
      "u64", /* uint64_t size */
      "u32", /* uint32_t flags */
    ],
    result: "i32",
  },
  /** int64_t hv_pviommu_vfio_unmap_dma(int32_t container, uint64_t iova, uint64_t size) */
  hv_pviommu_vfio_unmap_dma: {
    parameters: [
      "i32", /* int32_t container */
      "u64", /* uint64_t iova */
      "u64", /* uint64_t size */
    ],
    result: "i64",
  },
  /** int32_t hv_pviommu_close(int32_t fd) */
  hv_pviommu_close: { parameters: ["i32" /* int32_t fd */], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;
