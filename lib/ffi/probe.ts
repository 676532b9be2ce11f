import { cString, native } from "./ffi.ts";

/** One capability: usable or not, and what the probe saw. */
export interface Capability {
  name: string;
  ok: boolean;
  /** API version for KVM/VFIO; absent elsewhere. */
  version?: number;
  /** The errno name when not usable, e.g. `ENOENT`. */
  error?: string;
  detail: string;
}

function cap(name: string, rc: number, okDetail: string, withVersion = false): Capability {
  if (rc >= 0) {
    return { name, ok: true, detail: okDetail, ...(withVersion ? { version: rc } : {}) };
  }
  const n = native();
  const error = cString(n.hv_errno_name(rc));
  return { name, ok: false, error, detail: `${error}: ${cString(n.hv_errno_text(rc))}` };
}

/**
 * Probes what this process can use, by doing it: an io_uring NOP round trip, an aligned
 * O_DIRECT write in `dir`, KVM_GET_API_VERSION on /dev/kvm, VFIO_GET_API_VERSION on
 * /dev/vfio/vfio, and opening /dev/iommu (iommufd).
 *
 * @example
 * ```ts
 * import { probeCapabilities } from "./probe.ts";
 * for (const c of probeCapabilities(".")) console.log(c.name, c.ok);
 * ```
 */
export function probeCapabilities(dir: string): Capability[] {
  const n = native();
  return [
    cap("io_uring", n.hv_probe_uring(), "NOP round trip completed"),
    cap(
      "o_direct",
      n.hv_probe_odirect(new TextEncoder().encode(dir + "\0")),
      `aligned direct write in ${dir}`,
    ),
    cap("kvm", n.hv_probe_kvm(), "KVM_GET_API_VERSION answered and KVM_CREATE_VM succeeded", true),
    cap("vfio", n.hv_probe_vfio(), "VFIO_GET_API_VERSION answered", true),
    cap("iommufd", n.hv_probe_iommufd(), "/dev/iommu opened"),
  ];
}
