import assert from "node:assert/strict";
import fc from "fast-check";
import { bucketIndex, bucketRange, HIST_BUCKETS, Histogram } from "./histogram.ts";
import { native } from "../ffi/ffi.ts";

Deno.test("histogram: same bucket layout as native/daio_hist.c", () => {
  assert.equal(native().daio_hist_bucket_count(), HIST_BUCKETS);
});

Deno.test("histogram: every value falls inside its bucket's range", () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (v) => {
    const [lo, hi] = bucketRange(bucketIndex(v));
    return lo <= v && v <= hi;
  }));
  for (let e = 0; e < 53; e++) {
    for (const v of [2 ** e - 1, 2 ** e, 2 ** e + 1]) {
      const [lo, hi] = bucketRange(bucketIndex(v));
      assert.ok(lo <= v && v <= hi, `value ${v} in [${lo}, ${hi}]`);
    }
  }
});

Deno.test("histogram: percentiles agree with a sorted array within the bucket width", () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 10_000_000_000 }), { minLength: 1, maxLength: 400 }),
      fc.constantFrom(0, 50, 90, 99, 99.9, 100),
      (values, p) => {
        const h = new Histogram();
        for (const v of values) h.record(v);
        const sorted = [...values].sort((a, b) => a - b);
        const exact = sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
        const got = h.percentile(p);
        return Math.abs(got - exact) <= Math.max(1, exact / 128);
      },
    ),
  );
});

Deno.test("histogram: merge equals recording everything in one", () => {
  const a = new Histogram(), b = new Histogram(), all = new Histogram();
  for (let i = 0; i < 1000; i++) {
    const v = (i * 7919) % 100_003;
    (i % 2 ? a : b).record(v);
    all.record(v);
  }
  a.merge(b);
  assert.deepEqual(a.summary(), all.summary());
  assert.deepEqual(a.buckets(), all.buckets());
});
