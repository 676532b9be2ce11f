/**
 * End to end: the test guest runs the exec-marker program (its code holds EXEC_MARKER);
 * `virtav watch` attached by QMP to a second monitor socket, reading the live RAM file,
 * detects it in an executable page and pauses the VM, which QMP then reports as paused.
 * Also `virtav scan --exec-only` on the same RAM with the CR3 read over QMP.
 */
import assert from "node:assert/strict";
import { EXEC_MARKER_HEX, EXEC_MARKER_VADDR } from "../../lib/qemu/marker_elf.ts";
import { parseRegisters } from "../../lib/qemu/qmp.ts";
import { guestMissing, withGuest, withTempDir } from "./guest_fixture.ts";

const BIN = new URL("../../bin/virtav", import.meta.url).pathname;
const skip = guestMissing("virtav_watch_test").length > 0;

Deno.test({
  name: "virtav watch detects the exec-marker program in a running guest and pauses the VM",
  ignore: skip,
  sanitizeResources: false,
  fn: async () => {
    await withTempDir("virtav-watch-", async (dir) => {
      const memPath = `${dir}/guest.ram`;
      const watchSock = `${dir}/watch.qmp`;
      await Deno.writeTextFile(
        `${dir}/marker.ndb`,
        `Hvkit.Test.ExecMarker:0:*:${EXEC_MARKER_HEX}\n`,
      );
      await withGuest({
        workload: "exec-marker",
        workloadArgs: { seconds: 0 },
        memMiB: 192,
        sharedMemPath: memPath,
        timeoutMs: 150_000,
        extraQemuArgs: ["-qmp", `unix:${watchSock},server=on,wait=off`],
      }, async (vm) => {
        const line = await vm.waitForLine((l) => l.kind === "RESULT", 120_000);
        assert.equal(line.data.phase, "running");

        // One-shot scan of the executable pages the current CR3 maps (the spinning marker
        // is on the only vCPU most of the time; retry a few samples).
        let scanOut = "";
        for (let i = 0; i < 10 && !scanOut.includes("FOUND"); i++) {
          const regs = parseRegisters(await vm.qmp.hmp("info registers", 0));
          const cr3 = regs.get("CR3")!;
          const la57 = ((regs.get("CR4") ?? 0n) >> 12n & 1n) === 1n;
          const r = await new Deno.Command(BIN, {
            args: [
              "scan",
              "--no-db",
              "--no-cache",
              "-q",
              "--memory",
              "--exec-only",
              "--cr3",
              "0x" + (cr3 & 0x000ffffffffff000n).toString(16),
              ...(la57 ? ["--la57"] : []),
              "-d",
              `${dir}/marker.ndb`,
              memPath,
            ],
            stdout: "piped",
            stderr: "piped",
          }).output();
          scanOut = new TextDecoder().decode(r.stdout);
        }
        assert.match(scanOut, /Hvkit\.Test\.ExecMarker FOUND/);
        const va = BigInt(/@va=(0x[0-9a-f]+)/.exec(scanOut)![1]);
        assert.equal(va, BigInt(EXEC_MARKER_VADDR));

        const w = await new Deno.Command(BIN, {
          args: [
            "watch",
            "--no-db",
            "--no-cache",
            "--qmp",
            watchSock,
            "--ram",
            memPath,
            "-d",
            `${dir}/marker.ndb`,
            "--action",
            "pause",
            "--interval",
            "200ms",
            "--duration",
            "60s",
            "--output",
            "json",
          ],
          stdout: "piped",
          stderr: "piped",
        }).output();
        const out = new TextDecoder().decode(w.stdout);
        const err = new TextDecoder().decode(w.stderr);
        assert.equal(w.code, 1, `watch should exit 1 on a detection; stderr: ${err}`);
        assert.ok(out.trim().length > 0, `watch printed no detection; stderr: ${err}`);
        const det = out.trim().split("\n").map((l) => JSON.parse(l));
        assert.ok(
          det.some((d) =>
            d.signature === "Hvkit.Test.ExecMarker" && BigInt(d.va) === BigInt(EXEC_MARKER_VADDR)
          ),
        );
        const st = await vm.qmp.execute<{ status: string; running: boolean }>("query-status");
        assert.equal(st.running, false);
        assert.equal(st.status, "paused");
      });
    });
  },
});
