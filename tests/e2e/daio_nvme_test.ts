import assert from "node:assert/strict";
import { nvmeGenericDevices, nvmeNamespace } from "../../lib/block/daio_nvme.ts";
import { exists } from "./guest_fixture.ts";

const root = new URL("../../", import.meta.url).pathname;
const daio = `${root}bin/daio`;
const dir = `${root}.cache`;

async function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(daio, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

const devices = nvmeGenericDevices();
/** A namespace the write test may overwrite: named on purpose, never guessed. */
const scratch = Deno.env.get("HVKIT_NVME_SCRATCH") ?? "";
if (devices.length === 0) {
  console.log(
    "skip NVMe passthrough I/O tests: no NVMe generic character device (/dev/ng*) on this machine",
  );
} else if (!scratch) {
  console.log(
    "skip NVMe passthrough write test: set HVKIT_NVME_SCRATCH=/dev/ngXnY to a namespace it may " +
      "overwrite",
  );
}

Deno.test("daio nvme: --nvme-passthru on a file or a non-NVMe char device is one ENOTTY line", async () => {
  await Deno.mkdir(dir, { recursive: true });
  const path = await Deno.makeTempFile({ dir, prefix: "daio_nvme_", suffix: ".img" });
  try {
    await Deno.truncate(path, 1 << 20);
    for (const target of [path, "/dev/null"]) {
      const r = await run("bench", "--no-db", "--nvme-passthru", "--runtime", "100ms", target);
      assert.equal(r.code, 1, r.stderr);
      const lines = r.stderr.trim().split("\n");
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], /ENOTTY \(not an NVMe generic character device/);
    }
    assert.throws(() => nvmeNamespace(path), /ENOTTY/);
    const usage = await run("bench", "--no-db", "--nvme-passthru", "--engine", "psync", path);
    assert.equal(usage.code, 2, usage.stderr);
    assert.match(usage.stderr, /--nvme-passthru needs --engine daio/);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test({
  name: "daio nvme: identify matches the block device, passthrough reads complete",
  ignore: devices.length === 0,
  fn: async () => {
    const ng = devices[0];
    const ns = nvmeNamespace(ng);
    assert.ok(ns.lbaSize >= 512 && ns.lbas > 0);
    // The block device of the same namespace reports the same capacity.
    const blk = ng.replace("/dev/ng", "nvme");
    const sectors = Number((await Deno.readTextFile(`/sys/block/${blk}/size`)).trim());
    assert.equal(ns.bytes, sectors * 512);
    const bs = String(Math.max(4096, ns.lbaSize));
    const r = await run(
      "bench",
      "--no-db",
      "--output",
      "json",
      "--rw",
      "randread",
      "--bs",
      bs,
      "--iodepth",
      "8",
      "--size",
      String(Math.min(ns.bytes, 64 << 20)),
      ng,
    );
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.ok(j.read.ios > 0);
    assert.match(j.job, /nvme-passthru/);
  },
});

Deno.test({
  name: "daio nvme: passthrough writes read back through passthrough (HVKIT_NVME_SCRATCH)",
  ignore: !scratch,
  fn: async () => {
    const ns = nvmeNamespace(scratch);
    const bs = String(Math.max(4096, ns.lbaSize));
    const size = String(Math.min(ns.bytes, 16 << 20));
    const common = ["--no-db", "-q", "--bs", bs, "--size", size, "--verify", "--seed", "77"];
    const w = await run("bench", ...common, "--rw", "write", "--iodepth", "4", scratch);
    assert.equal(w.code, 0, w.stderr);
    const r = await run("bench", ...common, "--rw", "randread", "--iodepth", "16", scratch);
    assert.equal(r.code, 0, r.stderr);
  },
});

// ---- NVMe passthrough against QEMU's emulated NVMe controller, inside a guest ----
// The host has no NVMe device, so the passthrough engine (native/daio_bench.c on daio_ring.c with
// daio_nvme.c, linked statically with a small driver, daio_nvme_guest_main.c) runs inside a
// QEMU guest (Debian's kernel, busybox, the nvme modules) whose disk is `-device nvme`.

const QEMU = "/usr/bin/qemu-system-x86_64";
const BUSYBOX = "/bin/busybox";

/** The newest kernel in /boot with its modules, or null. */
function guestKernel(): { vmlinuz: string; modules: string } | null {
  try {
    const versions = [...Deno.readDirSync("/boot")]
      .map((e) => e.name.match(/^vmlinuz-(.+)$/)?.[1])
      .filter((v): v is string => v !== undefined)
      .filter((v) => {
        try {
          return Deno.statSync(`/lib/modules/${v}/modules.dep`).isFile;
        } catch {
          return false;
        }
      })
      .sort();
    const v = versions.at(-1);
    return v ? { vmlinuz: `/boot/vmlinuz-${v}`, modules: `/lib/modules/${v}` } : null;
  } catch {
    return null;
  }
}

const kernel = guestKernel();
const guestMissing = !exists(QEMU)
  ? `${QEMU} is not installed`
  : !exists(BUSYBOX)
  ? `${BUSYBOX} (busybox-static) is not installed`
  : !kernel
  ? "no /boot/vmlinuz-* with /lib/modules (linux-image-amd64)"
  : !exists("/usr/lib/x86_64-linux-gnu/liburing.a")
  ? "no static liburing (liburing-dev)"
  : "";
if (guestMissing) console.log(`skip NVMe passthrough guest test: ${guestMissing}`);

async function sh(cmd: string, args: string[], cwd?: string): Promise<void> {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`${cmd} failed: ${new TextDecoder().decode(out.stderr).slice(0, 500)}`);
  }
}

Deno.test({
  name: "daio nvme: passthrough writes and verified reads on QEMU's emulated NVMe (guest)",
  ignore: guestMissing !== "",
  fn: async () => {
    const { resolveModules } = await import("../../lib/qemu/modules.ts");
    const k = kernel!;
    const tmp = await Deno.makeTempDir({ prefix: "daio_nvme_guest_" });
    let child: Deno.ChildProcess | undefined;
    try {
      const rootfs = `${tmp}/root`;
      await Deno.mkdir(`${rootfs}/bin`, { recursive: true });
      await Deno.mkdir(`${rootfs}/mods`);
      await Deno.copyFile(BUSYBOX, `${rootfs}/bin/busybox`);
      await sh("cc", [
        "-O2",
        "-static",
        "-std=gnu11",
        "-D_GNU_SOURCE",
        "-pthread",
        `-I${root}native`,
        "-o",
        `${rootfs}/chk`,
        `${root}tests/e2e/daio_nvme_guest_main.c`,
        `${root}native/daio_bench.c`,
        `${root}native/daio_ring.c`,
        `${root}native/daio_dev.c`,
        `${root}native/daio_nvme.c`,
        `${root}native/daio_hist.c`,
        "-luring",
      ]);
      // The crc helpers nvme-core's T10-PI support asks the crypto API for by name.
      const depText = await Deno.readTextFile(`${k.modules}/modules.dep`);
      const mods = resolveModules(depText, ["crct10dif_generic", "crc64_rocksoft_generic", "nvme"]);
      const names: string[] = [];
      for (const rel of mods) {
        const name = rel.split("/").at(-1)!.replace(/\.ko(\.xz)?$/, "");
        if (rel.endsWith(".ko.xz")) {
          await sh("sh", ["-c", `xz -dc '${k.modules}/${rel}' > '${rootfs}/mods/${name}.ko'`]);
        } else {
          await Deno.copyFile(`${k.modules}/${rel}`, `${rootfs}/mods/${name}.ko`);
        }
        names.push(name);
      }
      await Deno.writeTextFile(
        `${rootfs}/init`,
        [
          "#!/bin/busybox sh",
          "/bin/busybox mkdir -p /proc /sys /dev",
          "/bin/busybox mount -t proc proc /proc",
          "/bin/busybox mount -t sysfs sys /sys",
          "/bin/busybox mount -t devtmpfs dev /dev",
          `for m in ${names.join(" ")}; do /bin/busybox insmod /mods/$m.ko; done`,
          "i=0",
          "while [ ! -e /dev/ng0n1 ] && [ $i -lt 200 ]; do /bin/busybox sleep 0.1; i=$((i+1)); done",
          "/chk /dev/ng0n1",
          "/bin/busybox poweroff -f",
          "",
        ].join("\n"),
        { mode: 0o755 },
      );
      await sh(
        "sh",
        ["-c", "find . | cpio -o -H newc 2>/dev/null | gzip -1 > ../initrd.gz"],
        rootfs,
      );
      await Deno.truncate(`${tmp}/nvme.img`, 64 << 20).catch(async () => {
        await Deno.writeFile(`${tmp}/nvme.img`, new Uint8Array(0));
        await Deno.truncate(`${tmp}/nvme.img`, 64 << 20);
      });
      // TCG: predictable everywhere (nested KVM may not boot this guest), ~10 s here.
      child = new Deno.Command(QEMU, {
        args: [
          "-accel",
          "tcg",
          "-m",
          "256",
          "-smp",
          "1",
          "-kernel",
          k.vmlinuz,
          "-initrd",
          `${tmp}/initrd.gz`,
          "-append",
          "console=ttyS0 panic=-1 quiet",
          "-display",
          "none",
          "-serial",
          "stdio",
          "-monitor",
          "none",
          "-no-reboot",
          "-drive",
          `file=${tmp}/nvme.img,if=none,id=nv,format=raw`,
          "-device",
          "nvme,serial=daio0001,drive=nv",
        ],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const timer = setTimeout(() => child?.kill("SIGKILL"), 120_000);
      const out = await child.output();
      clearTimeout(timer);
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      const line = text.split(/\r?\n/).find((l) => l.includes("DAIO-NVME-"));
      assert.ok(line, `no result line from the guest; serial tail: ${text.slice(-800)}`);
      const m = line.match(
        /DAIO-NVME-OK nsid=(\d+) lba=(\d+) lbas=(\d+) writes=(\d+) reads=(\d+) mismatches=(\d+)/,
      );
      assert.ok(m, line);
      const [nsid, lba, lbas, writes, reads, mismatches] = m.slice(1).map(Number);
      assert.equal(nsid, 1);
      assert.equal(lba * lbas, 64 << 20, "identify reports the image's capacity");
      assert.equal(writes, (8 << 20) / 4096, "one pass of passthrough writes over 8 MiB");
      assert.ok(reads >= (8 << 20) / 4096, `reads=${reads}`);
      assert.equal(mismatches, 0, "every block read back through passthrough as written");
      // The device engine under replay and serve, on the same namespace: whole transfers (0
      // per NVMe command), a flush, fallocate refused (no passthrough equivalent), data intact.
      const dev = text.split(/\r?\n/).find((l) => l.includes("DAIO-DEV-"));
      assert.ok(dev, `no device-engine line from the guest; serial tail: ${text.slice(-800)}`);
      const d = dev.match(
        /DAIO-DEV-OK feats=(\d+) writes=(\d+) reads=(\d+) bad=(\d+) mismatches=(\d+) fallocate=(-?\d+)/,
      );
      assert.ok(d, dev);
      const [feats, dWrites, dReads, dBad, dMismatches, dFalloc] = d.slice(1).map(Number);
      assert.ok(feats & 64, `the device engine ran with NVMe passthrough (features ${feats})`);
      assert.equal(dWrites, (8 << 20) / 65536);
      assert.equal(dReads, 400);
      assert.equal(dBad, 0, `every command completed whole: ${dev}`);
      assert.equal(dMismatches, 0, "every word read back through the device engine as written");
      assert.equal(dFalloc, -95, "fallocate refused with EOPNOTSUPP");
      // The independent check: the image itself, read on the host, holds the pattern at the
      // offsets the commands named (each 8-byte word is its byte offset XOR the seed, 4242).
      const img = await Deno.readFile(`${tmp}/nvme.img`);
      const dv = new DataView(img.buffer, 16 << 20, 8 << 20);
      for (let off = 0; off < 8 << 20; off += 8) {
        const want = BigInt((16 << 20) + off) ^ 777n;
        if (dv.getBigUint64(off, true) !== want) {
          assert.fail(`image byte ${(16 << 20) + off}: not the device engine's pattern`);
        }
      }
      const words = new DataView(img.buffer, 0, 8 << 20);
      for (let off = 0; off < 8 << 20; off += 8) {
        const got = words.getBigUint64(off, true);
        if (got !== (BigInt(off) ^ 4242n)) {
          assert.fail(`image byte ${off}: ${got.toString(16)} is not the pattern written there`);
        }
      }
    } finally {
      try {
        child?.kill("SIGKILL");
      } catch { /* already exited */ }
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
