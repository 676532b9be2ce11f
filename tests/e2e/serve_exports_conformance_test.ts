/**
 * proto.md's request rules on each export of a multi-export `qbic-cache serve` while another
 * export is busy (fio on vm-a throughout): past-the-end, over-the-maximum, unknown command and
 * flag errors, EPERM on the read-only export, and the connection staying in sync after each.
 */
import assert from "node:assert/strict";
import { have, makeImage, startServe } from "./serve_helpers.ts";
import { option, optionReply, Raw, request, simpleReply } from "./nbd_raw_client.ts";

const PRESENT = have("fio");
if (!PRESENT) console.log("serve_exports_conformance_test: fio not installed, skipping");

const EPERM = 1, EINVAL = 22, ENOSPC = 28;

/** Handshake with NBD_OPT_GO on the export `name`; returns its size and transmission flags. */
async function go(r: Raw, name: string): Promise<{ size: number; flags: number }> {
  if (!await r.recv(18)) throw new Error("no greeting");
  await r.send(new Uint8Array([0, 0, 0, 3]));
  const n = new TextEncoder().encode(name);
  const data = new Uint8Array(4 + n.length + 2);
  new DataView(data.buffer).setUint32(0, n.length);
  data.set(n, 4);
  await r.send(option(7, data));
  let size = -1, flags = 0;
  for (;;) {
    const rep = await optionReply(r);
    if (!rep) throw new Error("closed during GO");
    const v = new DataView(rep[2].buffer, rep[2].byteOffset);
    if (rep[1] === 3 && v.getUint16(0) === 0) {
      size = Number(v.getBigUint64(2));
      flags = v.getUint16(10);
    }
    if (rep[1] === 1) return { size, flags };
    if (rep[1] & 0x80000000) throw new Error(`GO ${name} failed: ${rep[1]}`);
  }
}

Deno.test({
  name: "serve --export: proto.md errors on each export while another is busy",
  ignore: !PRESENT,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "serve-exports-conf-" });
    makeImage(`${dir}/a.img`, 16 << 20, 1);
    makeImage(`${dir}/b.img`, 3 << 20, 2);
    makeImage(`${dir}/c.img`, 1 << 20, 3);
    const s = await startServe(dir, [
      ...["--cache-size", "1M", "--policy", "qbic"],
      ...["--export", `vm-a=${dir}/a.img`, "--export", `vm-b=${dir}/b.img`],
      ...["--export", `vm-c=${dir}/c.img,read-only`],
    ]);
    const busy = new Deno.Command("fio", {
      args: [
        ...["--name=busy", "--ioengine=nbd", `--uri=nbd+unix:///vm-a?socket=${s.socket}`],
        ...["--rw=randrw", "--bs=4k", "--iodepth=16", "--size=16M", "--time_based"],
        ...["--runtime=8", "--output-format=json"],
      ],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    try {
      await new Promise((r) => setTimeout(r, 500)); // fio connected and running
      for (
        const [name, size, readOnly] of [["vm-b", 3 << 20, false], ["vm-c", 1 << 20, true]] as const
      ) {
        const c = await Raw.unix(s.socket);
        try {
          const got = await go(c, name);
          assert.equal(got.size, size, name);
          assert.equal((got.flags & 2) !== 0, readOnly, `${name}: NBD_FLAG_READ_ONLY`);
          const cases: [Uint8Array, number, string][] = [
            [request(0, size - 100, 4096, { cookie: 2 }), EINVAL, "read past the end"],
            [request(0, 0, 64 << 20, { cookie: 4 }), EINVAL, "read over the maximum"],
            [request(42, 0, 0, { cookie: 5 }), EINVAL, "unknown command"],
            [request(0, 0, 512, { cookie: 6, flags: 1 << 9 }), EINVAL, "unknown flag"],
            [request(6, size, 4096, { cookie: 3 }), readOnly ? EPERM : ENOSPC, "zero past the end"],
          ];
          for (const [frame, errno, what] of cases) {
            await c.send(frame);
            const rep = await simpleReply(c);
            const cookie = Number(new DataView(frame.buffer).getBigUint64(8));
            assert.deepEqual(rep, [errno, cookie], `${name}: ${what}`);
          }
          // A write: EPERM on the read-only export (payload consumed), done on the other.
          await c.send(request(1, 4096, 8, { cookie: 8 }));
          await c.send(new Uint8Array(8).fill(9));
          assert.deepEqual(await simpleReply(c), [readOnly ? EPERM : 0, 8], `${name}: write`);
          // Still in sync: a read of the export's own bytes.
          await c.send(request(0, 0, 8, { cookie: 10 }));
          assert.deepEqual(await simpleReply(c), [0, 10], `${name}: read after errors`);
          const bytes = await c.recv(8);
          assert.deepEqual(
            bytes,
            new Uint8Array(8).fill(readOnly ? 3 : 2),
            `${name}: its own data`,
          );
        } finally {
          c.close();
        }
      }
      const fio = await busy.output();
      const out = new TextDecoder().decode(fio.stdout);
      assert.equal(fio.code, 0, new TextDecoder().decode(fio.stderr));
      assert.equal(JSON.parse(out.slice(out.indexOf("{"))).jobs[0].error, 0);
    } finally {
      try {
        busy.kill("SIGKILL");
      } catch { /* done */ }
      await busy.status;
      const st = await s.stop();
      assert.equal(st.code, 0, st.stderr);
    }
    const b = await Deno.readFile(`${dir}/b.img`);
    assert.deepEqual(b.subarray(4096, 4104), new Uint8Array(8).fill(9));
    const c = await Deno.readFile(`${dir}/c.img`);
    assert.ok(c.every((x) => x === 3), "the read-only image is untouched");
    await Deno.remove(dir, { recursive: true });
  },
});
