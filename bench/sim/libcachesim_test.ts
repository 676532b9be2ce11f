import assert from "node:assert/strict";
import {
  findCachesim,
  hvkitSpec,
  LCS_POLICY,
  parseMissRatio,
  sameHitRatio,
} from "./libcachesim.ts";

Deno.test("parseMissRatio reads cachesim's result line and refuses output without one", () => {
  const line = "\x1b[0m/tmp/mix2m.oracleGeneral LRU cache size   156MiB,          2000000 req, " +
    "miss ratio 0.5437, throughput 0.38 MQPS\n";
  assert.equal(parseMissRatio(line), 0.5437);
  assert.throws(() => parseMissRatio("[ERROR] cannot open trace\n"), /no "miss ratio"/);
});

Deno.test("sameHitRatio allows cachesim's 4-decimal rounding and nothing more", () => {
  assert.ok(sameHitRatio(0.4563, 1 - 0.5437));
  assert.ok(sameHitRatio(0.538315, 1 - 0.4617)); // printed 0.4617 for a true 0.461685
  assert.ok(!sameHitRatio(0.5414, 1 - 0.4655)); // hvkit's default S3-FIFO vs the 2024 one
});

Deno.test("every peer policy is one hvkit has; S3-FIFO is named as libCacheSim's 2024 variant", () => {
  assert.deepEqual(Object.keys(LCS_POLICY).sort(), [
    "2q",
    "arc",
    "clock",
    "fifo",
    "lfu",
    "lru",
    "s3fifo",
    "sieve",
  ]);
  assert.equal(hvkitSpec("s3fifo"), "s3fifo(insert-main-when-fifo-full=0)");
  assert.equal(hvkitSpec("lru"), "lru");
});

Deno.test("findCachesim: the flag first, then HVKIT_CACHESIM", () => {
  const old = Deno.env.get("HVKIT_CACHESIM");
  try {
    Deno.env.set("HVKIT_CACHESIM", "/opt/lcs/cachesim");
    assert.equal(findCachesim("/x/cachesim"), "/x/cachesim");
    assert.equal(findCachesim(), "/opt/lcs/cachesim");
  } finally {
    if (old === undefined) Deno.env.delete("HVKIT_CACHESIM");
    else Deno.env.set("HVKIT_CACHESIM", old);
  }
});
