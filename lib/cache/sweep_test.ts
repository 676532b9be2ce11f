import assert from "node:assert/strict";
import { cellsByTrace, parseShard, shardCells, ShardSpecError, sweepCells } from "./sweep.ts";

Deno.test("sweep: the N parts partition the sweep exactly, for every N up to past its size", () => {
  const cells = sweepCells(["a.bin", "b.bin", "c.bin"], ["lru", "arc", "s3fifo"], [1, 2, 4, 8]);
  assert.equal(cells.length, 36);
  for (let n = 1; n <= 40; n++) {
    const seen = new Array(cells.length).fill(0);
    let last = -1;
    for (let k = 1; k <= n; k++) {
      for (const c of shardCells(cells, { k, n })) {
        seen[c.index]++;
        assert.ok(c.index > last, `n=${n}: parts in order, contiguous`);
        last = c.index;
      }
    }
    assert.deepEqual(seen, new Array(cells.length).fill(1), `n=${n}: each cell exactly once`);
    const sizes = Array.from({ length: n }, (_, i) => shardCells(cells, { k: i + 1, n }).length);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `n=${n}: balanced ${sizes}`);
  }
});

Deno.test("sweep: cells are numbered trace-major and grouped back by trace", () => {
  const cells = sweepCells(["t1", "t2"], ["lru", "fifo"], [10, 20]);
  assert.deepEqual(cells.slice(0, 3).map((c) => [c.trace, c.policy, c.sizeBytes]), [
    ["t1", "lru", 10],
    ["t1", "lru", 20],
    ["t1", "fifo", 10],
  ]);
  const part = shardCells(cells, { k: 2, n: 2 });
  assert.deepEqual([...cellsByTrace(part).keys()], ["t2"]);
  assert.equal(shardCells(cells).length, 8);
});

Deno.test("sweep: --shard values", () => {
  assert.deepEqual(parseShard("1/1"), { k: 1, n: 1 });
  assert.deepEqual(parseShard(" 3 / 8 "), { k: 3, n: 8 });
  for (const bad of ["0/4", "5/4", "1/0", "2", "a/b", "1/2/3", "-1/2", ""]) {
    assert.throws(() => parseShard(bad), ShardSpecError, bad);
  }
});
