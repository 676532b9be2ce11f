import assert from "node:assert/strict";
import { ReplyWriter } from "./reply_writer.ts";

/** A socket that records each write and completes it after a macrotask. */
function socket() {
  const writes: Uint8Array[] = [];
  return {
    writes,
    write(p: Uint8Array): Promise<number> {
      writes.push(p.slice());
      return new Promise((r) => setTimeout(() => r(p.length), 0));
    },
  };
}

Deno.test("reply writer: replies of one turn go out in one write, in order", async () => {
  const s = socket();
  const w = new ReplyWriter(s);
  for (let i = 0; i < 10; i++) w.send(new Uint8Array(16).fill(i));
  await w.drain();
  assert.equal(s.writes.length, 1);
  assert.deepEqual([...s.writes[0]].filter((_, k) => k % 16 === 0), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  // While a write is in flight, later replies queue and go out together.
  w.send(new Uint8Array(4).fill(1));
  await Promise.resolve();
  await Promise.resolve();
  w.send(new Uint8Array(4).fill(2));
  w.send(new Uint8Array(4).fill(3));
  await w.drain();
  assert.deepEqual(s.writes.slice(1).map((b) => [...b]), [[1, 1, 1, 1], [2, 2, 2, 2, 3, 3, 3, 3]]);
  assert.equal(w.writes, 3);
});

Deno.test("reply writer: pooled frames come back for reuse once written", async () => {
  const w = new ReplyWriter(socket());
  const a = w.acquire(4112);
  w.send(a, true);
  w.send(w.acquire(16), true);
  await w.drain();
  assert.equal(w.acquire(4112), a);
  assert.notEqual(w.acquire(4112), a);
});

Deno.test("reply writer: a failed socket drops later frames and drain still resolves", async () => {
  const w = new ReplyWriter({ write: () => Promise.reject(new Error("EPIPE")) });
  w.send(new Uint8Array(8));
  await w.drain();
  assert.equal(w.failed?.message, "EPIPE");
  w.send(new Uint8Array(8));
  await w.drain();
});
