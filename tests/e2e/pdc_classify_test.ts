/**
 * `pdc-filter classify` and `eval` as a user runs them, on a slice of a real ext4 guest trace
 * (fixtures/pdc, recorded from the lib/qemu guest through nbdkit's log filter).
 */
import assert from "node:assert/strict";
import { parseRangesJson } from "../../lib/pdc/ranges_file.ts";
import { RangeSet } from "../../lib/pdc/range_set.ts";

const root = new URL("../../", import.meta.url).pathname;
const fx = `${root}fixtures/pdc`;
const bin = `${root}bin/pdc-filter`;

async function pdc(args: string[], stdin?: string) {
  const child = new Deno.Command(bin, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

Deno.test("classify --ranges: every record tagged, journal exactly where locate says", async () => {
  const ranges = new RangeSet(
    parseRangesJson(await Deno.readTextFile(`${fx}/ext4_guest_journal.json`)),
  );
  const input = await Deno.readTextFile(`${fx}/ext4_guest_fsync_small.jsonl`);
  const r = await pdc(
    ["classify", "--no-db", "-q", "--ranges", `${fx}/ext4_guest_journal.json`],
    input,
  );
  assert.equal(r.code, 0, r.stderr);
  const inLines = input.trim().split("\n");
  const outLines = r.stdout.trim().split("\n");
  assert.equal(outLines.length, inLines.length);
  let journal = 0;
  for (let i = 0; i < outLines.length; i++) {
    const a = JSON.parse(inLines[i]), b = JSON.parse(outLines[i]);
    assert.equal(b.classBy, "image");
    const want = a.op !== "F" && ranges.overlaps(a.off, a.len);
    assert.equal(b.class, want ? "journal" : "other");
    assert.deepEqual({ ...b, class: undefined, classBy: undefined }, {
      ...a,
      class: undefined,
      classBy: undefined,
    });
    if (want) journal++;
  }
  assert.ok(journal > 100, `the slice has journal writes (${journal})`);
});

Deno.test("eval: the heuristic finds the journal of a real ext4 guest trace", async () => {
  const r = await pdc([
    "eval",
    "--no-db",
    "--output",
    "json",
    "--ranges",
    `${fx}/ext4_guest_journal.json`,
    `${fx}/ext4_guest_fsync_small.jsonl`,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const e = JSON.parse(r.stdout);
  assert.ok(e.journal > 100);
  assert.ok(e.writePrecision >= 0.99, `write precision ${e.writePrecision}`);
  // Online, the first transactions pass before the stream is confirmed: recall < 1 on a
  // short slice, but most of the journal is found.
  assert.ok(e.writeRecall >= 0.95, `write recall ${e.writeRecall}`);
  assert.equal(e.truePositive + e.falseNegative, e.journal);
});

Deno.test("classify: the heuristic tags a stream read from stdin; bad input is one line", async () => {
  const input = await Deno.readTextFile(`${fx}/ext4_guest_mixed.jsonl`);
  const r = await pdc(["classify", "--no-db", "-q"], input);
  assert.equal(r.code, 0, r.stderr);
  const recs = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.ok(recs.every((x) => x.classBy === "heuristic"));
  assert.ok(recs.some((x) => x.class === "journal"));
  assert.ok(recs.some((x) => x.class === "other"));

  const bad = await pdc(
    ["classify", "--no-db", "-q"],
    '{"ts":0,"op":"W","off":0,"len":4096}\n{"op":"Q"}\n',
  );
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^pdc-filter: -: line 2: op must be one of R W F T Z.*\n$/);

  const both = await pdc(["classify", "--no-db", "--image", "x", "--ranges", "y"], "");
  assert.equal(both.code, 2);
  assert.match(both.stderr, /give --image or --ranges, not both/);

  const noRef = await pdc(["eval", "--no-db"], "");
  assert.equal(noRef.code, 2);
});

Deno.test("classify: truncated and random input never crashes with a stack trace", async () => {
  const input = await Deno.readTextFile(`${fx}/ext4_guest_mixed.jsonl`);
  let seed = 99;
  const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  for (let i = 0; i < 6; i++) {
    const cut = input.slice(0, rnd(input.length)) + (i % 2 ? String.fromCharCode(rnd(128)) : "");
    const r = await pdc(["classify", "--no-db", "-q"], cut);
    assert.ok(r.code === 0 || r.code === 1, r.stderr);
    if (r.code === 1) assert.match(r.stderr, /^pdc-filter: -: line \d+: [^\n]+\n$/);
  }
});
