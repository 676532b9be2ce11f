import assert from "node:assert/strict";
import { UsageError } from "../../lib/cli/mod.ts";
import { checkBlockSize, checkCacheSizes } from "./size_options.ts";

Deno.test("checkBlockSize: powers of two pass, 0 and others are usage errors", () => {
  for (const ok of [1, 512, 4096, 1 << 30, 2 ** 31, 2 ** 40]) assert.equal(checkBlockSize(ok), ok);
  for (const bad of [0, -4096, 3000, 4097, 2 ** 31 + 4096, 2 ** 32 + 4096, 1.5]) {
    assert.throws(() => checkBlockSize(bad), UsageError, String(bad));
  }
});

Deno.test("checkCacheSizes: names the option for 0, below one block, or none", () => {
  assert.deepEqual(checkCacheSizes("--size", [4096, 1 << 20], 4096), [4096, 1 << 20]);
  assert.throws(() => checkCacheSizes("--size", [0], 4096), /--size 0: /);
  assert.throws(() => checkCacheSizes("--sizes", [2048], 4096), /--sizes 2\.0KiB: smaller/);
  assert.throws(() => checkCacheSizes("--size", [], 4096), /--size: give at least one/);
});
