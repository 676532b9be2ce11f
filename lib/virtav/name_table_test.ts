import assert from "node:assert/strict";
import { encodeNames, lazyNames } from "./name_table.ts";

const NAMES = ["Eicar-Test-Signature", "", "Win.Trojan.Ä-1", "\0ldb\x001\x002\0x", "Z"];

Deno.test("name_table: the lazy array reads as the names it was made of", () => {
  const sec = encodeNames(NAMES);
  const n = lazyNames(sec, NAMES.length)!;
  assert.equal(n.length, 5);
  assert.equal(n[2], "Win.Trojan.Ä-1");
  assert.equal(n[5], undefined);
  assert.ok(Array.isArray(n));
  assert.ok(1 in n && !(5 in n));
  assert.deepEqual([...n], NAMES);
  assert.deepEqual(n.slice(1, 3), ["", "Win.Trojan.Ä-1"]);
  assert.ok(n.some((x) => x === "Z"));
  assert.deepEqual(n, NAMES);
  assert.deepEqual(lazyNames(encodeNames([]), 0), []);
});

Deno.test("name_table: a section that is not well formed is refused, never read out of bounds", () => {
  const sec = encodeNames(NAMES);
  assert.equal(lazyNames(sec, 4), null); // another count
  assert.equal(lazyNames(sec.subarray(0, sec.length - 1), 5), null); // truncated
  assert.equal(lazyNames(sec.subarray(0, 8), 5), null);
  const bad = sec.slice();
  new DataView(bad.buffer).setUint32(8, 0xffffffff, true); // an offset past the end, out of order
  assert.equal(lazyNames(bad, 5), null);
  const huge = sec.slice();
  new DataView(huge.buffer).setUint32(0, 0xffffffff, true);
  assert.equal(lazyNames(huge, 0xffffffff), null);
});
