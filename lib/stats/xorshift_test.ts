import assert from "node:assert/strict";
import { xorshift32, xorshiftUniform } from "./xorshift.ts";

Deno.test("xorshift32: Marsaglia's first words from seed 1, seed 0 taken as 1, uniform in [0, 1)", () => {
  // x = 1: x ^= x << 13 -> 8193; x ^= x >>> 17 -> 8193; x ^= x << 5 -> 270369.
  const a = xorshift32(1);
  assert.equal(a(), 270369);
  assert.equal(a(), 67634689);
  const b = xorshift32(0);
  assert.equal(b(), 270369);
  const u = xorshiftUniform(123);
  const w = xorshift32(123);
  for (let i = 0; i < 1000; i++) {
    const v = u();
    assert.ok(v >= 0 && v < 1);
    assert.equal(v, w() / 4294967296);
  }
});
