/**
 * `virtav scan --memory --exec-only` on a running test guest (lib/qemu, TCG, `-cpu max`: the
 * kernel runs 5-level paging when the CPU offers it) whose vCPU spins in a busybox shell, with
 * signatures cut from busybox's own code: found at the virtual addresses busybox's ELF gives
 * them, with the paging depth read over QMP (`--qmp`) or told from the tables (`--cr3` alone),
 * and a walk at the wrong depth warned about, not reported clean in silence.
 */
import assert from "node:assert/strict";
import { parseRegisters } from "../../lib/qemu/qmp.ts";
import { guestMissing, withGuest, withTempDir } from "./guest_fixture.ts";

const BIN = new URL("../../bin/virtav", import.meta.url).pathname;
const BUSYBOX = "/bin/busybox";
const skip = guestMissing("virtav_live_scan_test").length > 0;

/** Up to `n` 32-byte slices of busybox's executable segment, each unique in the file. */
function busyboxSignatures(n: number): { lines: string[]; vaddr: Map<string, bigint> } {
  const elf = Deno.readFileSync(BUSYBOX);
  const dv = new DataView(elf.buffer);
  const phoff = Number(dv.getBigUint64(0x20, true));
  const phentsize = dv.getUint16(0x36, true), phnum = dv.getUint16(0x38, true);
  let text: { off: number; vaddr: bigint; size: number } | undefined;
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    const PT_LOAD = 1, PF_X = 1;
    if (dv.getUint32(ph, true) === PT_LOAD && (dv.getUint32(ph + 4, true) & PF_X)) {
      text = {
        off: Number(dv.getBigUint64(ph + 8, true)),
        vaddr: dv.getBigUint64(ph + 16, true),
        size: Number(dv.getBigUint64(ph + 32, true)),
      };
    }
  }
  assert.ok(text, `${BUSYBOX}: no executable PT_LOAD segment`);
  const hexOf = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  const whole = hexOf(elf);
  const lines: string[] = [], vaddr = new Map<string, bigint>();
  const step = Math.floor((text.size - 64) / n);
  for (let k = 0; k < n; k++) {
    const pos = text.off + 64 + k * step;
    const slice = elf.subarray(pos, pos + 32);
    if (new Set(slice).size < 12) continue; // padding or tables: not code worth a signature
    const hex = hexOf(slice);
    const first = whole.indexOf(hex);
    if (first !== pos * 2 || whole.indexOf(hex, first + 1) !== -1) continue; // must be unique
    const va = text.vaddr + BigInt(pos - text.off);
    const name = `Bb.Text.${va.toString(16)}`;
    lines.push(`${name}:0:*:${hex}`);
    vaddr.set(name, va);
  }
  return { lines, vaddr };
}

