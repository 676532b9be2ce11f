/**
 * Choosing QEMU's accelerator: KVM when /dev/kvm is usable AND this guest really boots under
 * it, TCG otherwise. `HVKIT_ACCEL=tcg|kvm` (or the `accel` option) forces one.
 *
 * Why the boot check: a /dev/kvm that answers KVM_CREATE_VM is not always one a kernel boots
 * on (nested hosts that hide CPU features hang the guest's early boot, silently). The first
 * `auto` launch of a guest build boots it once without a disk under KVM, with a short
 * deadline, and keeps the verdict beside the build (`kvm-verdict.json`).
 *
 * @module
 */

/** What `launchGuest` was asked for. */
export type AccelRequest = "auto" | "kvm" | "tcg";

/** The accelerator chosen, and why. */
export interface AccelChoice {
  accel: "kvm" | "tcg";
  reason: string;
}

/** Whether /dev/kvm can create a VM (the native probe), else whether it opens read-write. */
export async function kvmUsable(): Promise<{ ok: boolean; detail: string }> {
  try {
    const { native } = await import("../ffi/ffi.ts");
    const rc = native().hv_probe_kvm();
    if (rc >= 0) return { ok: true, detail: `KVM_CREATE_VM succeeded (API ${rc})` };
    return { ok: false, detail: `KVM probe failed (errno ${-rc})` };
  } catch {
    // no FFI permission or library: the crude check
    try {
      const f = Deno.openSync("/dev/kvm", { read: true, write: true });
      f.close();
      return { ok: true, detail: "/dev/kvm opens read-write" };
    } catch (e) {
      return { ok: false, detail: `/dev/kvm: ${(e as Error).message}` };
    }
  }
}

/** Reads the requested accelerator from the option or `HVKIT_ACCEL`. */
export function requestedAccel(option?: AccelRequest): AccelRequest {
  const v = option ?? Deno.env.get("HVKIT_ACCEL") ?? "auto";
  if (v !== "auto" && v !== "kvm" && v !== "tcg") {
    throw new Error(`HVKIT_ACCEL: expected auto, kvm or tcg, got ${JSON.stringify(v)}`);
  }
  return v;
}

/** The verdict file for a guest build. */
export function verdictPath(kernelPath: string): string {
  return kernelPath.replace(/\/[^/]*$/, "/kvm-verdict.json");
}

/** A remembered verdict, if any. */
export function readVerdict(kernelPath: string): { boots: boolean; detail: string } | null {
  try {
    const v = JSON.parse(Deno.readTextFileSync(verdictPath(kernelPath)));
    if (typeof v.boots === "boolean") return { boots: v.boots, detail: String(v.detail ?? "") };
  } catch {
    // none yet
  }
  return null;
}

/** Remembers a verdict (best effort: a read-only cache just means re-trying next time). */
export function writeVerdict(kernelPath: string, boots: boolean, detail: string): void {
  try {
    Deno.writeTextFileSync(
      verdictPath(kernelPath),
      JSON.stringify({ boots, detail, at: new Date().toISOString() }) + "\n",
    );
  } catch {
    // read-only cache
  }
}
