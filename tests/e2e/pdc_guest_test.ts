/**
 * PDC end to end in a real guest (bench/pdc's set-up, small): the test guest runs the
 * varmail workload on ext4 on a disk served by `qbic-cache serve --admit pdc --direct on
 * --backing-latency 100us` with a cache smaller than the working set. Checks the guest's own
 * data verification, the RESULT line's shape, that serve found the journal in the image (exact
 * ranges, no fall-back to the heuristic), and that the recorded stream has journal writes the
 * exact ranges refuse. No timing is checked.
 */
import assert from "node:assert/strict";
import { buildGuest } from "../../lib/qemu/guest.ts";
import { startNbdServer } from "../../lib/qemu/nbd_server.ts";
import { parseRecordLine } from "../../lib/trace/jsonl.ts";
import { locateJournalInFile } from "../../lib/pdc/locate.ts";
import { guestMissing, withGuest, withTempDir } from "./guest_fixture.ts";

const skip = guestMissing("pdc_guest_test", ["/sbin/mkfs.ext4"]).length > 0;

async function run(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  const o = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: o.code, out: dec.decode(o.stdout) + dec.decode(o.stderr) };
}

Deno.test({
  name: "pdc guest: varmail behind serve --admit pdc --backing-latency; data verified",
  ignore: skip,
  sanitizeResources: false,
  fn: async () => {
    await withTempDir("hvkit-e2e-pdc-guest-", async (dir) => {
      const image = `${dir}/disk.img`;
      assert.equal((await run("truncate", ["-s", "64M", image])).code, 0);
      const mk = await run("/sbin/mkfs.ext4", [
        "-q",
        "-F",
        "-b",
        "4096",
        "-E",
        "lazy_itable_init=0,lazy_journal_init=0",
        image,
      ]);
      assert.equal(mk.code, 0, mk.out);
      const journal = (await locateJournalInFile(image)).ranges;
      assert.ok(journal.length > 0);
      const guest = await buildGuest();
      const srv = await startNbdServer({
        kind: "qbic-cache",
        image,
        socket: `${dir}/nbd.sock`,
        record: `${dir}/trace.jsonl`,
        extraArgs: [
          "--direct",
          "on",
          "--backing-latency",
          "100us",
          "--cache-size",
          "64K",
          "--policy",
          "lru",
          "--admit",
          "pdc",
          "--output",
          "json",
        ],
        stdoutPath: `${dir}/serve.out`,
        stderrPath: `${dir}/serve.err`,
        timeoutMs: 170_000,
      });
      try {
        await withGuest({
          guest,
          nbdSocket: srv.socket,
          nbdExport: srv.exportName,
          workload: "varmail",
          workloadArgs: { files: 8, size: 8192, ops: 6, drop: 2 },
          timeoutMs: 150_000,
        }, async (vm) => {
          const out = await vm.wait();
          assert.equal(out.done?.status, 0);
          assert.equal(out.results.length, 1);
          const r = out.results[0];
          assert.equal(r.workload, "varmail");
          assert.equal(r.files, 8);
          assert.equal(r.ops, 6);
          assert.equal(r.fsyncs, 12);
          assert.equal(r.bad, 0);
          assert.equal(r.ok, true);
          for (const k of ["bytes", "ms", "ops_s", "mb_s", "lat_mean_ms", "lat_max_ms"]) {
            assert.equal(typeof r[k], "number", `${k} is a number`);
            assert.ok((r[k] as number) >= 0, `${k} >= 0`);
          }
        });
      } finally {
        const st = await srv.stop();
        assert.equal(st.code, 0, await Deno.readTextFile(`${dir}/serve.err`).catch(() => ""));
      }
      const err = await Deno.readTextFile(`${dir}/serve.err`);
      assert.doesNotMatch(err, /learning the journal online/, "serve located the journal");
      const row = JSON.parse((await Deno.readTextFile(`${dir}/serve.out`)).trim());
      assert.ok(row.device_requests > 0, "the modelled device saw the misses");
      // the stream has writes inside the journal: what --admit pdc kept out of the cache
      const recs = (await Deno.readTextFile(`${dir}/trace.jsonl`)).split("\n").filter((l) => l)
        .map((l, i) => parseRecordLine(l, i + 1));
      const inJournal = recs.filter((x) =>
        x.op === "W" && journal.some((j) => x.off >= j.off && x.off < j.off + j.len)
      );
      assert.ok(inJournal.length >= 6, `journal writes in the stream: ${inJournal.length}`);
      assert.ok(inJournal.every((x) => x.hit !== true), "no journal write hit the cache");
      const fsck = await run("/sbin/e2fsck", ["-fn", image]);
      assert.equal(fsck.code, 0, fsck.out);
    });
  },
});
