/**
 * FFI symbols of the NBD server's native helpers (native/nbd.h): a file's data and holes for
 * NBD_CMD_BLOCK_STATUS. Each returns >= 0 or -errno.
 */
export const nbdSymbols = {
  /** int32_t hv_nbd_extents_open(const char *path): fd */
  hv_nbd_extents_open: { parameters: ["buffer" /* const char *path */], result: "i32" },
  /** int32_t hv_nbd_extents_close(int32_t fd) */
  hv_nbd_extents_close: { parameters: ["i32" /* int32_t fd */], result: "i32" },
  /**
   * int32_t hv_nbd_extents(int32_t fd, uint64_t offset, uint64_t length, uint64_t *out,
   * uint32_t max): number of (length, is_hole) pairs written to out
   */
  hv_nbd_extents: {
    parameters: [
      "i32", /* int32_t fd */
      "u64", /* uint64_t offset */
      "u64", /* uint64_t length */
      "buffer", /* uint64_t *out */
      "u32", /* uint32_t max */
    ],
    result: "i32",
  },
} as const satisfies Deno.ForeignLibraryInterface;
