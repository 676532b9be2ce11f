/**
 * The guest's RAM seen from outside (memory-backend-file, share=on), the exec-marker
 * program, QMP register reads, and the failure paths: a guest that does not finish is
 * killed and its serial log shown; a missing QEMU names its package.
 */
import assert from "node:assert/strict";
import { GuestSetupError, GuestTimeoutError } from "../../lib/qemu/errors.ts";
import { buildGuest } from "../../lib/qemu/guest.ts";
import { pidAlive } from "../../lib/qemu/guarded_process.ts";
import { launchGuest } from "../../lib/qemu/launch.ts";
import { EXEC_MARKER } from "../../lib/qemu/marker_elf.ts";
import { parseRegisters } from "../../lib/qemu/qmp.ts";
import { findAllBytes, guestMissing, withGuest, withTempDir } from "./guest_fixture.ts";

const skip = guestMissing("qemu_shared_mem_test").length > 0;

Deno.test({
  name: "guest: a marker the guest writes into RAM is read from the shared memory file",
  ignore: skip,
  sanitizeResources: false,
  fn: async () => {
    const token = crypto.randomUUID().replaceAll("-", "");
    await withTempDir("hvkit-e2e-mem-", async (dir) => {
      const memPath = `${dir}/guest.ram`;
      await withGuest({
        workload: "mem-marker",
        workloadArgs: { token, copies: 16, seconds: 60 },
        memMiB: 192,
        sharedMemPath: memPath,
        timeoutMs: 120_000,
      }, async (vm) => {
        const line = await vm.waitForLine((l) => l.kind === "RESULT", 110_000);
        assert.equal(line.data.token, token);
        const ram = await Deno.readFile(memPath);
        assert.equal(ram.length, 192 * 1024 * 1024);
        const want = new TextEncoder().encode(`HVKIT-MEM-MARK:${token}:KRAM`);
        // 16 copies in one tmpfs page, plus whatever printf's buffers left behind
        assert.ok(findAllBytes(ram, want).length >= 16);
        // a token never written is not found (the search can fail)
        const other = new TextEncoder().encode(`HVKIT-MEM-MARK:${token.slice(1)}x:KRAM`);
        assert.equal(findAllBytes(ram, other).length, 0);
      });
    });
  },
});

Deno.test({
  name: "guest: exec-marker runs; its code bytes are in RAM; QMP reads CR3; timeout kills it",
  ignore: skip,
  sanitizeResources: false,
  fn: async () => {
    await withTempDir("hvkit-e2e-exec-", async (dir) => {
      const memPath = `${dir}/guest.ram`;
      const guest = await buildGuest();
      let pid = 0;
      await withGuest({
        guest,
        workload: "exec-marker",
        workloadArgs: { seconds: 0 }, // runs until killed
        memMiB: 160,
        sharedMemPath: memPath,
        timeoutMs: 60_000,
      }, async (vm) => {
        pid = vm.pid;
        const running = await vm.waitForLine(
          (l) => l.kind === "RESULT" && l.data.phase === "running",
          55_000,
        );
        assert.equal(running.data.marker, guest.execMarkerHex);
        assert.equal((running.data.pids as number[]).length, 1);
        const ram = await Deno.readFile(memPath);
        assert.ok(findAllBytes(ram, EXEC_MARKER).length >= 1, "marker bytes in guest RAM");
        // the spinning program keeps vCPU 0 busy; its page tables are live
        const regs = parseRegisters(await vm.qmp.hmp("info registers", 0));
        assert.ok((regs.get("CR3") ?? 0n) > 0n, "CR3 read through QMP");
        await vm.qmp.execute("stop");
        await vm.qmp.waitEvent("STOP", { timeoutMs: 10_000 });
        const st = await vm.qmp.execute<{ running: boolean }>("query-status");
        assert.equal(st.running, false);
      });
      assert.equal(pidAlive(pid), false, "QEMU is gone after kill()");

      // a guest that never finishes: the hard timeout kills it and the error shows its log
      await withGuest({
        guest,
        workload: "exec-marker",
        workloadArgs: { seconds: 0 },
        timeoutMs: 4000,
      }, async (stuck) => {
        pid = stuck.pid;
        await assert.rejects(stuck.wait(), (e: unknown) => {
          assert.ok(e instanceof GuestTimeoutError);
          assert.match(e.message, /did not finish in 4000 ms/);
          assert.match(e.message, /serial log/);
          return true;
        });
      });
      assert.equal(pidAlive(pid), false, "QEMU is gone after the timeout");
    });
  },
});

Deno.test({
  name: "guest: a missing QEMU or kernel names the Debian package",
  ignore: skip,
  fn: async () => {
    const prev = Deno.env.get("HVKIT_QEMU");
    Deno.env.set("HVKIT_QEMU", "/nonexistent/qemu-system-x86_64");
    try {
      await assert.rejects(
        launchGuest({ workload: "boot" }),
        (e: unknown) => e instanceof GuestSetupError && /qemu-system-x86/.test(e.message),
      );
    } finally {
      if (prev === undefined) Deno.env.delete("HVKIT_QEMU");
      else Deno.env.set("HVKIT_QEMU", prev);
    }
    const root = await Deno.makeTempDir();
    try {
      await assert.rejects(
        buildGuest({ root }),
        (e: unknown) => e instanceof GuestSetupError && /linux-image-amd64/.test(e.message),
      );
      await assert.rejects(
        buildGuest({ busybox: "/nonexistent/busybox" }),
        /busybox-static/,
      );
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
