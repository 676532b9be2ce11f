import { native } from "./ffi.ts";
import { check } from "./errno.ts";

/**
 * CLOCK_MONOTONIC in nanoseconds (a double: exact for 104 days of uptime).
 *
 * @example
 * ```ts
 * import { monotonicNs } from "./clock.ts";
 * const t0 = monotonicNs();
 * ```
 */
export function monotonicNs(): number {
  return native().hv_clock_ns();
}

/**
 * Resolves when CLOCK_MONOTONIC reaches `deadlineNs`, with microsecond precision: the wait runs
 * on a worker thread (a nonblocking FFI call), so the event loop keeps serving meanwhile.
 *
 * @example
 * ```ts
 * import { monotonicNs, sleepUntilNs } from "./clock.ts";
 * await sleepUntilNs(monotonicNs() + 100_000); // 100 us
 * ```
 */
export async function sleepUntilNs(deadlineNs: number): Promise<void> {
  check(await native().hv_sleep_until_ns(deadlineNs), "clock_nanosleep");
}
