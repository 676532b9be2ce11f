import assert from "node:assert/strict";
import { HeuristicDetector } from "./heuristic_detector.ts";

const B = 4096;
const J = 100 * B; // journal start
const JLEN = 64 * B;

/** A jbd2-like transaction through virtio-blk: data writes, log blocks, F, commit, F. */
function txn(d: HeuristicDetector, head: number, dataOff: number, out: boolean[][]): number {
  const got: boolean[] = [];
  got.push(d.observe("W", dataOff, B, false));
  if (head + 3 * B > J + JLEN) head = J + B; // wrap
  got.push(d.observe("W", head, 2 * B, false));
  d.observe("F", 0, 0, false);
  got.push(d.observe("W", head + 2 * B, B, false));
  d.observe("F", 0, 0, false);
  out.push(got);
  return head + 3 * B;
}

Deno.test("heuristic: learns the journal, keeps data out, follows the wrap", () => {
  const d = new HeuristicDetector();
  const out: boolean[][] = [];
  let head = J + B;
  for (let i = 0; i < 60; i++) head = txn(d, head, 4000 * B + i * 7 * B, out);
  // Data writes are never journal.
  assert.ok(out.every((t) => t[0] === false));
  // After the first commit every journal write is found, across the wrap.
  const later = out.slice(1).flatMap((t) => t.slice(1));
  assert.ok(later.every((x) => x), JSON.stringify(out));
  assert.deepEqual(d.regions(), [{ off: J + B, len: JLEN - B }]);
});

Deno.test("heuristic: a region that is read back, or rewritten behind its head, is dropped", () => {
  for (const spoil of ["read", "rewrite"]) {
    const d = new HeuristicDetector();
    let off = 0;
    for (let i = 0; i < 4; i++) {
      d.observe("W", off, 2 * B, false);
      d.observe("F", 0, 0, false);
      d.observe("W", off + 2 * B, B, false);
      d.observe("F", 0, 0, false);
      off += 3 * B;
    }
    assert.deepEqual(d.regions(), [{ off: 0, len: off }]);
    // Twice, well inside the region (past its first blocks, behind the head).
    for (let k = 0; k < 2; k++) {
      const got = d.observe(spoil === "read" ? "R" : "W", 5 * B + k * B, B, false);
      if (spoil === "rewrite") assert.equal(got, false);
    }
    assert.deepEqual(d.regions(), [], spoil);
    assert.equal(d.observe("W", off, B, false), false, spoil);
  }
});

Deno.test("heuristic: a data stream followed by the journal's writes is not a journal", () => {
  // fsync of small appended files: data block, log blocks, F, commit, F — the data stream
  // continues across flush epochs but its writes are never alone between two flushes.
  const d = new HeuristicDetector();
  let head = J + B;
  const data: boolean[] = [];
  for (let i = 0; i < 50; i++) {
    data.push(d.observe("W", 5000 * B + i * B, B, false));
    d.observe("W", head, 2 * B, false);
    d.observe("F", 0, 0, false);
    d.observe("W", head + 2 * B, B, false);
    d.observe("F", 0, 0, false);
    head += 3 * B;
  }
  assert.ok(data.every((x) => x === false));
  assert.deepEqual(d.regions(), [{ off: J + B, len: 150 * B }]);
});

Deno.test("heuristic: a transaction wrapping out of order keeps the journal", () => {
  const d = new HeuristicDetector();
  const out: boolean[] = [];
  let head = J;
  for (let i = 0; i < 20; i++) {
    out.push(d.observe("W", head, 3 * B, false));
    d.observe("F", 0, 0, false);
    out.push(d.observe("W", head + 3 * B, B, false));
    d.observe("F", 0, 0, false);
    head += 4 * B;
  }
  // The log wraps: the part at the start arrives before the last blocks at the end.
  out.push(d.observe("W", J, 2 * B, false));
  out.push(d.observe("W", head, 2 * B, false));
  d.observe("F", 0, 0, false);
  out.push(d.observe("W", J + 2 * B, B, false));
  d.observe("F", 0, 0, false);
  out.push(d.observe("W", J + 3 * B, 3 * B, false));
  assert.deepEqual(out.slice(2), new Array(out.length - 2).fill(true));
  assert.equal(d.regions().length, 1);
});

Deno.test("heuristic: FUA writes count as commits; devices are separate", () => {
  const d = new HeuristicDetector();
  for (let i = 0; i < 4; i++) d.observe("W", i * B, B, true, "a");
  assert.equal(d.observe("W", 4 * B, B, false, "a"), true);
  assert.equal(d.observe("W", 4 * B, B, false, "b"), false);
  assert.equal(d.observe("F", 0, 0, false, "a"), false);
});

Deno.test("heuristic: random writes and flushes never become a journal", () => {
  const d = new HeuristicDetector();
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  let journal = 0;
  for (let i = 0; i < 20000; i++) {
    if (rnd() < 0.2) d.observe("F", 0, 0, false);
    else if (d.observe(rnd() < 0.5 ? "R" : "W", Math.floor(rnd() * 1e5) * B, B, false)) journal++;
  }
  assert.equal(journal, 0);
});