async function scan(
  args: string[],
): Promise<{ code: number; found: Record<string, string>[]; err: string }> {
  const r = await new Deno.Command(BIN, {
    args: ["scan", "--no-db", "--no-cache", "--all-matches", "-i", "--output", "json", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(r.stdout).trim();
  return {
    code: r.code,
    found: out ? out.split("\n").map((l) => JSON.parse(l)) : [],
    err: new TextDecoder().decode(r.stderr),
  };
}

Deno.test({
  name: "virtav scan --exec-only finds busybox's own code in a live guest at its virtual addresses",
  ignore: skip,
  sanitizeResources: false,
  fn: async () => {
    await withTempDir("virtav-live-", async (dir) => {
      const sigs = busyboxSignatures(128);
      assert.ok(sigs.lines.length >= 64, `only ${sigs.lines.length} unique busybox slices`);
      await Deno.writeTextFile(`${dir}/bb.ndb`, sigs.lines.join("\n") + "\n");
      const ram = `${dir}/guest.ram`, sock = `${dir}/scan.qmp`;
      const common = ["--memory", "--exec-only", "-d", `${dir}/bb.ndb`];
      const atRightVa = (found: Record<string, string>[]) => {
        for (const d of found) {
          assert.equal(BigInt(d.va), sigs.vaddr.get(d.signature), `${d.signature} at ${d.va}`);
        }
      };
      await withGuest({
        workload: "busy-shell",
        workloadArgs: { seconds: 0 },
        memMiB: 192,
        sharedMemPath: ram,
        timeoutMs: 150_000,
        extraQemuArgs: ["-qmp", `unix:${sock},server=on,wait=off`],
      }, async (vm) => {
        const line = await vm.waitForLine((l) => l.kind === "RESULT", 120_000);
        assert.equal(line.data.phase, "running");
        const cr4 = parseRegisters(await vm.qmp.hmp("info registers", 0)).get("CR4") ?? 0n;
        const la57 = ((cr4 >> 12n) & 1n) === 1n;
        const levels = la57 ? "5-level" : "4-level";

        // --qmp: virtav reads CR3 and CR4 of every vCPU itself. The shell spins on the only
        // vCPU nearly all the time; a sample taken in the kernel's own CR3 is retried.
        let q = await scan([...common, "--qmp", sock, ram]);
        for (let i = 0; i < 10 && q.found.length === 0; i++) {
          q = await scan([...common, "--qmp", sock, ram]);
        }
        assert.equal(q.code, 1, `--qmp found nothing; stderr: ${q.err}`);
        assert.match(q.err, new RegExp(`QMP: 1 vCPUs, ${levels} paging`));
        assert.doesNotMatch(q.err, /no executable kernel text/);
        atRightVa(q.found);
        console.log(
          `virtav_live_scan_test: ${levels}; --qmp found ${q.found.length} of ` +
            `${sigs.lines.length} busybox signatures at their addresses`,
        );

        // --cr3 alone: the depth is told from the tables.
        let c = { code: 0, found: [] as Record<string, string>[], err: "" }, cr3 = 0n;
        for (let i = 0; i < 10 && c.found.length === 0; i++) {
          cr3 = parseRegisters(await vm.qmp.hmp("info registers", 0)).get("CR3")! &
            0x000ffffffffff000n;
          c = await scan([...common, "--cr3", "0x" + cr3.toString(16), ram]);
        }
        assert.equal(c.code, 1, `--cr3 found nothing; stderr: ${c.err}`);
        assert.match(c.err, new RegExp(`${levels} paging, told from the tables`));
        atRightVa(c.found);

        // libclamav (--engine clamav) on the same executable runs: the same signatures, each
        // reported with the run that holds it (libclamav gives no offset). The spinning shell
        // faults in no new code, so both engines see the same pages.
        const cr3Arg = ["--cr3", "0x" + cr3.toString(16)];
        const d2 = await scan([...common, ...cr3Arg, ram]);
        const k = await scan([...common, ...cr3Arg, "--engine", "clamav", ram]);
        assert.deepEqual(
          [...new Set(k.found.map((d) => d.signature))].sort(),
          [...new Set(d2.found.map((d) => d.signature))].sort(),
          k.err,
        );
        for (const d of k.found) {
          const u = d.unit as unknown as { va: string; size: number };
          const va = sigs.vaddr.get(d.signature)!;
          assert.ok(va >= BigInt(u.va) && va + 32n <= BigInt(u.va) + BigInt(u.size), d.signature);
        }

        // watch --engine clamav: the same signatures from the live vCPU state, each with its run.
        let wOut: Record<string, unknown>[] = [], wErr = "";
        for (let i = 0; i < 5 && wOut.length === 0; i++) {
          const r = await new Deno.Command(BIN, {
            args: [
              "watch",
              "--no-db",
              "--engine",
              "clamav",
              "--qmp",
              sock,
              "--ram",
              ram,
              "-d",
              `${dir}/bb.ndb`,
              "--all-matches",
              "--passes",
              "3",
              "--interval",
              "200ms",
              "--output",
              "json",
            ],
            stdout: "piped",
            stderr: "piped",
          }).output();
          const text = new TextDecoder().decode(r.stdout).trim();
          wOut = text ? text.split("\n").map((l) => JSON.parse(l)) : [];
          wErr = new TextDecoder().decode(r.stderr);
        }
        assert.ok(wOut.length > 0, `watch --engine clamav found nothing; stderr: ${wErr}`);
        for (const d of wOut) {
          const u = d.unit as { va: string; size: number };
          const va = sigs.vaddr.get(d.signature as string)!;
          assert.ok(va >= BigInt(u.va) && va + 32n <= BigInt(u.va) + BigInt(u.size));
        }

        // The wrong depth, forced: a loud warning, never a silent clean report.
        const w = await scan([
          ...common,
          "--cr3",
          "0x" + cr3.toString(16),
          la57 ? "--no-la57" : "--la57",
          ram,
        ]);
        assert.match(w.err, /warning: no executable kernel text at the kernel's addresses/);
        // And --qmp refuses a depth that contradicts CR4.
        const bad = await scan([...common, "--qmp", sock, la57 ? "--no-la57" : "--la57", ram]);
        assert.equal(bad.code, 2);
        assert.match(bad.err, /the vCPUs run \d-level paging \(CR4\.LA57=\d, read over QMP\)/);
      });
    });
  },
});
