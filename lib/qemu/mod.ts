/**
 * The test guest and QEMU: the QMP client, the guest builder (kernel + busybox initramfs)
 * and the launcher.
 *
 * @module
 */
export * from "./qmp.ts";
