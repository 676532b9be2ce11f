import assert from "node:assert/strict";
import { BlockLocks } from "./block_locks.ts";

Deno.test("block locks: one block's holders take turns in arrival order", async () => {
  const locks = new BlockLocks();
  const order: string[] = [];
  const run = (name: string, first: number, last: number) => {
    const [wait, release] = locks.lock(first, last);
    return (async () => {
      if (wait) await wait;
      order.push(`${name} in`);
      await Promise.resolve();
      order.push(`${name} out`);
      release();
    })();
  };
  await Promise.all([run("a", 0, 1), run("b", 1, 1), run("c", 1, 2)]);
  assert.deepEqual(order, ["a in", "a out", "b in", "b out", "c in", "c out"]);
  assert.equal(locks.size, 0);
});

Deno.test("block locks: other blocks are not held up; anyLocked and idle see the queue", async () => {
  const locks = new BlockLocks();
  const [w1, r1] = locks.lock(0, 0);
  const [w2, r2] = locks.lock(5, 6, [9]);
  assert.equal(w1, null);
  assert.equal(w2, null, "disjoint blocks: held at once");
  assert.ok(locks.anyLocked(6, 8));
  assert.ok(locks.has(9));
  assert.ok(!locks.anyLocked(1, 4));
  const [w3, r3] = locks.lock(0, 0);
  assert.notEqual(w3, null, "block 0 is held: the third waits");
  let idle = false;
  const done = locks.idle().then(() => idle = true);
  r1();
  r2();
  await w3;
  assert.equal(idle, false, "the third still holds block 0");
  r3();
  await done;
  assert.equal(locks.size, 0);
});
