import { cString, native } from "./ffi.ts";

/** An error from the native layer, carrying the errno and its symbolic name. */
export class NativeError extends Error {
  /** Positive errno value. */
  readonly errno: number;
  /** Symbolic name, e.g. `ENOENT`. */
  readonly code: string;
  constructor(what: string, errno: number) {
    const n = native();
    const code = cString(n.hv_errno_name(errno));
    super(`${what}: ${code} (${cString(n.hv_errno_text(errno))})`);
    this.name = "NativeError";
    this.errno = errno;
    this.code = code;
  }
}

/**
 * Turns a native return value into a number, throwing {@linkcode NativeError} when it is -errno.
 *
 * @example
 * ```ts
 * import { check } from "./errno.ts";
 * import { native } from "./ffi.ts";
 * check(native().hv_probe_uring(), "io_uring");
 * ```
 */
export function check(rc: number | bigint, what: string): number {
  const v = Number(rc);
  if (v < 0) throw new NativeError(what, -v);
  return v;
}

/** The symbolic name of a positive or negative errno value, e.g. `EINVAL`. */
export function errnoName(err: number): string {
  return cString(native().hv_errno_name(err));
}
