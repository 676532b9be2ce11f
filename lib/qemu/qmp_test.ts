import assert from "node:assert/strict";
import { parseRegisters, QmpClient, QmpConnectionError, QmpError } from "./qmp.ts";

const QEMU = "/usr/bin/qemu-system-x86_64";
const haveQemu = (() => {
  try {
    return Deno.statSync(QEMU).isFile;
  } catch {
    return false;
  }
})();
if (!haveQemu) console.log(`qmp_test: skipping QEMU tests: ${QEMU} missing (qemu-system-x86)`);

/** Starts a QEMU with no machine (no guest at all): enough for the monitor. */
async function withQemu(fn: (qmp: QmpClient, sock: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "hvkit-qmp-" });
  const sock = `${dir}/qmp.sock`;
  const child = new Deno.Command(QEMU, {
    args: [
      "-M",
      "none",
      "-display",
      "none",
      "-nodefaults",
      "-qmp",
      `unix:${sock},server=on,wait=off`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let qmp: QmpClient | null = null;
  try {
    qmp = await QmpClient.connect(sock, { timeoutMs: 10_000 });
    await fn(qmp, sock);
  } finally {
    qmp?.close();
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
    await child.output().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "qmp: greeting, capabilities, typed execute, errors",
  ignore: !haveQemu,
  fn: () =>
    withQemu(async (qmp) => {
      assert.equal(typeof qmp.greeting.version.qemu.major, "number");
      assert.ok(qmp.greeting.version.qemu.major >= 5);
      const status = await qmp.execute<{ status: string; running: boolean }>("query-status");
      assert.equal(typeof status.running, "boolean");
      await assert.rejects(qmp.execute("no-such-command"), (e: unknown) => {
        assert.ok(e instanceof QmpError);
        assert.equal(e.errorClass, "CommandNotFound");
        return true;
      });
      // concurrent commands are matched to their replies by id
      const [a, b] = await Promise.all([
        qmp.execute<{ qemu: { major: number } }>("query-version"),
        qmp.execute<{ name?: string }>("query-name"),
      ]);
      assert.equal(a.qemu.major, qmp.greeting.version.qemu.major);
      assert.equal(typeof b, "object");
    }),
});

Deno.test({
  name: "qmp: hmp passthrough returns monitor text",
  ignore: !haveQemu,
  fn: () =>
    withQemu(async (qmp) => {
      const v = await qmp.hmp("info version");
      const g = qmp.greeting.version.qemu;
      assert.match(v, new RegExp(`^${g.major}\\.${g.minor}\\.${g.micro}`));
      await assert.rejects(qmp.hmp("info registers", 7), QmpError);
    }),
});

Deno.test({
  name: "qmp: stop/cont emit STOP and RESUME, seen by waitEvent and events()",
  ignore: !haveQemu,
  fn: () =>
    withQemu(async (qmp) => {
      const seen: string[] = [];
      const collector = (async () => {
        for await (const e of qmp.events()) {
          seen.push(e.event);
          if (e.event === "RESUME") break;
        }
      })();
      await qmp.execute("stop");
      await qmp.execute("cont");
      // both events arrived before these calls; waitEvent must still return them, in order
      const stop = await qmp.waitEvent("STOP", { timeoutMs: 5000 });
      const resume = await qmp.waitEvent("RESUME", { timeoutMs: 5000 });
      assert.ok(stop.timestamp.seconds <= resume.timestamp.seconds);
      await collector;
      assert.deepEqual(seen, ["STOP", "RESUME"]);
      await assert.rejects(qmp.waitEvent("STOP", { timeoutMs: 200 }), QmpConnectionError);
    }),
});

Deno.test({
  name: "qmp: QEMU exiting rejects pending waits; connecting to nothing fails clearly",
  ignore: !haveQemu,
  fn: async () => {
    await withQemu(async (qmp) => {
      const wait = qmp.waitEvent("NEVER");
      await qmp.execute("quit");
      await assert.rejects(wait, QmpConnectionError);
      await qmp.closedPromise();
      assert.ok(qmp.closed);
      await assert.rejects(qmp.execute("query-status"), QmpConnectionError);
    });
    await assert.rejects(
      QmpClient.connect("/nonexistent/hvkit.qmp", { timeoutMs: 100 }),
      /cannot connect/,
    );
  },
});

Deno.test("qmp: parseRegisters reads general, control and segment registers", () => {
  const text = [
    "RAX=0000000000000001 RBX=00000000000000ff RCX=0000000000000000 RDX=0000000000000000",
    "RIP=ffffffff81a3c0de RFL=00000246 [---Z-P-] CPL=0 II=0 A20=1 SMM=0 HLT=1",
    "CS =0010 0000000000000000 ffffffff 00a09b00 DPL=0 CS64 [-RA]",
    "GDT=     fffffe0000001000 0000007f",
    "CR0=80050033 CR2=00007f0000001000 CR3=000000000a1b2000 CR4=00350ef0",
  ].join("\n");
  const r = parseRegisters(text);
  assert.equal(r.get("RAX"), 1n);
  assert.equal(r.get("RBX"), 0xffn);
  assert.equal(r.get("RIP"), 0xffffffff81a3c0den);
  assert.equal(r.get("CR3"), 0xa1b2000n);
  assert.equal(r.get("CS"), 0n);
  assert.equal(r.get("GDT"), 0xfffffe0000001000n);
  assert.equal(r.get("CPL"), 0n);
});
