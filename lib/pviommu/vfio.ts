/**
 * VFIO type1 bindings (through lib/ffi): a container, its groups, VFIO_IOMMU_MAP_DMA and
 * UNMAP_DMA, and detection of VFIO and iommufd. With these the model's mappings for an
 * assigned device are mirrored into the host IOMMU ({@linkcode VfioBackend}). They need
 * /dev/vfio and a group whose devices are bound to vfio-pci.
 *
 * @module
 */
import { check, NativeError } from "../ffi/errno.ts";
import { native } from "../ffi/ffi.ts";
import { probeCapabilities } from "../ffi/probe.ts";
import type { HostBackend } from "./iommu.ts";
import type { Mapping } from "./io_page_table.ts";
import { MapFlag } from "./spec.ts";

/** VFIO IOMMU types and extensions (linux/vfio.h). */
export const VfioIommuType = { TYPE1: 1, TYPE1v2: 3 } as const;

/** What this host offers for assigned devices. */
export interface VfioSupport {
  vfio: boolean;
  vfioDetail: string;
  iommufd: boolean;
  iommufdDetail: string;
  /** Entries of /sys/kernel/iommu_groups (0 without a hardware IOMMU), or -1 if unreadable. */
  iommuGroups: number;
}

/**
 * Detects VFIO (/dev/vfio/vfio answering VFIO_GET_API_VERSION), iommufd (/dev/iommu) and
 * the host's IOMMU groups.
 */
export function detectVfio(): VfioSupport {
  const caps = probeCapabilities(".");
  const vfio = caps.find((c) => c.name === "vfio")!;
  const iommufd = caps.find((c) => c.name === "iommufd")!;
  const groups = native().hv_pviommu_iommu_groups();
  return {
    vfio: vfio.ok,
    vfioDetail: vfio.detail,
    iommufd: iommufd.ok,
    iommufdDetail: iommufd.detail,
    iommuGroups: groups < 0 ? -1 : groups,
  };
}

/**
 * A VFIO container: open it, add groups, choose the IOMMU type, then map and unmap DMA.
 *
 * @example
 * ```ts
 * import { VfioContainer, VfioIommuType } from "./vfio.ts";
 * const c = VfioContainer.open();
 * c.addGroup(26);
 * c.setIommu(VfioIommuType.TYPE1v2);
 * c.mapDma(0x7f0000000000n, 0x100000, 0x1000, { read: true, write: true });
 * c.unmapDma(0x100000, 0x1000);
 * c.close();
 * ```
 */
export class VfioContainer {
  readonly #groups: number[] = [];
  private constructor(readonly fd: number) {}

  /** Opens /dev/vfio/vfio and checks the API version. */
  static open(): VfioContainer {
    return new VfioContainer(
      check(native().hv_pviommu_vfio_open_container(), "open VFIO container"),
    );
  }

  /** True when the container supports an IOMMU type or extension. */
  hasExtension(ext: number): boolean {
    return check(native().hv_pviommu_vfio_check_extension(this.fd, ext), "VFIO_CHECK_EXTENSION") >
      0;
  }

  /** Opens /dev/vfio/<group> (EBUSY when not viable) and puts it in this container. */
  addGroup(group: number): void {
    const fd = check(native().hv_pviommu_vfio_open_group(group), `open VFIO group ${group}`);
    try {
      check(native().hv_pviommu_vfio_group_set_container(fd, this.fd), "VFIO_GROUP_SET_CONTAINER");
    } catch (e) {
      native().hv_pviommu_close(fd);
      throw e;
    }
    this.#groups.push(fd);
  }

  /** VFIO_SET_IOMMU (after the first group is added). */
  setIommu(type: number = VfioIommuType.TYPE1v2): void {
    check(native().hv_pviommu_vfio_set_iommu(this.fd, type), "VFIO_SET_IOMMU");
  }

  /** VFIO_IOMMU_MAP_DMA: the device may access [iova, iova+size) as host memory at vaddr. */
  mapDma(
    vaddr: bigint,
    iova: bigint | number,
    size: bigint | number,
    perm: { read: boolean; write: boolean },
  ): void {
    const flags = (perm.read ? 1 : 0) | (perm.write ? 2 : 0);
    check(
      native().hv_pviommu_vfio_map_dma(this.fd, vaddr, BigInt(iova), BigInt(size), flags),
      `VFIO_IOMMU_MAP_DMA iova 0x${iova.toString(16)}`,
    );
  }

  /** VFIO_IOMMU_UNMAP_DMA; returns the number of bytes unmapped. */
  unmapDma(iova: bigint | number, size: bigint | number): number {
    return check(
      native().hv_pviommu_vfio_unmap_dma(this.fd, BigInt(iova), BigInt(size)),
      `VFIO_IOMMU_UNMAP_DMA iova 0x${iova.toString(16)}`,
    );
  }

  /** Closes the groups and the container. */
  close(): void {
    for (const g of this.#groups.splice(0)) native().hv_pviommu_close(g);
    native().hv_pviommu_close(this.fd);
  }
}

/**
 * Mirrors a domain's mappings into a VFIO container: guest-physical `phys` is host virtual
 * `ramHost + phys` (the guest RAM mapping). A refused map makes the MAP request DEVERR.
 */
export class VfioBackend implements HostBackend {
  constructor(readonly container: VfioContainer, readonly ramHost: bigint) {}
  map(_domain: number, m: Mapping): void {
    this.container.mapDma(
      this.ramHost + m.physStart,
      m.virtStart,
      m.virtEnd - m.virtStart + 1n,
      {
        read: (m.flags & MapFlag.READ) !== 0,
        write: (m.flags & MapFlag.WRITE) !== 0,
      },
    );
  }
  unmap(_domain: number, m: Mapping): void {
    this.container.unmapDma(m.virtStart, m.virtEnd - m.virtStart + 1n);
  }
}

export { NativeError };
