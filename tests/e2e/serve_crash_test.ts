/**
 * Durability under `kill -9`: whatever a client wrote before a FLUSH that returned (or with
 * FUA) is in the image afterwards. The kernel page cache survives the kill, so this proves the
 * data reached the kernel (FIELD-NOTES), which is what the server itself controls.
 */
import assert from "node:assert/strict";
import { have, makeImage, run, startServe } from "./serve_helpers.ts";
import { handshake, Raw, request, simpleReply } from "./nbd_raw_client.ts";

const OK = have("qemu-io");
if (!OK) console.log("serve_crash_test: qemu-io not installed, skipping");

/**
 * A temp folder with an 8 MiB image, served in `mode` with a big LRU cache (admits on first
 * touch, QBic would not): nothing is evicted, so only FLUSH/FUA can put data in the image.
 */
async function serveImage(mode: string) {
  const dir = await Deno.makeTempDir({ prefix: "serve-crash-" });
  const img = `${dir}/disk.img`;
  makeImage(img, 8 << 20);
  const s = await startServe(dir, ["--cache-size", "32M", "--policy", "lru", "--mode", mode, img]);
  return { dir, img, s };
}

for (const mode of ["writeback", "writethrough"]) {
  for (const how of ["flush", "fua"]) {
    Deno.test({
      name: `serve: kill -9 after ${how} keeps the data (${mode})`,
      ignore: !OK,
      fn: async () => {
        const { dir, img, s } = await serveImage(mode);
        try {
          // -t writeback: qemu-io sends no FUA unless asked (-f) and flushes only on "flush".
          const cmds = how === "flush"
            ? ["write -P 0x61 0 1M", "write -P 0x62 3000 5000", "flush"]
            : ["write -f -P 0x61 0 1M", "write -f -P 0x62 3000 5000"];
          const r = await run("qemu-io", [
            "-f",
            "raw",
            "-t",
            "writeback",
            ...cmds.flatMap((c) => ["-c", c]),
            s.uri,
          ]);
          assert.equal(r.code, 0, r.err);
        } finally {
          await s.kill();
        }
        const f = await Deno.readFile(img);
        assert.ok(f.subarray(0, 3000).every((b) => b === 0x61), "first write lost");
        assert.ok(f.subarray(3000, 8000).every((b) => b === 0x62), "second write lost");
        assert.ok(f.subarray(8000, 1 << 20).every((b) => b === 0x61));
        await Deno.remove(dir, { recursive: true });
      },
    });
  }
}

Deno.test({
  name: "serve: write-back really holds unflushed writes in memory (the crash test can fail)",
  fn: async () => {
    const { dir, img, s } = await serveImage("writeback");
    // A raw client: qemu-io flushes when it closes, this one does not.
    const c = await Raw.unix(s.socket);
    try {
      await handshake(c);
      await c.send(request(1, 0, 65536));
      await c.send(new Uint8Array(65536).fill(0x61));
      const rep = await simpleReply(c);
      assert.deepEqual(rep, [0, 1]);
    } finally {
      await s.kill();
      c.close();
    }
    // Without FLUSH or FUA, a killed write-back server loses the write: documented behaviour.
    const f = await Deno.readFile(img);
    assert.equal(f[0], 0);
    await Deno.remove(dir, { recursive: true });
  },
});
