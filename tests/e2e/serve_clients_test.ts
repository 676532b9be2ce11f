/**
 * `qbic-cache serve` driven by the real clients: qemu-io, qemu-img, nbdinfo, nbdcopy and fio's
 * nbd engine, in every mode and with every live policy; data checked by the clients' own
 * pattern checks and by comparing the image file after shutdown.
 */
import assert from "node:assert/strict";
import { have, makeImage, run, startServe } from "./serve_helpers.ts";

const CLIENTS = have("qemu-io") && have("qemu-img");
if (!CLIENTS) console.log("serve_clients_test: qemu-io/qemu-img not installed, skipping");

const MODES = ["writeback", "writethrough", "unsafe"];
const POLICIES = ["lru", "arc", "s3fifo", "qbic"];

for (const mode of MODES) {
  for (const policy of POLICIES) {
    Deno.test({
      name: `serve: qemu-io patterns, ${policy} ${mode}`,
      ignore: !CLIENTS,
      fn: async () => {
        const dir = await Deno.makeTempDir({ prefix: "serve-qio-" });
        const img = `${dir}/disk.img`;
        makeImage(img, 16 << 20, 0x5a);
        // 256 KiB of cache: the 1 MiB writes below evict, so write-back really happens.
        const s = await startServe(dir, [
          "--cache-size",
          "256K",
          "--policy",
          policy,
          "--mode",
          mode,
          img,
        ]);
        try {
          const r = await run("qemu-io", [
            "-f",
            "raw",
            "-t",
            "none",
            ...[
              "write -P 0xab 0 1M",
              "read -P 0xab 0 1M",
              "read -P 0xab 0 1M",
              "aio_write -P 0x11 2M 64k",
              "aio_write -P 0x22 3M 4k",
              "aio_flush",
              "read -P 0x11 2M 64k",
              "read -P 0x22 3M 4k",
              "write -P 0x33 5000 3000",
              "read -P 0x33 5000 3000",
              "read -P 0xab 8000 100",
              "flush",
              "discard 4M 1M",
              "write -z 6M 1M",
              "read -P 0 6M 1M",
              "read -P 0x5a 7M 1M",
              "write -P 0x44 -f 8M 64k",
              "read -P 0x44 8M 64k",
            ].flatMap((c) => ["-c", c]),
            s.uri,
          ]);
          assert.equal(r.code, 0, r.err + r.out);
          assert.ok(!/Pattern verification failed|error/i.test(r.out + r.err), r.out + r.err);
        } finally {
          const st = await s.stop();
          assert.equal(st.code, 0, st.stderr);
        }
        // After a clean shutdown the image holds everything, in every mode.
        const f = await Deno.readFile(img);
        assert.ok(f.subarray(0, 5000).every((b) => b === 0xab));
        assert.ok(f.subarray(5000, 8000).every((b) => b === 0x33));
        assert.ok(f.subarray(2 << 20, (2 << 20) + 65536).every((b) => b === 0x11));
        assert.ok(f.subarray(6 << 20, 7 << 20).every((b) => b === 0));
        assert.ok(f.subarray(8 << 20, (8 << 20) + 65536).every((b) => b === 0x44));
        await Deno.remove(dir, { recursive: true });
      },
    });
  }
}

Deno.test({
  name: "serve: qemu-img convert to and from the export, compare; nbdinfo; nbdcopy",
  ignore: !CLIENTS || !have("nbdinfo") || !have("nbdcopy"),
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "serve-img-" });
    const img = `${dir}/disk.img`;
    const src = `${dir}/src.raw`;
    makeImage(img, 8 << 20);
    // A source with data, zeroes and a pattern.
    const data = new Uint8Array(8 << 20);
    for (let i = 0; i < data.length; i += 4096) data.fill((i >> 12) & 255, i, i + 2048);
    await Deno.writeFile(src, data);
    const s = await startServe(dir, ["--cache-size", "1M", "--policy", "qbic", img]);
    try {
      const info = await run("nbdinfo", ["--json", s.uri]);
      assert.equal(info.code, 0, info.err);
      const j = JSON.parse(info.out);
      const e = j.exports[0];
      assert.equal(e["export-size"], 8 << 20);
      assert.equal(e.can_flush, true);
      assert.equal(e.can_fua, true);
      assert.equal(e.can_multi_conn, true);
      assert.equal(e.block_size_maximum, 32 << 20);

      let r = await run("qemu-img", ["convert", "-n", "-f", "raw", "-O", "raw", src, s.uri]);
      assert.equal(r.code, 0, r.err);
      r = await run("qemu-img", ["compare", "-f", "raw", "-F", "raw", src, s.uri]);
      assert.equal(r.code, 0, r.out + r.err);
      r = await run("qemu-img", ["convert", "-f", "raw", "-O", "raw", s.uri, `${dir}/back.raw`]);
      assert.equal(r.code, 0, r.err);
      assert.deepEqual(await Deno.readFile(`${dir}/back.raw`), data);
      // nbdcopy with several connections (multi-conn) both ways.
      r = await run("nbdcopy", [s.uri, `${dir}/copy.raw`]);
      assert.equal(r.code, 0, r.err);
      assert.deepEqual(await Deno.readFile(`${dir}/copy.raw`), data);
      const rev = data.slice().reverse();
      await Deno.writeFile(`${dir}/rev.raw`, rev);
      r = await run("nbdcopy", ["--connections=4", `${dir}/rev.raw`, s.uri]);
      assert.equal(r.code, 0, r.err);
      r = await run("qemu-img", ["compare", "-f", "raw", "-F", "raw", `${dir}/rev.raw`, s.uri]);
      assert.equal(r.code, 0, r.out + r.err);
    } finally {
      const st = await s.stop();
      assert.equal(st.code, 0, st.stderr);
    }
    await Deno.remove(dir, { recursive: true });
  },
});

const FIO_NBD = have("fio");
for (
  const [mode, policy] of [["writeback", "qbic"], ["writethrough", "arc"], ["unsafe", "s3fifo"], [
    "writeback",
    "lru",
  ]]
) {
  Deno.test({
    name: `serve: fio nbd engine randwrite --verify=crc32c, ${policy} ${mode}`,
    ignore: !FIO_NBD,
    fn: async () => {
      const dir = await Deno.makeTempDir({ prefix: "serve-fio-" });
      const img = `${dir}/disk.img`;
      makeImage(img, 16 << 20);
      const s = await startServe(dir, [
        "--cache-size",
        "2M",
        "--policy",
        policy,
        "--mode",
        mode,
        img,
      ]);
      try {
        const r = await run("fio", [
          "--name=v",
          "--ioengine=nbd",
          `--uri=${s.uri}`,
          "--rw=randwrite",
          "--bs=4k",
          "--iodepth=16",
          "--size=8M",
          "--verify=crc32c",
          "--do_verify=1",
          "--verify_fatal=1",
          // No local-v-0-verify.state in the working directory (the repository root).
          "--verify_state_save=0",
          "--output-format=json",
        ], dir);
        assert.equal(r.code, 0, r.err + r.out.slice(0, 2000));
        const j = JSON.parse(r.out.slice(r.out.indexOf("{")));
        assert.equal(j.jobs[0].error, 0);
      } finally {
        const st = await s.stop();
        assert.equal(st.code, 0, st.stderr);
      }
      await Deno.remove(dir, { recursive: true });
    },
  });
}
