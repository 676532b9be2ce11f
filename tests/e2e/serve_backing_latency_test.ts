/**
 * `qbic-cache serve --backing-latency`: the slow-device model under the cache, driven by qemu-io.
 * Checks what the model must not change (every byte, in writeback and writethrough) and what it
 * must report (the model's full spec at start-up, the device's request count at shutdown: only
 * misses and write-backs reach it). No timing is asserted.
 */
import assert from "node:assert/strict";
import { have, makeImage, run, startServe } from "./serve_helpers.ts";

const CLIENTS = have("qemu-io");
if (!CLIENTS) console.log("serve_backing_latency_test: qemu-io not installed, skipping");

for (const [mode, model] of [["writeback", "200us"], ["writethrough", "hdd(rpm=15000,seed=3)"]]) {
  Deno.test({
    name: `serve --backing-latency ${model}: data intact, model named, device counted (${mode})`,
    ignore: !CLIENTS,
    fn: async () => {
      const dir = await Deno.makeTempDir({ prefix: "serve-lat-" });
      const img = `${dir}/disk.img`;
      makeImage(img, 8 << 20, 0x5a);
      const s = await startServe(dir, [
        ...["--cache-size", "1M", "--mode", mode, "--output", "json"],
        ...["--backing-latency", model, img],
      ]);
      let st;
      try {
        const r = await run("qemu-io", [
          ...["-f", "raw", "-t", "none"],
          ...[
            "write -P 0xab 0 512k",
            "read -P 0xab 0 512k",
            "read -P 0xab 0 512k", // hits: the device sees nothing new
            "aio_write -P 0x11 2M 64k",
            "aio_write -P 0x22 3M 4k",
            "aio_flush",
            "read -P 0x11 2M 64k",
            "read -P 0x5a 5M 2M", // larger than the cache: misses reach the device
            "flush",
          ].flatMap((c) => ["-c", c]),
          s.uri,
        ]);
        assert.equal(r.code, 0, r.err + r.out);
        assert.ok(!/Pattern verification failed|error/i.test(r.out + r.err), r.out + r.err);
      } finally {
        st = await s.stop();
      }
      assert.equal(st.code, 0, st.stderr);
      const spec = model === "200us"
        ? "fixed(latency=200us,flush=200us,bandwidth=0,queues=1)"
        : "hdd(rpm=15000,seek=8ms,track=1ms,bandwidth=150M,queues=1,seed=3)";
      assert.ok(st.stderr.includes(`backing device modelled as ${spec}`), st.stderr);
      const row = JSON.parse(st.stdout.trim().split("\n").at(-1)!);
      assert.ok(row.device_requests > 0, st.stdout);
      // Fewer device requests than client requests: the cache answered some itself.
      assert.ok(row.device_requests < row.accesses, st.stdout);
      assert.ok(row.device_mean_latency_us > 0, st.stdout);
      const f = await Deno.readFile(img);
      assert.ok(f.subarray(0, 512 << 10).every((b) => b === 0xab));
      assert.ok(f.subarray(2 << 20, (2 << 20) + 65536).every((b) => b === 0x11));
      assert.ok(f.subarray(3 << 20, (3 << 20) + 4096).every((b) => b === 0x22));
      await Deno.remove(dir, { recursive: true });
    },
  });
}

Deno.test({
  name: "serve --backing-latency: a bad model is a one-line usage error, exit 2",
  ignore: !CLIENTS,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "serve-lat-bad-" });
    const r = await run(new URL("../../bin/qbic-cache", import.meta.url).pathname, [
      ...["serve", "--no-db", "--socket", `${dir}/s.sock`],
      ...["--backing-latency", "fixed(queues=0)", "memory:1M"],
    ]);
    assert.equal(r.code, 2, r.err);
    assert.match(
      r.err.trim(),
      /^qbic-cache: --backing-latency: queues: must be a whole number/,
    );
    assert.equal(r.err.trim().split("\n").length, 1, r.err);
    await Deno.remove(dir, { recursive: true });
  },
});
