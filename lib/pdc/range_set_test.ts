import assert from "node:assert/strict";
import fc from "fast-check";
import { RangeSet } from "./range_set.ts";

Deno.test("RangeSet: overlap matches a linear scan", () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ off: fc.nat(1 << 20), len: fc.nat(1 << 16) }), { maxLength: 20 }),
      fc.nat(1 << 21),
      fc.nat(1 << 16),
      (ranges, off, len) => {
        const want = len > 0 &&
          ranges.some((r) => r.len > 0 && off < r.off + r.len && off + len > r.off);
        assert.equal(new RangeSet(ranges).overlaps(off, len), want);
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("RangeSet: edges are exclusive at the end", () => {
  const s = new RangeSet([{ off: 100, len: 50 }, { off: 150, len: 10 }]);
  assert.deepEqual(s.ranges, [{ off: 100, len: 60 }]);
  assert.equal(s.overlaps(90, 10), false);
  assert.equal(s.overlaps(90, 11), true);
  assert.equal(s.overlaps(159, 1), true);
  assert.equal(s.overlaps(160, 1), false);
  assert.throws(() => new RangeSet([{ off: -1, len: 1 }]), /bad range/);
});
