import assert from "node:assert/strict";
import { parseSerial, serialTail } from "./serial.ts";

Deno.test("serial: HVKIT lines parse; kernel noise and CRLF are ignored", () => {
  const text = [
    "[    0.000000] Linux version 6.1.0",
    'HVKIT-BOOT {"kernel":"6.1.0","modules":11}\r',
    "random noise HVKIT-RESULT not json",
    'HVKIT-RESULT {"workload":"fsync-small","files":3,"ok":true}',
    'HVKIT-DONE {"workload":"fsync-small","status":0}',
  ].join("\n");
  const lines = parseSerial(text);
  assert.deepEqual(lines.map((l) => l.kind), ["BOOT", "RESULT", "DONE"]);
  assert.equal(lines[1].data.files, 3);
  assert.equal(lines[1].lineNo, 4);
  assert.equal(serialTail(text, 2).split("\n").length, 2);
});

Deno.test("serial: truncated and random input never throws", () => {
  const good = 'HVKIT-RESULT {"workload":"mixed","ops":80,"reads":50,"ok":true}\n';
  for (let cut = 0; cut <= good.length; cut++) {
    const got = parseSerial(good.slice(0, cut));
    assert.ok(got.length <= 1);
  }
  for (let i = 0; i < 300; i++) {
    const bytes = crypto.getRandomValues(new Uint8Array(1 + (i % 200)));
    const text = "HVKIT-RESULT {" + new TextDecoder().decode(bytes);
    assert.ok(Array.isArray(parseSerial(text)));
  }
});
