/** Something the guest needs is missing on this machine (a kernel, busybox, QEMU, a module). */
export class GuestSetupError extends Error {
  override name = "GuestSetupError";
}

/** The guest did not finish in time and was killed. Carries the end of its serial log. */
export class GuestTimeoutError extends Error {
  override name = "GuestTimeoutError";
  constructor(message: string, readonly serialTail: string) {
    super(`${message}\n--- serial log (last lines) ---\n${serialTail}`);
  }
}

/**
 * QEMU exited without the guest reporting success: QEMU refused to start (its stderr is in
 * the message), the kernel panicked, or the workload failed. Carries the end of the serial log.
 */
export class GuestFailedError extends Error {
  override name = "GuestFailedError";
  constructor(message: string, readonly serialTail: string) {
    super(`${message}\n--- serial log (last lines) ---\n${serialTail}`);
  }
}
