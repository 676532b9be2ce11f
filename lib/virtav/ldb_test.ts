import assert from "node:assert/strict";
import { checkLogic, evalLogic, LDB_NOT_EVALUATED, parseLdbLine } from "./ldb.ts";
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
  assert.equal(reason("A;Target:0;0;0/abc;d/"), `${LDB_NOT_EVALUATED}: PCRE subsignature`);
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
