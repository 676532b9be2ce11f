import assert from "node:assert/strict";
import { describeError, EXIT, isUsageError, ToolError, UsageError } from "./errors.ts";
import {
  PolicyCapacityError,
  PolicySpecError,
  UnknownAdmissionError,
  UnknownPolicyError,
} from "../cache/errors.ts";

Deno.test("errors: the cache library's errors exit 2 with their message, as UsageError does", () => {
  const cases: [Error, string][] = [
    [
      new PolicySpecError("lru(a=1)", "lru has no parameter 'a' (known: none)"),
      "--policy lru(a=1): ",
    ],
    [new UnknownPolicyError("nope", ["lru", "qbic"]), "unknown policy 'nope' (known: lru, qbic)"],
    [new PolicyCapacityError(-1), "capacity must be a non-negative whole number of blocks: -1"],
    [new UnknownAdmissionError("x", ["all", "pdc"]), 'unknown admission filter "x"'],
    [new UsageError("--bs: not a size"), "--bs: not a size"],
  ];
  for (const [e, text] of cases) {
    assert.ok(isUsageError(e), e.name);
    const d = describeError("qbic-cache", e);
    assert.equal(d.code, EXIT.usage, e.name);
    assert.ok(d.line.startsWith(`qbic-cache: ${text}`), d.line);
    assert.equal(d.line, `qbic-cache: ${e.message}`);
  }
});

Deno.test("errors: anything else exits 1 with its first line", () => {
  assert.deepEqual(describeError("daio", new ToolError("disk.img: no such file\nmore")), {
    line: "daio: disk.img: no such file",
    code: EXIT.failure,
  });
  assert.equal(isUsageError(new RangeError("x")), false);
});
