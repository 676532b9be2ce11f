/**
 * One native replay in its own process, for bench/sim's `--baseline LIB`: replays a binary trace
 * with one policy under the libhvkit.so at LIB (opened with the simulator's symbols only, so an
 * earlier build loads too) and prints one JSON line, `{"cpu": s, "hits": n, "bytes": n}` (CPU
 * seconds of the replay thread, block hits, bytes the policy allocated).
 *
 * Usage: deno run -A bench/sim/replay_native.ts LIB POLICY TRACE.bin BLOCKS
 *
 * @module
 */
import { openCacheLibrary } from "../../lib/ffi/ffi.ts";

/** Words of the result array used here (native/cache.h's CACHE_* order). */
const W = { readHits: 2, writeHits: 8, memBytes: 18, cpuNs: 23, words: 24 } as const;

const [lib, policy, trace, blocks] = Deno.args;
const enc = new TextEncoder();
const native = openCacheLibrary(lib);
try {
  const c = native.symbols;
  const h = c.cache_open(enc.encode(policy + "\0"), BigInt(blocks), 4096n);
  if (h < 0) throw new Error(`cache_open ${policy}: ${h}`);
  const out = new BigUint64Array(W.words);
  const rc = await c.cache_run_file(h, enc.encode(trace + "\0"), out);
  c.cache_close(h);
  if (rc < 0) throw new Error(`cache_run_file ${trace}: ${rc}`);
  console.log(JSON.stringify({
    cpu: Number(out[W.cpuNs]) / 1e9,
    hits: Number(out[W.readHits] + out[W.writeHits]),
    bytes: Number(out[W.memBytes]),
  }));
} finally {
  native.close();
}
