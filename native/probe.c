/* Capability probe shared by every tool's `doctor`: can this process use
 * io_uring, O_DIRECT on a given directory, KVM, VFIO, iommufd? Each probe does
 * the real operation (a NOP round trip, an aligned direct write, an ioctl). */
#include "hvkit.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define KVM_GET_API_VERSION_NR 0xAE00       /* _IO(KVMIO, 0x00) */
#define KVM_CREATE_VM_NR 0xAE01         /* _IO(KVMIO, 0x01) */
#define VFIO_GET_API_VERSION_NR ((';' << 8) | 100) /* _IO(VFIO_TYPE, VFIO_BASE + 0) */

int32_t hv_abi_version(void) { return HV_ABI_VERSION; }

int32_t hv_probe_uring(void) {
  struct io_uring ring;
  int rc = io_uring_queue_init(4, &ring, 0);
  if (rc < 0) return rc;
  struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
  io_uring_prep_nop(sqe);
  sqe->user_data = 42;
  rc = io_uring_submit(&ring);
  if (rc >= 0) {
    struct io_uring_cqe *cqe;
    rc = io_uring_wait_cqe(&ring, &cqe);
    if (rc == 0) {
      rc = (cqe->user_data == 42 && cqe->res == 0) ? 0 : -EIO;
      io_uring_cqe_seen(&ring, cqe);
    }
  }
  io_uring_queue_exit(&ring);
  return rc;
}

int32_t hv_probe_odirect(const char *dir) {
  char path[4096];
  if (snprintf(path, sizeof path, "%s/.hvkit-odirect-XXXXXX", dir) >= (int)sizeof path)
    return -ENAMETOOLONG;
  int fd = mkstemp(path);
  if (fd < 0) return -errno;
  close(fd);
  int rc = 0;
  fd = open(path, O_RDWR | O_DIRECT);
  if (fd < 0) {
    rc = -errno;
  } else {
    void *buf = NULL;
    if (posix_memalign(&buf, 4096, 4096) != 0) {
      rc = -ENOMEM;
    } else {
      memset(buf, 0xA5, 4096);
      if (pwrite(fd, buf, 4096, 0) != 4096) rc = errno ? -errno : -EIO;
      free(buf);
    }
    close(fd);
  }
  unlink(path);
  return rc;
}

static int32_t api_version(const char *dev, unsigned long req) {
  int fd = open(dev, O_RDWR | O_CLOEXEC);
  if (fd < 0) return -errno;
  int v = ioctl(fd, req, 0);
  int rc = v < 0 ? -errno : v;
  close(fd);
  return rc;
}

/* Usable KVM means more than the node existing: the API answers and a VM can be created. */
int32_t hv_probe_kvm(void) {
  int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) return -errno;
  int v = ioctl(fd, KVM_GET_API_VERSION_NR, 0);
  int rc = v < 0 ? -errno : v;
  if (rc >= 0) {
    int vm = ioctl(fd, KVM_CREATE_VM_NR, 0);
    if (vm < 0) rc = -errno;
    else close(vm);
  }
  close(fd);
  return rc;
}

int32_t hv_probe_vfio(void) { return api_version("/dev/vfio/vfio", VFIO_GET_API_VERSION_NR); }

int32_t hv_probe_iommufd(void) {
  int fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
  if (fd < 0) return -errno;
  close(fd);
  return 0;
}

const char *hv_errno_name(int32_t err) {
  const char *n = strerrorname_np(err < 0 ? -err : err);
  return n ? n : "EUNKNOWN";
}

const char *hv_errno_text(int32_t err) { return strerror(err < 0 ? -err : err); }
