import assert from "node:assert/strict";
import {
  checkLogic,
  countedIds,
  evalLogic,
  LDB_NOT_EVALUATED,
  ldbTokenize,
  parseLdbLine,
  parsePcreSub,
} from "./ldb.ts";
import { SignatureError, UnsupportedSignature } from "./hex_signature.ts";

Deno.test("checkLogic: the highest id, clamscan's syntax errors", () => {
  assert.equal(checkLogic("0"), 0);
  assert.equal(checkLogic("0&1|2"), 2);
  assert.equal(checkLogic("(0|3)>2,1&1"), 3);
  assert.equal(checkLogic("((0))"), 0);
  assert.equal(checkLogic("0a"), 0);
  for (const bad of ["", "0&", "&0", "(0", "0)", "()", "(0)>1", "0>", "0=x"]) {
    assert.throws(() => checkLogic(bad), SignatureError, bad);
  }
});

Deno.test("checkLdbLine: refused, skipped and counted lines", () => {
  const reason = (line: string) => {
    try {
      return `evaluated: ${parseLdbLine(line).subsigs.length}`;
    } catch (e) {
      if (e instanceof UnsupportedSignature) return e.reason;
      if (e instanceof SignatureError) return "malformed";
      throw e;
    }
  };
  assert.equal(reason("A;Target:0;0&1;41424344;4546"), "evaluated: 2");
  assert.equal(reason("A;Target:0;0>1;41424344"), "evaluated: 1");
  assert.equal(
    reason("A;Target:0;0>1;41??4344"),
    `${LDB_NOT_EVALUATED}: a count in the expression over a subsignature that is not fixed bytes at any offset`,
  );
  assert.equal(reason("A;Target:1;0;41424344"), `${LDB_NOT_EVALUATED}: target type 1`);
  assert.equal(reason("A;Target:0;0;41424344::i"), "evaluated: 1");
  assert.equal(reason("A;Target:0;0;41424344::f"), `${LDB_NOT_EVALUATED}: subsignature modifier f`);
  assert.equal(
    reason("A;Target:0;0;41??4344::i"),
    `${LDB_NOT_EVALUATED}: subsignature modifier i or w on more than fixed bytes`,
  );
  assert.equal(
    reason("A;Target:0;0;414243444546474849::i"),
    `${LDB_NOT_EVALUATED}: subsignature modifier i on more than 8 letters`,
  );
  // `;` inside a PCRE does not split the line (clamscan's tokenizer); a trigger naming itself
  assert.equal(reason("A;Target:0;0;0/abc;d/"), "malformed");
  assert.equal(reason("A;Target:0;0&1;41424344;0/abc;d/"), "evaluated: 2");
  assert.equal(reason("A;Target:0;0&1&2;41424344;0/abc;d/"), "malformed");
  assert.equal(
    reason("A;Target:0;0&1;4142??44;0>1/abc/"),
    `${LDB_NOT_EVALUATED}: a count over a subsignature that is not fixed bytes at any offset, beside a PCRE`,
  );
  assert.equal(
    reason("A;Target:0;0&1;41424344;$3$:0/abc/"),
    "malformed",
  );
  assert.equal(
    reason("A;Target:0;0&1;41424344;$3$"),
    "malformed",
  );
  assert.equal(
    reason("A;Engine:300-400,Target:0;0;zz"),
    "functionality level outside 216 (skipped)",
  );
  assert.equal(reason("A;Target:0;0;41424344;4546"), "malformed");
  assert.equal(reason("A;Target:0,Engine:51-255;0;41424344"), "malformed");
});

Deno.test("evalLogic: clamscan's reading of & | ( ) and counts", () => {
  assert.equal(evalLogic("0&1", [1, 2]), true);
  assert.equal(evalLogic("0&1", [1, 0]), false);
  assert.equal(evalLogic("(0|1)>2", [2, 1]), true);
  assert.equal(evalLogic("(0|1)>2", [2, 0]), false);
  assert.equal(evalLogic("(0|1)=3,2", [2, 1]), true);
  assert.equal(evalLogic("(0|1)=3,2", [3, 0]), false);
  assert.equal(evalLogic("0=3,2", [3]), true);
  assert.equal(evalLogic("0<1", [0]), true);
  // no precedence: the first operator splits, 0&1|2 is 0&(1|2)
  assert.equal(evalLogic("0&1|2", [0, 0, 1]), false);
});

Deno.test("ldbTokenize: clamscan's cli_ldbtokenize keeps delimiters between unescaped slashes", () => {
  assert.deepEqual(ldbTokenize("a;b;0&1;x/;/;y", ";", 68, 2), ["a", "b", "0&1", "x/;/", "y"]);
  // `/` before the skipped tokens does not count; `\/` does not toggle
  assert.deepEqual(ldbTokenize("a/;b;0;x\\/;y", ";", 68, 2), ["a/", "b", "0", "x\\/", "y"]);
  // an odd number of `/` keeps the rest of the line in one token
  assert.deepEqual(ldbTokenize("n;t;0;0/a/b/;45", ";", 68, 2), ["n", "t", "0", "0/a/b/;45"]);
  // at most `max` tokens: what follows is dropped
  assert.deepEqual(ldbTokenize("1:2:3", ":", 2, 0), ["1", "2"]);
  assert.deepEqual(ldbTokenize("10:0/a:b/i", ":", 5, 0), ["10", "0/a:b/i"]);
});

Deno.test("parsePcreSub: offsets as clamscan's cli_caloff reads them", () => {
  const off = (t: string, target = 0) => {
    const p = parsePcreSub(t, 1, target);
    return typeof p === "string" ? p : p.offset ?? "any";
  };
  assert.equal(off("0/abc/"), "any");
  assert.equal(off("*:0/abc/"), "any");
  assert.deepEqual(off("8:0/abc/"), { kind: "abs", n: 8, shift: 0 });
  assert.deepEqual(off(":0/abc/"), { kind: "abs", n: 0, shift: 0 });
  assert.deepEqual(off("6,4:0/abc/e"), { kind: "abs", n: 6, shift: 4 });
  assert.deepEqual(off("EOF-5,:0/abc/"), { kind: "eof", n: 5, shift: 0 });
  assert.deepEqual(off("4294967297:0/abc/"), { kind: "abs", n: 1, shift: 0 });
  assert.equal(off("0/abc/::i"), "any");
  assert.match(off("EP+4:0/abc/", 1) as string, /offset EP/);
  assert.match(off("$3$:0/abc/") as string, /macro/);
  for (const bad of ["EP+4:0/abc/", "VI:0/abc/", "x:0/abc/", "1,x:0/abc/", "1:2:0/abc/"]) {
    assert.throws(() => parsePcreSub(bad, 1, 0), SignatureError, bad);
  }
});

Deno.test("countedIds: the subsignatures whose count matters", () => {
  assert.deepEqual([...countedIds("0&1")], []);
  assert.deepEqual([...countedIds("0&1>2")].sort(), [1]);
  assert.deepEqual([...countedIds("(0|1)>2&2")].sort(), [0, 1]);
  assert.deepEqual([...countedIds("((0|1)=2,1)|2")].sort(), [0, 1]);
  assert.deepEqual([...countedIds("0")], []);
});
