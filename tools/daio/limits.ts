/**
 * The daio engine's limits (native/daio_bench.c, native/daio_dev.c), checked on the command
 * line so a value past them is a usage error naming the option, not an EINVAL from the engine.
 *
 * @module
 */

/** Most io_uring instances (queues) one job or device may use. */
export const MAX_QUEUES = 64;
/** Most requests in flight per queue. */
export const MAX_QUEUE_DEPTH = 4096;
/** Largest block size of one request in `daio bench`. */
export const MAX_BS = 64 << 20;
