import assert from "node:assert/strict";
import { NativeCache } from "./native_cache.ts";
import { native } from "../ffi/ffi.ts";
import { runGrid } from "./sim_grid.ts";
import { BinaryTraceWriter } from "../trace/binary.ts";
import type { BinaryChunk } from "../trace/binary.ts";
import { TraceFormatError } from "../trace/jsonl.ts";
import { MAX_REQUEST_LEN } from "../trace/limits.ts";

// Requests of the longest length the readers take, at 512-byte blocks: 8 Mi block accesses
// each, so a batch of them runs for minutes unless cancelled.
const LEN = MAX_REQUEST_LEN - 511;
const BS = 512;
const N = 256;

function hostileBatch(): BinaryChunk {
  const c: BinaryChunk = {
    count: N,
    ts: new Float64Array(N),
    op: new Uint8Array(N),
    off: new Float64Array(N),
    len: new Float64Array(N).fill(LEN),
    flags: new Uint8Array(N),
    dev: new Uint16Array(N),
    devNames: [""],
  };
  for (let i = 0; i < N; i++) c.off[i] = i * 4096;
  return c;
}

/** Fails the test instead of hanging it when `p` never settles. */
async function within<T>(p: Promise<T>, what: string, ms = 60_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not stopped after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

const later = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("native sim: cancel stops a batch of huge requests; counts cover what was reached", async () => {
  for (const policy of ["lru", "arc", "s3fifo"]) {
    const nat = new NativeCache(policy, 1024, BS);
    try {
      const run = nat.feedAsync(hostileBatch());
      await later(100);
      nat.cancel();
      await within(run, policy);
      assert.equal(nat.interrupted, true, policy);
      const r = nat.result();
      assert.ok(r.reads.blocks < N * (LEN / BS), `${policy}: stopped before the end`);
      // A request cut short counts only the blocks (and their bytes) it reached.
      assert.equal(r.reads.bytes, r.reads.blocks * BS, policy);
      assert.ok(r.hits <= r.accesses);
      // The flag stays set: a later batch returns at once.
      await within(nat.feedAsync(hostileBatch()), `${policy} again`);
      assert.equal(nat.result().reads.blocks, r.reads.blocks);
    } finally {
      nat.close();
    }
  }
});

Deno.test("native sim: cancel stops the mapped-file replay", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/h.bin`;
    const f = await Deno.open(path, { write: true, create: true });
    const w = new BinaryTraceWriter(f.writable);
    for (let i = 0; i < N; i++) await w.write({ ts: i, op: "W", off: i * 4096, len: LEN });
    await w.close();
    const nat = new NativeCache("lru", 1024, BS);
    try {
      const run = nat.runFile(path);
      await later(100);
      nat.cancel();
      await within(run, "runFile");
      assert.equal(nat.interrupted, true);
      const r = nat.result();
      assert.ok(r.writes.blocks < N * (LEN / BS));
      assert.equal(r.writes.bytes, r.writes.blocks * BS);
    } finally {
      nat.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("native sim: an extent ending past 2^53 is refused (each half was checked alone)", () => {
  const nat = new NativeCache("lru", 16, 4096);
  try {
    const batch = (off: number, len: number) => ({
      count: 1,
      op: new Uint8Array([0]),
      off: new Float64Array([off]),
      len: new Float64Array([len]),
    });
    nat.feed(batch(2 ** 53 - 4096, 4096));
    assert.throws(
      () => nat.feed(batch(2 ** 53 - 4096, 4097)),
      (e: Error) => e instanceof TraceFormatError && /end at or below 2\^53/.test(e.message),
    );
  } finally {
    nat.close();
  }
});

Deno.test("native sim: admission range count n = 2^32 - 1 is refused (n + 1 wrapped to 0)", () => {
  const nat = new NativeCache("lru", 16, 4096);
  try {
    const E2BIG = 7;
    const rc = native().cache_set_admission(nat.handle, new Float64Array(2), 0xffffffff, 0);
    assert.equal(rc, -E2BIG);
    assert.equal(native().cache_set_admission(nat.handle, new Float64Array([0, 4096]), 1, 0), 0);
  } finally {
    nat.close();
  }
});

Deno.test("sim grid: an aborted signal stops native and TS cells; the result says partial", async () => {
  async function* chunks() {
    for (let i = 0; i < 1000; i++) yield hostileBatch();
  }
  for (const engine of ["native", "ts"] as const) {
    const ctl = new AbortController();
    const run = runGrid(chunks(), ["lru", "fifo"], [1 << 20], BS, undefined, {
      engine,
      signal: ctl.signal,
    });
    await later(100);
    ctl.abort();
    const g = await within(run, engine);
    assert.equal(g.interrupted, true, engine);
    assert.ok(g.requests < 1000 * N, engine);
    for (const c of g.cells) assert.ok(c.result.accesses < 1000 * N * (LEN / BS), engine);
  }
});
