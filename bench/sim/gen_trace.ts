/**
 * Generates a synthetic block trace in hvkit's binary form: a Zipf(alpha) mix of 4 KiB reads
 * and writes over `blocks` blocks, with a sequential scan of `scanLen` blocks inserted every
 * `scanEvery` requests (the pattern that hurts LRU). Deterministic for a seed.
 *
 * Usage: deno run -A bench/sim/gen_trace.ts OUT.bin [--requests N] [--blocks N] [--alpha A]
 *   [--write-share W] [--scan-every N] [--scan-len N] [--seed S]
 *
 * @module
 */
import { BINARY_MAGIC, RECORD_SIZE } from "../../lib/trace/binary.ts";
import { xorshiftUniform } from "../../lib/stats/xorshift.ts";

/** Parameters of the synthetic trace. */
export interface GenOptions {
  requests: number;
  blocks: number;
  alpha: number;
  writeShare: number;
  scanEvery: number;
  scanLen: number;
  seed: number;
}

/** Defaults of the benchmark trace. */
export const GEN_DEFAULTS: GenOptions = {
  requests: 50_000_000,
  blocks: 4_000_000,
  alpha: 0.9,
  writeShare: 0.3,
  scanEvery: 100_000,
  scanLen: 20_000,
  seed: 1,
};

/** A Zipf sampler by inverse CDF over a precomputed table (binary search). */
function zipfSampler(n: number, alpha: number): (u: number) => number {
  const cdf = new Float64Array(n);
  let s = 0;
  for (let i = 0; i < n; i++) cdf[i] = s += 1 / Math.pow(i + 1, alpha);
  for (let i = 0; i < n; i++) cdf[i] /= s;
  return (u) => {
    let lo = 0, hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/**
 * Writes the trace to `path` (the same bytes BinaryTraceWriter would write, filled straight
 * into large buffers: 50M records take seconds, not minutes).
 */
export async function generateTrace(path: string, o: GenOptions): Promise<void> {
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  try {
    const zipf = zipfSampler(o.blocks, o.alpha);
    const rnd = xorshiftUniform(o.seed);
    // Scatter popular ranks over the address space (a fixed odd multiplier mod blocks).
    const perm = (r: number) => (r * 2654435761) % o.blocks;
    const head = new Uint8Array(16);
    head.set(BINARY_MAGIC);
    new DataView(head.buffer).setUint32(8, RECORD_SIZE, true);
    await writeAll(file, head);
    const per = 1 << 16;
    const buf = new Uint8Array(per * RECORD_SIZE);
    const dv = new DataView(buf.buffer);
    let scanPos = 0, inScan = 0, k = 0;
    for (let i = 0; i < o.requests; i++) {
      let block: number;
      if (inScan > 0) {
        block = o.blocks + (scanPos++ % (o.blocks * 4)); // scans touch cold space
        inScan--;
      } else {
        if (o.scanEvery > 0 && i % o.scanEvery === o.scanEvery - 1) inScan = o.scanLen;
        block = perm(zipf(rnd()));
      }
      const p = k * RECORD_SIZE;
      dv.setFloat64(p, i * 1000, true);
      dv.setFloat64(p + 8, block * 4096, true);
      dv.setUint32(p + 16, 4096, true);
      dv.setUint8(p + 20, rnd() < o.writeShare ? 1 : 0);
      dv.setUint8(p + 21, 0);
      dv.setUint16(p + 22, 0, true);
      if (++k === per) {
        await writeAll(file, buf);
        k = 0;
      }
    }
    if (k > 0) await writeAll(file, buf.subarray(0, k * RECORD_SIZE));
  } finally {
    file.close();
  }
}

async function writeAll(f: Deno.FsFile, b: Uint8Array): Promise<void> {
  for (let o = 0; o < b.length;) o += await f.write(b.subarray(o));
}

if (import.meta.main) {
  const args = [...Deno.args];
  const out = args.shift();
  if (!out) {
    console.error("usage: gen_trace.ts OUT.bin [--requests N] [--blocks N] [--alpha A] ...");
    Deno.exit(2);
  }
  const o = { ...GEN_DEFAULTS };
  const keys: Record<string, keyof GenOptions> = {
    "--requests": "requests",
    "--blocks": "blocks",
    "--alpha": "alpha",
    "--write-share": "writeShare",
    "--scan-every": "scanEvery",
    "--scan-len": "scanLen",
    "--seed": "seed",
  };
  for (let i = 0; i < args.length; i += 2) {
    const k = keys[args[i]];
    if (!k || args[i + 1] === undefined) {
      console.error(`gen_trace.ts: unknown option ${args[i]}`);
      Deno.exit(2);
    }
    o[k] = Number(args[i + 1]);
  }
  await generateTrace(out, o);
}

/**
 * The path of a generated trace of `requests` over `blocks` under the repository's .cache/,
 * generated when it is not there yet: `mix` (GEN_DEFAULTS, with scans; the name earlier runs
 * cached it under) or `zipf` (no scans). Shared by bench/sim and bench/mrc.
 */
export async function cachedTrace(
  kind: string,
  requests: number,
  blocks: number,
): Promise<string> {
  const root = new URL("../../", import.meta.url).pathname;
  const path = kind === "mix"
    ? `${root}.cache/sim-bench-${requests}.bin`
    : `${root}.cache/sim-bench-${kind}-${requests}.bin`;
  try {
    await Deno.stat(path);
  } catch {
    await Deno.mkdir(`${root}.cache`, { recursive: true });
    console.error(`generating ${path} (${requests} requests)...`);
    const scan = kind === "mix" ? {} : { scanEvery: 0 };
    await generateTrace(path, { ...GEN_DEFAULTS, requests, blocks, ...scan });
  }
  return path;
}
