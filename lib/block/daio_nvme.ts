/**
 * NVMe passthrough helpers: recognising an NVMe namespace's generic character device
 * (`/dev/ngXnY`) and asking it for its namespace ID, LBA size and capacity
 * (native/daio_nvme.c: NVME_IOCTL_ID and Identify Namespace, or sysfs without CAP_SYS_ADMIN).
 * The passthrough I/O itself runs in the C job runner (`daio bench --nvme-passthru`).
 *
 * @module
 */
import { native } from "../ffi/ffi.ts";
import { errnoName } from "../ffi/errno.ts";

/** What an NVMe namespace says about itself. */
export interface NvmeNamespace {
  nsid: number;
  /** Bytes per logical block. */
  lbaSize: number;
  /** Capacity in logical blocks. */
  lbas: number;
  /** Capacity in bytes. */
  bytes: number;
}

/** Whether `path` names an NVMe generic character device (`/dev/ng0n1`). */
export function isNvmeGenericPath(path: string): boolean {
  return /^\/dev\/ng\d+n\d+$/.test(path);
}

/** The NVMe generic character devices present (`/dev/ng*`), sorted. */
export function nvmeGenericDevices(): string[] {
  const found: string[] = [];
  try {
    for (const e of Deno.readDirSync("/dev")) {
      if (isNvmeGenericPath(`/dev/${e.name}`)) found.push(`/dev/${e.name}`);
    }
  } catch {
    // No /dev to read: no devices.
  }
  return found.sort();
}

/**
 * Identifies the namespace behind an NVMe generic character device; throws an Error naming the
 * errno (ENOTTY: not an NVMe generic character device).
 *
 * @example
 * ```ts
 * import { nvmeNamespace } from "./daio_nvme.ts";
 * const ns = nvmeNamespace("/dev/ng0n1");
 * console.log(ns.nsid, ns.lbaSize, ns.bytes);
 * ```
 */
export function nvmeNamespace(path: string): NvmeNamespace {
  const out = new BigUint64Array(3);
  const rc = native().daio_nvme_info(
    new TextEncoder().encode(path + "\0"),
    new Uint8Array(out.buffer),
  );
  if (rc < 0) {
    const code = errnoName(-rc);
    const why = code === "ENOTTY" ? "not an NVMe generic character device (/dev/ngXnY)" : "failed";
    throw new Error(`${path}: ${code} (${why})`);
  }
  const lbaSize = Number(out[1]);
  const lbas = Number(out[2]);
  return { nsid: Number(out[0]), lbaSize, lbas, bytes: lbaSize * lbas };
}
