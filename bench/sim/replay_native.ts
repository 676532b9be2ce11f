/**
 * One native replay in its own process, for bench/sim's `--baseline LIB` (the native library
 * is chosen per process, by HVKIT_NATIVE_LIB): replays a binary trace with one policy and
 * prints one JSON line, `{"cpu": s, "hits": n, "bytes": n}` (CPU seconds of the replay thread,
 * block hits, bytes the policy allocated).
 *
 * Usage: HVKIT_NATIVE_LIB=lib.so deno run -A bench/sim/replay_native.ts POLICY TRACE.bin BLOCKS
 *
 * @module
 */
import { NativeCache } from "../../lib/cache/native_cache.ts";

const [policy, trace, blocks] = Deno.args;
const c = new NativeCache(policy, Number(blocks), 4096);
try {
  await c.runFile(trace);
  console.log(JSON.stringify({ cpu: c.cpuSeconds, hits: c.result().hits, bytes: c.memoryBytes }));
} finally {
  c.close();
}
