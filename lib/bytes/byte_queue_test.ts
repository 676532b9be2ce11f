import assert from "node:assert/strict";
import fc from "fast-check";
import { ByteQueue } from "./byte_queue.ts";

Deno.test("byte queue: take returns bytes in the order pushed, across chunks", () => {
  const q = new ByteQueue(4);
  q.push(new Uint8Array([1, 2, 3]));
  q.push(new Uint8Array([4, 5, 6, 7, 8])); // grows past the initial 4
  assert.equal(q.length, 8);
  assert.deepEqual([...q.take(2)], [1, 2]);
  assert.deepEqual([...q.peek()], [3, 4, 5, 6, 7, 8]);
  q.skip(1);
  assert.deepEqual([...q.take(100)], [4, 5, 6, 7, 8]); // at most what is pending
  assert.equal(q.length, 0);
  q.skip(5); // past the end: nothing, no error
  assert.equal(q.length, 0);
});

Deno.test("byte queue: take copies; a later push does not change what was taken", () => {
  const q = new ByteQueue(2);
  const chunk = new Uint8Array([9, 9]);
  q.push(chunk);
  chunk[0] = 0; // the queue copied it
  const taken = q.take(1);
  q.push(new Uint8Array([7, 7, 7, 7]));
  assert.deepEqual([...taken], [9]);
  assert.deepEqual([...q.peek()], [9, 7, 7, 7, 7]);
});

Deno.test("byte queue: any pushes and takes give the bytes of one concatenation", () => {
  const seed = Date.now() >>> 0;
  console.log(`byte queue property seed ${seed}`);
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          fc.uint8Array({ maxLength: 40 }).map((b) => ({ push: b })),
          fc.nat(50).map((n) => ({ take: n })),
        ),
        { maxLength: 60 },
      ),
      fc.integer({ min: 1, max: 16 }),
      (ops, cap) => {
        const q = new ByteQueue(cap);
        const model: number[] = [];
        for (const op of ops) {
          if ("push" in op) {
            q.push(op.push);
            model.push(...op.push);
          } else {
            assert.deepEqual([...q.take(op.take)], model.splice(0, op.take));
          }
          assert.equal(q.length, model.length);
          assert.deepEqual([...q.peek()], model);
        }
      },
    ),
    { seed, numRuns: 300 },
  );
});
