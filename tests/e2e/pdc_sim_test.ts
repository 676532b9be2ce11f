/**
 * `qbic-cache sim --admit pdc` with the online heuristic (no image): the simulator shows the
 * heuristic every record, flushes included, so it keeps out exactly what `pdc-filter classify`
 * tags as journal on the same trace — on a real ext4 guest trace where an fsync-heavy writer and
 * a hot re-reader run at once (fixtures/pdc/ext4_guest_fsync_read.jsonl).
 */
import assert from "node:assert/strict";

const root = new URL("../../", import.meta.url).pathname;
const trace = `${root}fixtures/pdc/ext4_guest_fsync_read.jsonl`;

async function run(bin: string, args: string[]) {
  const out = await new Deno.Command(`${root}bin/${bin}`, {
    args,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

Deno.test("sim --admit pdc (heuristic) refuses what classify tags as journal", async () => {
  const c = await run("pdc-filter", ["classify", "--no-db", "-q", trace]);
  assert.equal(c.code, 0, c.stderr);
  const tagged =
    c.stdout.trim().split("\n").map((l) => JSON.parse(l)).filter((r) =>
      r.class === "journal" && r.op !== "T" && r.op !== "F"
    ).length;
  assert.ok(tagged > 100, `classify tagged ${tagged}`);
  for (const engine of ["ts", "native"]) {
    const s = await run("qbic-cache", [
      "sim",
      "--no-db",
      "--output",
      "json",
      "--trace",
      trace,
      "--policy",
      "lru,s3fifo",
      "--size",
      "4M",
      "--admit",
      "pdc",
      "--engine",
      engine,
    ]);
    assert.equal(s.code, 0, s.stderr);
    const res = JSON.parse(s.stdout).results as { policy: string; bypassed_requests: number }[];
    assert.equal(res.length, 2);
    for (const r of res) assert.equal(r.bypassed_requests, tagged, `${engine} ${r.policy}`);
  }
});
