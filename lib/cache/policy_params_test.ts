import assert from "node:assert/strict";
import fc from "fast-check";
import { parsePolicySpec, splitPolicyList } from "./policy_params.ts";
import { createPolicy } from "./registry.ts";
import { NativeCache } from "./native_cache.ts";
import { PolicySpecError } from "./errors.ts";
import { describeError, EXIT } from "../cli/errors.ts";

const seed = Number(Deno.env.get("HVKIT_FUZZ_SEED") ?? Math.floor(Math.random() * 2 ** 31));
console.log(`policy params: seed ${seed} (HVKIT_FUZZ_SEED=${seed} replays it)`);

Deno.test("policy params: libCacheSim's names, defaults printed, bad ones named", () => {
  assert.equal(
    parsePolicySpec("s3fifo").label,
    "s3fifo(fifo-size-ratio=0.1,ghost-size-ratio=0.9,move-to-main-threshold=2," +
      "insert-main-when-fifo-full=1)",
  );
  const s = parsePolicySpec("s3fifo(small-size-ratio=0.2, move-to-main-threshold=1)");
  assert.deepEqual(s.params, [0.2, 0.9, 1, 1]);
  assert.equal(
    parsePolicySpec("2q(Ain-size-ratio=0.1)").label,
    "2q(Ain-size-ratio=0.1,Aout-size-ratio=0.5)",
  );
  assert.equal(parsePolicySpec("lru").label, "lru");
  for (
    const bad of [
      "s3fifo(x=1)",
      "s3fifo(fifo-size-ratio=1)",
      "s3fifo(fifo-size-ratio=)",
      "lru(a=1)",
      "2q((",
    ]
  ) {
    assert.throws(() => parsePolicySpec(bad), PolicySpecError, bad);
    // The library's own type; lib/cli still makes it a usage error (exit 2) naming the text.
    try {
      parsePolicySpec(bad);
    } catch (e) {
      assert.equal((e as PolicySpecError).spec, bad);
      assert.equal(describeError("qbic-cache", e).code, EXIT.usage);
      assert.ok(describeError("qbic-cache", e).line.startsWith(`qbic-cache: --policy ${bad}: `));
    }
  }
  assert.deepEqual(splitPolicyList("lru, s3fifo(fifo-size-ratio=0.2,ghost-size-ratio=0.5),2q"), [
    "lru",
    "s3fifo(fifo-size-ratio=0.2,ghost-size-ratio=0.5)",
    "2q",
  ]);
  // The default spelled out is the default.
  assert.deepEqual(
    parsePolicySpec("s3fifo(fifo-size-ratio=0.1,ghost-size-ratio=0.9,move-to-main-threshold=2)"),
    parsePolicySpec("s3fifo"),
  );
});

Deno.test("policy params: TS and native twins agree access by access for any parameters", () => {
  const spec = fc.oneof(
    fc.record({
      r: fc.double({ min: 0.01, max: 0.99, noNaN: true }),
      g: fc.double({ min: 0, max: 2, noNaN: true }),
      m: fc.integer({ min: 1, max: 4 }),
      f: fc.constantFrom(0, 1),
    }).map(({ r, g, m, f }) =>
      `s3fifo(fifo-size-ratio=${r},ghost-size-ratio=${g},move-to-main-threshold=${m},` +
      `insert-main-when-fifo-full=${f})`
    ),
    fc.record({
      i: fc.double({ min: 0, max: 0.95, noNaN: true }),
      o: fc.double({ min: 0, max: 2, noNaN: true }),
    }).map(({ i, o }) => `2q(Ain-size-ratio=${i},Aout-size-ratio=${o})`),
  );
  fc.assert(
    fc.property(
      spec,
      fc.integer({ min: 0, max: 40 }),
      fc.array(fc.nat(120), { minLength: 50, maxLength: 600 }),
      (p, cap, keys) => {
        const ts = createPolicy(p, cap);
        const nat = new NativeCache(p, cap, 4096);
        try {
          keys.forEach((k, i) => {
            assert.equal(nat.access(k, false), ts.access(k, false), `${p} cap ${cap} step ${i}`);
          });
          assert.equal(nat.used, ts.used);
        } finally {
          nat.close();
        }
      },
    ),
    { seed, numRuns: 150 },
  );
});

Deno.test("policy params: insert-main-when-fifo-full changes the decisions before the first eviction", () => {
  // Ten new blocks fill a cache of 10: the late-2024 variant (1) puts nine of them in main, the
  // earlier libCacheSim (0) keeps all in the small FIFO; re-accesses then age them differently.
  const run = (spec: string) => {
    const p = createPolicy(spec, 10);
    let hits = 0;
    for (let b = 0; b < 10; b++) p.access(b, false);
    for (const b of [0, 0, 1, 1, 2, 10, 11, 12, 13, 0, 1, 2, 3, 4, 5]) {
      hits += p.access(b, false) ? 1 : 0;
    }
    return [hits, [...Array(14).keys()].filter((b) => p.has(b)).join(",")];
  };
  const late = run("s3fifo"), early = run("s3fifo(insert-main-when-fifo-full=0)");
  assert.notDeepEqual(late, early);
  for (const spec of ["s3fifo", "s3fifo(insert-main-when-fifo-full=0)"]) {
    const nat = new NativeCache(spec, 10, 4096);
    try {
      const ts = createPolicy(spec, 10);
      for (const b of [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0, 1, 1, 2, 10, 11, 12, 13, 0, 1, 2, 3]) {
        assert.equal(nat.access(b, false), ts.access(b, false), spec);
      }
    } finally {
      nat.close();
    }
  }
});
