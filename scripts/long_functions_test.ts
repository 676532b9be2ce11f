import assert from "node:assert/strict";
import { longFunctions } from "./long_functions.ts";

const body = (n: number) => Array.from({ length: n }, (_, i) => `  const v${i} = ${i};`).join("\n");

Deno.test("long_functions: a declaration at the limit is not listed, one line more is", () => {
  // 78 body lines + header + closing brace = 80 lines.
  const at = `function f() {\n${body(78)}\n}\n`;
  assert.deepEqual(longFunctions("a.ts", at, 80), []);
  const over = `function f() {\n${body(79)}\n}\n`;
  assert.deepEqual(longFunctions("a.ts", over, 80), [{
    file: "a.ts",
    line: 1,
    name: "f",
    lines: 81,
  }]);
});

Deno.test("long_functions: names arrows, methods, accessors and callbacks by what encloses them", () => {
  const text = [
    "// a comment",
    `const arrow = () => {\n${body(3)}\n};`,
    `class K {\n  method() {\n${body(3)}\n  }\n  get size() {\n${body(3)}\n    return 1;\n  }\n}`,
    `const table = { entry: function () {\n${body(3)}\n} };`,
    `export function addCommand(p: { action(f: () => void): void }) {`,
    `  p.action(() => {\n${body(3)}\n  });`,
    `}`,
  ].join("\n");
  const names = longFunctions("b.ts", text, 3).map((f) => f.name);
  assert.deepEqual(names, [
    "arrow",
    "method",
    "get size",
    "entry",
    "addCommand",
    "addCommand > action callback",
  ]);
});

Deno.test("long_functions: code inside a string or a comment is not a function", () => {
  const text = `const s = \`function g() {\n${body(10)}\n}\`;\n/*\nfunction h() {\n${
    body(10)
  }\n}\n*/\n`;
  assert.deepEqual(longFunctions("c.ts", text, 3), []);
});

Deno.test("long_functions: a bodiless overload signature is not counted", () => {
  const text =
    `declare function d(\n  a: number,\n  b: number,\n  c: number,\n  e: number,\n): void;\n`;
  assert.deepEqual(longFunctions("d.ts", text, 3), []);
});
