import assert from "node:assert/strict";
import { exactMrc } from "./mrc.ts";
import { ShardsSampler } from "./shards.ts";

/** A skewed access sequence (a cubed uniform over `blocks`), seeded. */
function skewed(n: number, blocks: number, seed: number): Float64Array {
  let x = seed;
  const seq = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const u = x / 4294967296;
    seq[i] = Math.floor(blocks * u * u * u);
  }
  return seq;
}

function run(
  seq: Float64Array,
  sizes: number[],
  opts: ConstructorParameters<typeof ShardsSampler>[0],
) {
  const s = new ShardsSampler(opts);
  for (const b of seq) s.access(b);
  return { sampler: s, points: s.points(sizes) };
}

Deno.test("shards: at rate 1 the curve is the exact one, with or without hot tracking", () => {
  const seq = skewed(50_000, 5_000, 99);
  const sizes = [1, 2, 5, 17, 100, 999, 4000, 10_000];
  const exact = exactMrc(seq, sizes);
  for (const hotBlocks of [0, 64]) {
    const { points, sampler } = run(seq, sizes, { rate: 1, hotBlocks });
    points.forEach((p, i) => {
      assert.ok(
        Math.abs(p.missRatio - exact[i].missRatio) < 1e-12,
        `hot ${hotBlocks} size ${sizes[i]}: ${p.missRatio} vs ${exact[i].missRatio}`,
      );
    });
    assert.equal(sampler.footprint(), new Set(seq).size);
  }
});

Deno.test("shards: hot blocks tracked exactly halve the error at rate 0.01", () => {
  // 600k accesses over 200k blocks, cubed skew: the sample holds ~2000 blocks, and which of the
  // hottest it holds decides plain SHARDS' curve. Mean absolute error over four hash seeds.
  const seq = skewed(600_000, 200_000, 4242);
  const sizes = [100, 300, 1000, 3000, 10_000, 30_000, 100_000];
  const exact = exactMrc(seq, sizes);
  const mae = (hotBlocks: number) => {
    let sum = 0;
    for (const seed of [0x5bd1e995, 1, 2, 3]) {
      const { points } = run(seq, sizes, { rate: 0.01, hotBlocks, seed });
      points.forEach((p, i) => sum += Math.abs(p.missRatio - exact[i].missRatio));
    }
    return sum / (4 * sizes.length);
  };
  const hot = mae(16384), plain = mae(0);
  assert.ok(hot < 0.015 && hot < plain / 2, `mean error ${hot} with hot blocks, ${plain} without`);
});

Deno.test("shards: fixed size holds at most maxSamples sampled blocks and lowers the rate", () => {
  const seq = skewed(300_000, 100_000, 7);
  const sizes = [300, 1000, 3000, 10_000, 30_000];
  const exact = exactMrc(seq, sizes);
  const s = new ShardsSampler({ rate: 0.1, maxSamples: 500, hotBlocks: 256 });
  let most = 0;
  for (const b of seq) {
    s.access(b);
    most = Math.max(most, s.tracked - s.hotBlocks);
  }
  assert.ok(most <= 500, `held ${most} sampled blocks`);
  // ~60k distinct cold blocks at 500: the rate ends near 500/60k, far below 0.1.
  assert.ok(s.rate < 0.02 && s.rate > 0.002, `rate ${s.rate}`);
  const err = s.points(sizes).map((p, i) => Math.abs(p.missRatio - exact[i].missRatio));
  assert.ok(Math.max(...err) < 0.04, `errors ${err.map((e) => e.toFixed(3))}`);
});

Deno.test("shards: a fixed-size sample larger than the footprint is the fixed-rate curve", () => {
  const seq = skewed(40_000, 3_000, 11);
  const sizes = [10, 100, 1000];
  const a = run(seq, sizes, { rate: 0.5 }).points;
  const b = run(seq, sizes, { rate: 0.5, maxSamples: 10_000 }).points;
  assert.deepEqual(a, b);
});

Deno.test("shards: positions are renumbered as they fill without changing the curve", () => {
  // 200k references to a few hundred blocks: the position space (4096 at first) wraps many
  // times; distances must be as if it never did (rate 1 = exact).
  const seq = skewed(200_000, 300, 5);
  const sizes = [1, 10, 50, 200];
  const exact = exactMrc(seq, sizes);
  const { points } = run(seq, sizes, { rate: 1, hotBlocks: 0 });
  points.forEach((p, i) => assert.ok(Math.abs(p.missRatio - exact[i].missRatio) < 1e-12));
});

Deno.test("shards: an empty stream and a bad rate", () => {
  assert.deepEqual(new ShardsSampler({ rate: 0.1 }).points([1, 10]), [
    { sizeBlocks: 1, missRatio: 0 },
    { sizeBlocks: 10, missRatio: 0 },
  ]);
  assert.throws(() => new ShardsSampler({ rate: 0 }), RangeError);
  assert.throws(() => new ShardsSampler({ rate: 1.5 }), RangeError);
});
