/* hvkit native layer: shared declarations. Every exported function returns
 * a value >= 0 on success and -errno on failure, so lib/ffi can name the error. */
#ifndef HVKIT_H
#define HVKIT_H
#include <stdint.h>
#include <stddef.h>

#define HV_EXPORT __attribute__((visibility("default")))

/* The ABI lib/ffi/ffi.ts speaks (its ABI_VERSION): bump both together whenever an exported
 * function's signature or a layout shared with TypeScript changes, so that a library built
 * before the change is refused at load. */
#define HV_ABI_VERSION 3

/* probe.c */
HV_EXPORT int32_t hv_abi_version(void);
HV_EXPORT int32_t hv_probe_uring(void);
HV_EXPORT int32_t hv_probe_odirect(const char *dir);
HV_EXPORT int32_t hv_probe_kvm(void);
HV_EXPORT int32_t hv_probe_vfio(void);
HV_EXPORT int32_t hv_probe_iommufd(void);
HV_EXPORT const char *hv_errno_name(int32_t err);
HV_EXPORT const char *hv_errno_text(int32_t err);

/* clock.c */
HV_EXPORT double hv_clock_ns(void);
HV_EXPORT int32_t hv_sleep_until_ns(double deadline_ns);

/* sigbus_guard.c (internal): run code that reads a file mapping which may shrink; a SIGBUS in
 * it makes the call return -EFAULT instead of killing the process. */
int hv_guarded_call(void (*fn)(void *), void *arg);
int hv_guarded_memcpy(void *dst, const void *src, size_t n);
/* A mapping whose SIGBUS (its file shrank) is patched over with zero pages; returns the
 * mapping's `shrunk` word (0, then 1 after a patch), or NULL when the 64 slots are taken. */
int32_t *hv_sigbus_patch_register(uint64_t addr, uint64_t len);
void hv_sigbus_patch_unregister(uint64_t addr);

#endif
