/**
 * What `daio doctor` adds to the shared probe: which io_uring set-up features this kernel grants
 * the engine (native/daio_ring.c), each tried on a small ring. A run records the features it
 * actually used (`daio bench` and `replay` print and store them).
 *
 * @module
 */
import type { Capability } from "../../lib/ffi/probe.ts";
import { native } from "../../lib/ffi/ffi.ts";
import { DAIO_FEATURES } from "../../lib/block/daio_engine.ts";

const WHAT: Record<(typeof DAIO_FEATURES)[number], string> = {
  sqpoll: "IORING_SETUP_SQPOLL: a kernel thread polls the submission queue",
  coop_taskrun: "IORING_SETUP_COOP_TASKRUN: no interrupt per completion",
  defer_taskrun: "IORING_SETUP_DEFER_TASKRUN: completions run when the issuer reaps",
  iopoll: "IORING_SETUP_IOPOLL: polled completions (needs poll queues to help)",
  fixed_files: "registered files",
  fixed_buffers: "registered buffers",
  nvme_passthrough: "SQE128/CQE32 rings for io_uring_cmd NVMe passthrough (/dev/ngXnY)",
  min_wait: "IORING_FEAT_MIN_TIMEOUT: a wait for a batch of completions ends early once one is in",
  registered_ring: "IORING_REGISTER_RING_FDS: the ring fd registered, no fd lookup per enter",
  huge_buffers: "I/O buffers in transparent huge pages (MADV_HUGEPAGE, checked by MADV_COLLAPSE)",
};

/** One capability row per engine feature: granted by this kernel or not. */
export function engineFeatures(): Capability[] {
  const bits = native().daio_ring_features();
  return DAIO_FEATURES.map((name, i) => {
    const ok = bits >= 0 && (bits & (1 << i)) !== 0;
    return { name: `uring.${name}`, ok, detail: WHAT[name], ...(ok ? {} : { error: "EINVAL" }) };
  });
}
