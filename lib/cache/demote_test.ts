/**
 * Demotion (CachePolicy.demote) and PDC's refinements in the simulator: a demoted block is the
 * next one evicted in LRU, ARC, S3-FIFO and QBic; a demoting PDC filter caches a journal write
 * that a bypassing one keeps out; the checkpoint option refuses writes (not reads) into its
 * ranges; set-ups that cannot demote are refused rather than run as something else.
 */
import assert from "node:assert/strict";
import { createPolicy } from "./registry.ts";
import { pdcAdmission } from "./pdc_admission.ts";
import { ExactDetector } from "../pdc/journal_detector.ts";
import { simulateColumns, Simulator, toColumns } from "./simulate.ts";
import { createAdmission } from "./admission.ts";
import type { IoRecord } from "../trace/io_record.ts";

for (const name of ["lru", "arc", "s3fifo", "qbic"]) {
  Deno.test(`demote: ${name} evicts the demoted block next`, () => {
    for (const victim of [1, 2, 3, 4]) {
      const p = createPolicy(name, 4);
      const evicted: number[] = [];
      p.onEvict = (b) => evicted.push(b);
      // Twice each: QBic admits on the second touch; the others see a hit.
      for (const b of [1, 2, 3, 4]) for (let i = 0; i < 2; i++) p.access(b, false);
      assert.equal(p.used, 4);
      p.demote!(victim);
      p.demote!(99); // not resident: nothing happens
      assert.equal(p.used, 4);
      assert.ok(p.has(victim), "demoting does not evict");
      for (let i = 0; i < 2; i++) p.access(5, false);
      assert.deepEqual(evicted, [victim], `${name}: demoted ${victim}`);
      assert.ok(p.has(5));
    }
  });
}

const J = { off: 1 << 20, len: 1 << 20 };
const jw = (off: number): IoRecord => ({ ts: 0, op: "W", off, len: 4096 });
const jr = (off: number): IoRecord => ({ ts: 0, op: "R", off, len: 4096 });

Deno.test("pdc demote: a journal write is cached at the eviction end, not kept out", () => {
  for (const demote of [false, true]) {
    const f = pdcAdmission(new ExactDetector([J]), { demote });
    assert.equal(f.label, demote ? "pdc(exact,demote)" : "pdc(exact)");
    const sim = new Simulator(createPolicy("lru", 2), 4096, f);
    sim.step(jr(0));
    sim.step(jr(0)); // a hit: block 0 is hot
    sim.step(jw(J.off)); // journal
    sim.step(jr(J.off)); // read back at once: a hit only when demoted
    sim.step(jr(4096)); // a new block evicts the demoted journal block, not block 0
    sim.step(jr(0));
    const r = sim.result();
    assert.equal(r.reads.hits, demote ? 3 : 2);
    assert.equal(sim.demotedRequests, demote ? 2 : 0);
    assert.equal(r.bypassedRequests, demote ? 0 : 2);
    assert.ok(!sim.policy.has(J.off / 4096) || !demote);
  }
});

Deno.test("pdc checkpoint: writes into the ranges are refused, reads are not", () => {
  const meta = { off: 8192, len: 8192 };
  const f = pdcAdmission(new ExactDetector([J]), { checkpoint: [meta] });
  assert.equal(f.label, "pdc(exact,checkpoint)");
  assert.equal(f.admit(jw(8192)), false);
  assert.equal(f.admit({ ts: 0, op: "Z", off: 12288, len: 4096 }), false);
  assert.equal(f.admit(jr(8192)), true);
  assert.equal(f.admit(jw(16384)), true);
  assert.equal(f.admit(jw(J.off)), false);
  assert.equal(f.refused, 3);
  assert.equal(f.refusedCheckpoint, 2);
});

Deno.test("demote: a policy without demote, or a yes/no-mask path, is refused", () => {
  const f = pdcAdmission(new ExactDetector([J]), { demote: true });
  assert.throws(() => new Simulator(createPolicy("fifo", 4), 4096, f), /fifo cannot demote/);
  assert.throws(
    () => simulateColumns(toColumns([jw(J.off)]), createPolicy("lru", 4), 4096, f),
    /demotion needs Simulator.step/,
  );
});

Deno.test("createAdmission: pdc options and their labels", async () => {
  const cp = [{ off: 0, len: 4096 }];
  const a = await createAdmission("pdc", { ranges: [J], checkpoint: true, checkpointRanges: cp });
  assert.equal(a.label, "pdc(exact,checkpoint)");
  const b = await createAdmission("pdc", { heuristic: true, demote: true });
  assert.equal(b.label, "pdc(heuristic,demote)");
  assert.equal(b.refusal, "demote");
  await assert.rejects(
    async () => await createAdmission("pdc", { ranges: [J], checkpoint: true }),
    /checkpoint ranges need the image/,
  );
});

Deno.test("demote: random accesses, demotions and removals keep every policy's bounds", () => {
  const seed = 17;
  let s = seed;
  const rnd = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (const name of ["lru", "arc", "s3fifo", "qbic"]) {
    for (const cap of [1, 3, 8]) {
      const p = createPolicy(name, cap);
      for (let i = 0; i < 20000; i++) {
        const b = Math.floor(rnd() * 4 * cap);
        const x = rnd();
        if (x < 0.6) p.access(b, x < 0.2);
        else if (x < 0.9) p.demote!(b);
        else p.remove(b);
        let resident = 0;
        for (let k = 0; k < 4 * cap; k++) if (p.has(k)) resident++;
        assert.equal(p.used, resident, `${name} cap ${cap} step ${i} (seed ${seed})`);
        assert.ok(p.used <= cap, `${name} cap ${cap} step ${i}`);
      }
    }
  }
});
