import assert from "node:assert/strict";
import { formatRecord, parseRecordLine, TraceFormatError } from "./jsonl.ts";

Deno.test("jsonl: round trip keeps order and tags", () => {
  const line = '{"ts":5,"op":"W","off":4096,"len":512,"dev":"vda","class":"journal","fua":true}';
  assert.equal(formatRecord(parseRecordLine(line, 1)), line);
  assert.deepEqual(parseRecordLine('{"op":"F"}', 1), { op: "F", ts: 0, off: 0, len: 0 });
});

Deno.test("jsonl: malformed lines name the line and the problem", () => {
  const bad: [string, RegExp][] = [
    ["{", /line 7: not JSON/],
    ["[1]", /line 7: not a JSON object/],
    ['{"op":"X","off":0,"len":1}', /line 7: op must be/],
    ['{"op":"R","off":-1,"len":1}', /line 7: off must be/],
    ['{"op":"R","off":0,"len":1.5}', /line 7: len must be/],
    ['{"op":"R","off":0,"len":1,"ts":"x"}', /line 7: ts must be/],
  ];
  for (const [text, re] of bad) {
    assert.throws(
      () => parseRecordLine(text, 7),
      (e: Error) => e instanceof TraceFormatError && re.test(e.message),
    );
  }
});
