/**
 * The test guest end to end on a real disk: an ext4 image served over NBD (by hvkit's
 * `qbic-cache serve` with recording on, and by the peer qemu-nbd), the guest runs a
 * workload and reports, and `e2fsck -fn` finds the image clean afterwards.
 */
import assert from "node:assert/strict";
import { buildGuest } from "../../lib/qemu/guest.ts";
import { startNbdServer } from "../../lib/qemu/nbd_server.ts";
import { parseRecordLine } from "../../lib/trace/jsonl.ts";
import { guestMissing, withGuest, withTempDir } from "./guest_fixture.ts";

const skip = guestMissing("qemu_guest_disk_test", [
  "/usr/bin/qemu-nbd",
  "/sbin/mkfs.ext4",
  "/sbin/e2fsck",
]).length > 0;

async function run(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  const o = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: o.code, out: dec.decode(o.stdout) + dec.decode(o.stderr) };
}

async function makeExt4(path: string, size = "64M"): Promise<void> {
  assert.equal((await run("truncate", ["-s", size, path])).code, 0);
  const mk = await run("/sbin/mkfs.ext4", ["-q", "-F", "-E", "lazy_itable_init=0", path]);
  assert.equal(mk.code, 0, mk.out);
}

Deno.test({
  name:
    "guest: fsync-small on an ext4 image served by qbic-cache serve; trace recorded; fsck clean",
  ignore: skip,
  sanitizeResources: false,
  fn: async () => {
    await withTempDir("hvkit-e2e-guest-", async (dir) => {
      const image = `${dir}/disk.img`;
      await makeExt4(image);
      const guest = await buildGuest();
      const srv = await startNbdServer({
        kind: "qbic-cache",
        image,
        socket: `${dir}/nbd.sock`,
        record: `${dir}/trace.jsonl`,
        stderrPath: `${dir}/serve.err`,
        timeoutMs: 170_000,
      });
      try {
        await withGuest({
          guest,
          nbdSocket: srv.socket,
          nbdExport: srv.exportName,
          workload: "fsync-small",
          workloadArgs: { files: 60, size: 4096 },
          timeoutMs: 150_000,
        }, async (vm) => {
          const out = await vm.wait();
          assert.equal(out.done?.status, 0);
          assert.equal(out.results.length, 1);
          const r = out.results[0];
          assert.equal(r.workload, "fsync-small");
          assert.equal(r.files, 60);
          assert.equal(r.bad, 0);
          assert.equal(r.ok, true);
        });
      } finally {
        const st = await srv.stop();
        assert.equal(st.code, 0, await Deno.readTextFile(`${dir}/serve.err`).catch(() => ""));
      }
      // the recorded trace: writes and flushes from the guest's ext4
      const lines = (await Deno.readTextFile(`${dir}/trace.jsonl`)).split("\n").filter((l) => l);
      const recs = lines.map((l, i) => parseRecordLine(l, i + 1));
      const ops = new Set(recs.map((r) => r.op));
      assert.ok(ops.has("W"), "trace has writes");
      assert.ok(ops.has("F"), "trace has flushes");
      assert.ok(recs.filter((r) => r.op === "F").length >= 60, "at least one flush per fsync");
      const fsck = await run("/sbin/e2fsck", ["-fn", image]);
      assert.equal(fsck.code, 0, fsck.out);
      // the files are on the image: debugfs lists them
      const ls = await run("/sbin/debugfs", ["-R", "ls -l /fsync-small", image]);
      assert.match(ls.out, /\bf59\b/);
    });
  },
});

Deno.test({
  name: "guest: read-hot and mixed on an image served by qemu-nbd (forced TCG); fsck clean",
  ignore: skip,
  sanitizeResources: false,
  fn: async () => {
    await withTempDir("hvkit-e2e-guest-", async (dir) => {
      const image = `${dir}/disk.img`;
      await makeExt4(image);
      const srv = await startNbdServer({ kind: "qemu-nbd", image, socket: `${dir}/nbd.sock` });
      try {
        for (
          const [workload, args] of [
            ["read-hot", { files: 8, size: 16384, passes: 3 }],
            ["mixed", { ops: 80, files: 6, size: 8192, seed: 7 }],
          ] as const
        ) {
          await withGuest({
            nbdSocket: srv.socket,
            nbdExport: srv.exportName,
            workload,
            workloadArgs: args,
            accel: "tcg",
            timeoutMs: 120_000,
          }, async (vm) => {
            assert.equal(vm.accel.accel, "tcg");
            const out = await vm.wait();
            assert.equal(out.results[0].workload, workload);
            assert.equal(out.results[0].ok, true);
            if (workload === "read-hot") assert.equal(out.results[0].bad_passes, 0);
            if (workload === "mixed") {
              const r = out.results[0] as Record<string, number>;
              assert.equal(r.reads + r.writes + r.fsyncs, 80);
            }
          });
        }
      } finally {
        await srv.stop();
      }
      const fsck = await run("/sbin/e2fsck", ["-fn", image]);
      assert.equal(fsck.code, 0, fsck.out);
    });
  },
});
