/**
 * The PDC heuristic learns from where flushes fall, so flushes must reach it in the simulator,
 * in the sim grid and in the live cache layer alike — and all three must agree.
 */
import assert from "node:assert/strict";
import type { IoRecord } from "../trace/io_record.ts";
import type { BinaryChunk } from "../trace/binary.ts";
import { simulate, Simulator } from "../cache/simulate.ts";
import { runGrid } from "../cache/sim_grid.ts";
import { createPolicy } from "../cache/registry.ts";
import { createAdmission } from "../cache/admission.ts";
import { CacheLayer } from "../block/cache_layer.ts";
import { CacheStatsLayer } from "../block/cache_stats.ts";
import { MemoryDevice } from "../block/memory_device.ts";

const B = 4096;
const J = 256 * B; // journal start
const JLEN = 64 * B;

/**
 * jbd2 through virtio-blk (as the recorded guest traces show it): a data write, the descriptor
 * and log blocks, FLUSH, the commit block, FLUSH; hot reads in between.
 */
function guestLike(txns: number): IoRecord[] {
  const out: IoRecord[] = [];
  let head = J + B;
  let ts = 0;
  const rec = (op: IoRecord["op"], off: number, len: number) =>
    out.push({ ts: ts++, op, off, len, dev: "vda" });
  for (let i = 0; i < txns; i++) {
    if (head + 4 * B > J + JLEN) head = J + B;
    rec("W", 1024 * B + (i % 40) * B, B);
    rec("W", head, 3 * B);
    rec("F", 0, 0);
    rec("W", head + 3 * B, B);
    rec("F", 0, 0);
    head += 4 * B;
    for (let k = 0; k < 4; k++) rec("R", 2048 * B + ((i * 4 + k) % 24) * 2 * B, 2 * B);
  }
  return out;
}

async function pdc() {
  return await createAdmission("pdc"); // the online heuristic
}

Deno.test("sim: flushes reach the PDC heuristic, which then refuses journal writes", async () => {
  const trace = guestLike(60);
  const r = simulate(trace, createPolicy("lru", 32), B, await pdc());
  // Every transaction's log and commit writes after the first few are refused.
  assert.ok(r.bypassedRequests >= 2 * 60 - 6, `bypassed ${r.bypassedRequests}`);
  assert.ok(r.bypassedRequests <= 2 * 60, `bypassed ${r.bypassedRequests}`);
});

Deno.test("sim grid: one shared filter equals a fresh filter per cell", async () => {
  const trace = guestLike(80);
  const chunk: BinaryChunk = {
    count: trace.length,
    ts: Float64Array.from(trace, (r) => r.ts),
    op: Uint8Array.from(trace, (r) => "RWFTZ".indexOf(r.op)),
    off: Float64Array.from(trace, (r) => r.off),
    len: Float64Array.from(trace, (r) => r.len),
    flags: new Uint8Array(trace.length),
    dev: new Uint16Array(trace.length).fill(1),
    devNames: ["", "vda"],
  };
  async function* once() {
    yield chunk;
  }
  const policies = ["lru", "s3fifo", "arc"];
  const sizes = [16 * B, 48 * B];
  const grid = await runGrid(once(), policies, sizes, B, await pdc());
  for (const cell of grid.cells) {
    const alone = simulate(trace, createPolicy(cell.policy, cell.sizeBytes / B), B, await pdc());
    assert.deepEqual(cell.result, alone, `${cell.policy} ${cell.sizeBytes}`);
    assert.ok(alone.bypassedRequests > 100);
  }
});

Deno.test("live cache layer: flushes reach the heuristic; counts agree with the simulator", async () => {
  const trace = guestLike(50);
  const sim = new Simulator(createPolicy("lru", 24), B, await pdc());
  const cache = new CacheLayer(new MemoryDevice(16 << 20), {
    policy: createPolicy("lru", 24),
    blockSize: B,
    admission: await pdc(),
  });
  const live = new CacheStatsLayer(cache, cache); // the figures are the statistics layer's
  try {
    for (const r of trace) {
      sim.step(r);
      if (r.op === "F") await live.flush();
      else if (r.op === "R") await live.read(r.off, new Uint8Array(r.len));
      else await live.write(r.off, new Uint8Array(r.len).fill(7));
    }
    const s = sim.result();
    assert.ok(s.bypassedRequests > 80, `bypassed ${s.bypassedRequests}`);
    assert.equal(live.stats.bypassedRequests, s.bypassedRequests);
    assert.equal(live.stats.readHits, s.reads.hits);
    assert.equal(live.stats.writeHits, s.writes.hits);
    assert.equal(live.stats.flushes, s.flushes);
  } finally {
    await live.close();
  }
});
