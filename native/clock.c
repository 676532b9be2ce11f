/* A monotonic clock and an absolute-deadline sleep for the backing-device latency model
 * (lib/block/latency_device.ts). JavaScript timers are millisecond-grained; a modelled 100 us
 * device needs microseconds, so the wait happens here, called without blocking the event loop
 * (Deno runs a nonblocking FFI call on a worker thread). Times are nanoseconds as doubles:
 * exact up to 2^53 ns (104 days of uptime), within a few ns beyond. */
#include "hvkit.h"

#include <errno.h>
#include <time.h>

double hv_clock_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Sleeps until CLOCK_MONOTONIC reaches deadline_ns; returns at once if it has. 0 or -errno. */
int32_t hv_sleep_until_ns(double deadline_ns) {
  if (!(deadline_ns > 0)) return 0;
  struct timespec ts;
  ts.tv_sec = (time_t)(deadline_ns / 1e9);
  ts.tv_nsec = (long)(deadline_ns - (double)ts.tv_sec * 1e9);
  if (ts.tv_nsec < 0) ts.tv_nsec = 0;
  if (ts.tv_nsec >= 1000000000L) ts.tv_nsec = 999999999L;
  int rc;
  do {
    rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
  } while (rc == EINTR);
  return -rc;
}
