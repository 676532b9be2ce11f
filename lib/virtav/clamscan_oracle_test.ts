import assert from "node:assert/strict";
import {
  CLAMSCAN_ORACLE_FLAGS,
  clamscanOracleArgs,
  parseClamscanFound,
} from "./clamscan_oracle.ts";

Deno.test("clamscan oracle: FOUND lines give path and name; .UNOFFICIAL dropped; others skipped", () => {
  const out = [
    "/tmp/a: Gen.Sig.1.UNOFFICIAL FOUND",
    "/tmp/odd: name: Tf.MZ FOUND",
    "/tmp/b: OK",
    "/tmp/c: Broken.Executable FOUND here",
    "",
  ].join("\n");
  assert.deepEqual(parseClamscanFound(out), [
    { path: "/tmp/a", signature: "Gen.Sig.1" },
    { path: "/tmp/odd: name", signature: "Tf.MZ" },
  ]);
});

Deno.test("clamscan oracle: arguments are the flags, one -d per database, then the targets", () => {
  assert.deepEqual(clamscanOracleArgs(["x.ndb", "y.hdb"], ["dir", "f"]), [
    ...CLAMSCAN_ORACLE_FLAGS,
    "-d",
    "x.ndb",
    "-d",
    "y.hdb",
    "dir",
    "f",
  ]);
  assert.ok(CLAMSCAN_ORACLE_FLAGS.includes("--scan-archive=no"));
  assert.ok(CLAMSCAN_ORACLE_FLAGS.includes("--allmatch"));
});
