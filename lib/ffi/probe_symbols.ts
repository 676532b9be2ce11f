/** FFI symbols of native/probe.c: the capability probe and errno names. */
export const probeSymbols = {
  /** int32_t hv_abi_version(void) */
  hv_abi_version: { parameters: [], result: "i32" },
  /** int32_t hv_probe_uring(void): 0 or -errno */
  hv_probe_uring: { parameters: [], result: "i32" },
  /** int32_t hv_probe_odirect(const char *dir): 0 or -errno */
  hv_probe_odirect: { parameters: ["buffer" /* const char *dir */], result: "i32" },
  /** int32_t hv_probe_kvm(void): KVM API version or -errno */
  hv_probe_kvm: { parameters: [], result: "i32" },
  /** int32_t hv_probe_vfio(void): VFIO API version or -errno */
  hv_probe_vfio: { parameters: [], result: "i32" },
  /** int32_t hv_probe_iommufd(void): 0 or -errno */
  hv_probe_iommufd: { parameters: [], result: "i32" },
  /** const char *hv_errno_name(int32_t err) */
  hv_errno_name: { parameters: ["i32" /* int32_t err */], result: "pointer" },
  /** const char *hv_errno_text(int32_t err) */
  hv_errno_text: { parameters: ["i32" /* int32_t err */], result: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;
