/**
 * The test guest and QEMU: the QMP client, the guest builder (kernel + busybox initramfs)
 * and the launcher.
 *
 * @module
 */
export * from "./qmp.ts";
export * from "./errors.ts";
export * from "./guest.ts";
export * from "./launch.ts";
export * from "./serial.ts";
export * from "./accel.ts";
export * from "./marker_elf.ts";
export * from "./modules.ts";
export * from "./guarded_process.ts";
export * from "./nbd_server.ts";
