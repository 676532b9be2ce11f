import assert from "node:assert/strict";
import { LatencyModelError, parseLatencyModel } from "./latency_model.ts";

const GiB = 2 ** 30;

Deno.test("latency model: a bare duration is fixed latency with its defaults named", () => {
  const m = parseLatencyModel("100us", GiB);
  assert.equal(m.spec, "fixed(latency=100us,flush=100us,bandwidth=0,queues=1)");
  assert.equal(m.queues, 1);
  assert.equal(m.serviceNs("read", 0, 4096), 100_000);
  assert.equal(m.serviceNs("write", 123, 1 << 20), 100_000);
  assert.equal(m.serviceNs("flush", 0, 0), 100_000);
});

Deno.test("latency model: fixed with bandwidth adds the transfer to reads and writes only", () => {
  const m = parseLatencyModel("fixed(latency=1ms, bandwidth=1M, queues=4, flush=5ms)", GiB);
  assert.equal(m.spec, "fixed(latency=1ms,flush=5ms,bandwidth=1M,queues=4)");
  assert.equal(m.queues, 4);
  assert.equal(m.serviceNs("read", 0, 2 ** 20), 1e6 + 1e9);
  assert.equal(m.serviceNs("zero", 0, 2 ** 20), 1e6);
  assert.equal(m.serviceNs("flush", 0, 0), 5e6);
});

Deno.test("latency model: hdd pays no seek when sequential and a bounded one when not", () => {
  const m = parseLatencyModel("hdd", GiB);
  assert.equal(m.spec, "hdd(rpm=7200,seek=8ms,track=1ms,bandwidth=150M,queues=1,seed=1)");
  const transfer = 4096 / (150 * 2 ** 20) * 1e9;
  assert.equal(m.serviceNs("read", 0, 4096), Math.round(transfer)); // head starts at 0
  assert.equal(m.serviceNs("read", 4096, 4096), Math.round(transfer)); // where the last ended
  const revolution = 60e9 / 7200;
  const fullStroke = 1e6 + 7e6 * Math.sqrt(3);
  for (let i = 0; i < 200; i++) {
    const t = m.serviceNs("read", (i * 7919 % 1000) * (GiB / 1000), 4096);
    assert.ok(t >= 1e6 && t <= fullStroke + revolution + transfer + 1, `service ${t}`);
  }
  assert.equal(m.serviceNs("flush", 0, 0), Math.round(revolution / 2));
});

Deno.test("latency model: the same seed gives the same delays", () => {
  const a = parseLatencyModel("hdd(seed=42)", GiB), b = parseLatencyModel("hdd(seed=42)", GiB);
  for (let i = 0; i < 50; i++) {
    const off = (i * 104729) % 1000 * 4096 * 1000;
    assert.equal(a.serviceNs("write", off, 4096), b.serviceNs("write", off, 4096));
  }
});

Deno.test("latency model: bad specs name what is wrong", () => {
  const bad: [string, RegExp][] = [
    ["100", /not a duration with a unit/],
    ["fast", /unknown latency model 'fast'/],
    ["fixed(latency=1ms,latency=2ms)", /given twice/],
    ["fixed(lat=1ms)", /unknown parameter 'lat'/],
    ["fixed(queues=0)", /queues: must be a whole number from 1 to 1024/],
    ["fixed(queues=1025)", /from 1 to 1024/],
    ["fixed(latency=61s)", /over the 60 s limit/],
    ["hdd(seek=1ms,track=2ms)", /track \(2ms\) exceeds seek/],
    ["hdd(bandwidth=0)", /bandwidth must be above 0/],
    ["fixed(latency)", /not key=value/],
    ["fixed(bandwidth=fast)", /not a byte rate/],
  ];
  for (const [spec, re] of bad) {
    assert.throws(
      () => parseLatencyModel(spec, GiB),
      (e) => e instanceof LatencyModelError && re.test((e as Error).message),
      spec,
    );
  }
  // At the limits: accepted.
  assert.equal(parseLatencyModel("fixed(queues=1024,latency=60s)", GiB).queues, 1024);
});
