/**
 * Can the test guest drive a virtio-iommu? QEMU 7.2 has the device (`virtio-iommu-pci`, with
 * `virtio_iommu_*` trace events), but the guest needs the driver: Linux's
 * CONFIG_VIRTIO_IOMMU (and, on x86, the ACPI VIOT table parser it selects). Debian 12's
 * amd64 kernel (6.1) is built with `# CONFIG_VIRTIO_IOMMU is not set`, so the guest never
 * sends an ATTACH, MAP or UNMAP; this check reads the guest kernel's config to say so.
 *
 * @module
 */
import { buildGuest } from "../qemu/mod.ts";

/** The verdict, with the reason in one line. */
export interface VirtioIommuSupport {
  ok: boolean;
  detail: string;
}

/**
 * Reads `/boot/config-VERSION` of the guest kernel for CONFIG_VIRTIO_IOMMU.
 *
 * @example
 * ```ts
 * import { virtioIommuSupport } from "./virtio_iommu_support.ts";
 * const s = await virtioIommuSupport();
 * if (!s.ok) console.log(s.detail);
 * ```
 */
export async function virtioIommuSupport(root = "/"): Promise<VirtioIommuSupport> {
  const g = await buildGuest({ root });
  const path = `${root.replace(/\/$/, "")}/boot/config-${g.kernelVersion}`;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    return { ok: false, detail: `cannot read ${path} to see whether the guest kernel has it` };
  }
  const m = /^CONFIG_VIRTIO_IOMMU=([ym])$/m.exec(text);
  if (!m) {
    return {
      ok: false,
      detail: `the guest kernel ${g.kernelVersion} is built without the virtio-iommu driver ` +
        `(${path}: CONFIG_VIRTIO_IOMMU is not set), so it never sends ATTACH/MAP/UNMAP to ` +
        `QEMU's virtio-iommu-pci; use --iommu intel`,
    };
  }
  return {
    ok: false,
    detail: `the guest kernel has CONFIG_VIRTIO_IOMMU=${m[1]}, but recording its ` +
      `virtio_iommu_* trace events is not implemented yet; use --iommu intel`,
  };
}
