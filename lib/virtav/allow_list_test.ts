import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { IgnoreList, normalisedSigName } from "./allow_list.ts";

function load(text: string): { list: IgnoreList; errors: [number, string][] } {
  const list = new IgnoreList();
  const errors: [number, string][] = [];
  list.addText(text, (l, m) => errors.push([l, m]));
  return { list, errors };
}

Deno.test("ign: whole names, the three line forms, comments", () => {
  const { list, errors } = load("# c\nFoo\nx:y:Old\nAb\n");
  assert.deepEqual(errors, []);
  assert.equal(list.size, 3);
  assert.ok(list.ignores("Foo", "Foo:0:*:4142"));
  assert.ok(!list.ignores("X.Foo", "X.Foo:0:*:4142"));
  assert.ok(!list.ignores("Foo2", ""));
  assert.ok(!list.ignores("foo", ""));
  assert.ok(list.ignores("Old", ""));
  assert.ok(list.ignores("Ab", ""));
  assert.ok(list.ignores("Foo.UNOFFICIAL", ""));
});

Deno.test("ign: signature names as clamscan normalises them", () => {
  assert.equal(normalisedSigName("Sig.{A}"), "Sig");
  assert.equal(normalisedSigName("Zed.UNOFFICIAL"), "Zed");
  assert.equal(normalisedSigName("Ab"), "Ab ");
  assert.equal(normalisedSigName("A}"), "A} ");
  assert.equal(normalisedSigName("Abc}"), "Abc}");
});

Deno.test("ign: an MD5 ties an entry to one line", () => {
  const line = "Baz:0:*:65666768";
  const md5 = createHash("md5").update(line).digest("hex");
  const { list } = load(`Baz:${md5.toUpperCase()}\n`);
  assert.ok(list.ignores("Baz", line));
  assert.ok(!list.ignores("Baz", "Baz:0:*:00112233"));
});

Deno.test("ign: refused lines stop the list at their number", () => {
  assert.deepEqual(load("A\n\nB\n").errors, [[2, "no signature name"]]);
  assert.deepEqual(load("a:b:c:d\n").errors, [[1, "more than 3 fields"]]);
  assert.equal(load("Foo:1234\n").errors[0][0], 1);
  // clamscan's stale MD5: the buffer still holds "" where the last MD5 began
  const md5 = "0".repeat(32);
  assert.equal(load(`Baz:${md5}\nFoo\n`).errors[0][0], 2);
  // ... or, for a longer line, its bytes there
  const e = load(`Baz:${md5}\nQuux${md5}\n`);
  assert.deepEqual(e.errors, []);
  assert.ok(!e.list.ignores("Quux" + md5, "x"));
});
