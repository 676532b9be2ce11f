/** FFI symbols of native/clock.c: the monotonic clock and the deadline sleep. */
export const clockSymbols = {
  /** double hv_clock_ns(void): CLOCK_MONOTONIC in nanoseconds */
  hv_clock_ns: { parameters: [], result: "f64" },
  /** int32_t hv_sleep_until_ns(double deadline_ns): 0 or -errno; runs on a worker thread */
  hv_sleep_until_ns: {
    parameters: ["f64" /* double deadline_ns */],
    result: "i32",
    nonblocking: true,
  },
} as const satisfies Deno.ForeignLibraryInterface;
