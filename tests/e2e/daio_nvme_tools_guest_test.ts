/**
 * The real tools on NVMe passthrough: `daio bench` (write, then random reads verified), `daio
 * replay` (write, read, flush) and `qbic-cache serve` (read, write, flush through a minimal NBD
 * client, NBD_CMD_* over its Unix socket) run by Deno on `/dev/ng0n1` inside a QEMU guest (TCG,
 * Debian's kernel, busybox) whose `-device nvme` is the target. daio_nvme_test.ts drives the same
 * engine through a small static C driver; this one runs the TypeScript tools themselves: the deno
 * binary, its libraries, libhvkit.so and the repository's lib/, tools/ and node_modules go in on
 * an ext4 data disk (mkfs.ext4 -d), and the guest runs them in a chroot. Under TCG each tool start
 * takes ~30 s (module loading), so the whole test takes 3-4 minutes. The guest has no NBD client
 * of its own (busybox has none), so the test brings a minimal one (NBD_CLIENT below, oldstyle
 * export-name negotiation and simple replies: all this check needs).
 */
import assert from "node:assert/strict";
import { exists } from "./guest_fixture.ts";

const root = new URL("../../", import.meta.url).pathname;
const QEMU = "/usr/bin/qemu-system-x86_64";
const BUSYBOX = "/bin/busybox";
const MKFS = "/usr/sbin/mkfs.ext4";
const SEED = 5151;

/** The newest kernel in /boot with its modules, or null. */
function guestKernel(): { vmlinuz: string; modules: string } | null {
  try {
    const versions = [...Deno.readDirSync("/boot")]
      .map((e) => e.name.match(/^vmlinuz-(.+)$/)?.[1])
      .filter((v): v is string => v !== undefined && exists(`/lib/modules/${v}/modules.dep`))
      .sort();
    const v = versions.at(-1);
    return v ? { vmlinuz: `/boot/vmlinuz-${v}`, modules: `/lib/modules/${v}` } : null;
  } catch {
    return null;
  }
}

const kernel = guestKernel();
const lib = `${root}native/build/libhvkit.so`;
const missing = !exists(QEMU)
  ? `${QEMU} is not installed`
  : !exists(BUSYBOX)
  ? `${BUSYBOX} (busybox-static) is not installed`
  : !exists(MKFS)
  ? `${MKFS} (e2fsprogs) is not installed`
  : !kernel
  ? "no /boot/vmlinuz-* with /lib/modules (linux-image-amd64)"
  : !exists(lib)
  ? "native/build/libhvkit.so is not built"
  : "";
if (missing) console.log(`skip daio tools NVMe guest test: ${missing}`);

async function sh(cmd: string, args: string[], cwd?: string): Promise<string> {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`${cmd} failed: ${new TextDecoder().decode(out.stderr).slice(0, 500)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

/** The shared libraries a program needs (ldd), with the loader. */
async function libsOf(path: string): Promise<string[]> {
  const text = await sh("ldd", [path]);
  return [...text.matchAll(/(?:=>\s*)?(\/\S+)\s+\(0x/g)].map((m) => m[1]);
}

/**
 * A minimal NBD client run by Deno in the guest: Unix socket, fixed newstyle, NBD_OPT_EXPORT_NAME,
 * simple replies. Reads bench's pattern back, writes a block at 48 MiB, flushes, reads it back,
 * disconnects; prints `HV-NBD ok size=N` or fails.
 */
const NBD_CLIENT = `
const [path, seedText] = Deno.args;
const seed = BigInt(seedText);
const c = await Deno.connect({ transport: "unix", path });
async function readN(n) {
  const b = new Uint8Array(n);
  for (let o = 0; o < n;) {
    const r = await c.read(b.subarray(o));
    if (r === null) throw new Error("server closed the connection");
    o += r;
  }
  return b;
}
async function writeAll(b) {
  for (let o = 0; o < b.length;) o += await c.write(b.subarray(o));
}
const hello = new DataView((await readN(18)).buffer);
if (hello.getBigUint64(0) !== 0x4e42444d41474943n) throw new Error("no NBDMAGIC");
if (hello.getBigUint64(8) !== 0x49484156454f5054n) throw new Error("not newstyle");
const noZeroes = (hello.getUint16(16) & 2) !== 0;
const cf = new DataView(new ArrayBuffer(4));
cf.setUint32(0, 1 | (noZeroes ? 2 : 0));
await writeAll(new Uint8Array(cf.buffer));
const name = new TextEncoder().encode("ng0n1");
const opt = new DataView(new ArrayBuffer(16 + name.length));
opt.setBigUint64(0, 0x49484156454f5054n);
opt.setUint32(8, 1);
opt.setUint32(12, name.length);
new Uint8Array(opt.buffer).set(name, 16);
await writeAll(new Uint8Array(opt.buffer));
const size = new DataView((await readN(noZeroes ? 10 : 134)).buffer).getBigUint64(0);
let handle = 1n;
async function cmd(type, off, len, data) {
  const h = new DataView(new ArrayBuffer(28));
  h.setUint32(0, 0x25609513);
  h.setUint16(6, type);
  h.setBigUint64(8, handle);
  h.setBigUint64(16, BigInt(off));
  h.setUint32(24, len);
  await writeAll(new Uint8Array(h.buffer));
  if (data) await writeAll(data);
  if (type === 2) return null;
  const r = new DataView((await readN(16)).buffer);
  if (r.getUint32(0) !== 0x67446698) throw new Error("not a simple reply");
  if (r.getUint32(4) !== 0) throw new Error("NBD error " + r.getUint32(4) + " on command " + type);
  if (r.getBigUint64(8) !== handle++) throw new Error("reply to another handle");
  return type === 0 ? await readN(len) : null;
}
const got = new DataView((await cmd(0, 0, 65536)).buffer);
for (let off = 0; off < 65536; off += 8) {
  if (got.getBigUint64(off, true) !== (BigInt(off) ^ seed)) throw new Error("pattern at " + off);
}
const block = new Uint8Array(4096).fill(0xa5);
await cmd(1, 48 << 20, 4096, block);
await cmd(3, 0, 0);
const back = await cmd(0, 48 << 20, 4096);
if (!back.every((b) => b === 0xa5)) throw new Error("block written at 48 MiB did not read back");
await cmd(2, 0, 0);
console.log("HV-NBD ok size=" + size);
`;

/** The guest's script (in the chroot): each tool run prints one `HV-RUN name rc json` line. */
const RUN_SH = [
  "#!/bin/busybox sh",
  "export HOME=/tmp DENO_DIR=/tmp/denodir NO_COLOR=1",
  "D='/deno run --quiet --no-prompt --config /repo/deno.json -A /repo/tools/daio/main.ts'",
  'step() { n=$1; shift; $D "$@" --no-db --output json > /tmp/out.json 2> /tmp/err.txt; ' +
  'echo "HV-RUN $n $? $(/bin/busybox cat /tmp/out.json)"; ' +
  'echo "HV-ERR $n $(/bin/busybox head -c 300 /tmp/err.txt)"; }',
  `step write bench --rw write --bs 4096 --iodepth 8 --size 16M --verify --seed ${SEED} /dev/ng0n1`,
  `step read bench --rw randread --bs 4096 --iodepth 16 --queues 2 --size 16M --runtime 1s ` +
  `--verify --seed ${SEED} /dev/ng0n1`,
  'echo \'{"ts":0,"op":"W","off":33554432,"len":65536,"dev":"n"}\' > /tmp/t.jsonl',
  'echo \'{"ts":1,"op":"R","off":33554432,"len":65536,"dev":"n"}\' >> /tmp/t.jsonl',
  'echo \'{"ts":2,"op":"F","off":0,"len":0,"dev":"n"}\' >> /tmp/t.jsonl',
  "step replay replay /tmp/t.jsonl --target /dev/ng0n1",
  "Q='/deno run --quiet --no-prompt --config /repo/deno.json -A /repo/tools/qbic-cache/main.ts'",
  "$Q serve --no-db --socket /tmp/s.sock --cache-size 1M /dev/ng0n1 > /tmp/serve.txt 2>&1 &",
  "pid=$!",
  "i=0; while [ ! -S /tmp/s.sock ] && [ $i -lt 600 ]; do /bin/busybox sleep 0.5; i=$((i+1)); done",
  `/deno run --quiet --no-prompt -A /nbd_client.js /tmp/s.sock ${SEED} 2>&1 | /bin/busybox head -c 400`,
  'kill $pid; wait $pid; echo "HV-SERVE-EXIT $?"',
  "/bin/busybox head -c 400 /tmp/serve.txt",
  "",
].join("\n");

Deno.test({
  name: "daio tools: bench and replay on NVMe passthrough inside the QEMU guest (TCG)",
  ignore: missing !== "",
  fn: async () => {
    const { resolveModules } = await import("../../lib/qemu/modules.ts");
    const k = kernel!;
    const tmp = await Deno.makeTempDir({ prefix: "daio_tools_guest_" });
    let child: Deno.ChildProcess | undefined;
    try {
      // The data disk: deno, the libraries, the repository's runtime part, a busybox for the chroot.
      const data = `${tmp}/data`;
      for (const d of ["lib64", "bin", "tmp", "dev", "proc", "sys", "repo/native/build"]) {
        await Deno.mkdir(`${data}/${d}`, { recursive: true });
      }
      const deno = Deno.execPath();
      await Deno.copyFile(deno, `${data}/deno`);
      await Deno.chmod(`${data}/deno`, 0o755);
      await Deno.copyFile(BUSYBOX, `${data}/bin/busybox`);
      for (const l of new Set([...await libsOf(deno), ...await libsOf(lib)])) {
        const dst = `${data}${l}`;
        await Deno.mkdir(dst.slice(0, dst.lastIndexOf("/")), { recursive: true });
        await Deno.copyFile(await Deno.realPath(l), dst);
      }
      await Deno.copyFile(lib, `${data}/repo/native/build/libhvkit.so`);
      await sh("cp", [
        "-r",
        `${root}lib`,
        `${root}tools`,
        `${root}deno.json`,
        `${root}deno.lock`,
        `${root}node_modules`,
        `${data}/repo/`,
      ]);
      await Deno.writeTextFile(`${data}/run.sh`, RUN_SH, { mode: 0o755 });
      await Deno.writeTextFile(`${data}/nbd_client.js`, NBD_CLIENT);
      await sh("truncate", ["-s", "1G", `${tmp}/data.img`]);
      await sh(MKFS, ["-q", "-F", "-d", data, `${tmp}/data.img`]);
      await Deno.remove(data, { recursive: true });

      // The initramfs: busybox, the modules, an init that mounts the data disk and runs run.sh.
      const rootfs = `${tmp}/root`;
      await Deno.mkdir(`${rootfs}/bin`, { recursive: true });
      await Deno.mkdir(`${rootfs}/mods`);
      await Deno.copyFile(BUSYBOX, `${rootfs}/bin/busybox`);
      const depText = await Deno.readTextFile(`${k.modules}/modules.dep`);
      // The crc helpers nvme-core and ext4 ask the crypto API for by name, then the drivers.
      const want = [
        "crct10dif_generic",
        "crc64_rocksoft_generic",
        "crc32c_generic",
        "nvme",
        "ext4",
      ];
      const mods = resolveModules(depText, [...want, "virtio_pci", "virtio_blk"]);
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
      const bb = "/bin/busybox";
      await Deno.writeTextFile(
        `${rootfs}/init`,
        [
          `#!${bb} sh`,
          `${bb} mkdir -p /proc /sys /dev /mnt`,
          `${bb} mount -t proc proc /proc`,
          `${bb} mount -t sysfs sys /sys`,
          `${bb} mount -t devtmpfs dev /dev`,
          `for m in ${names.join(" ")}; do ${bb} insmod /mods/$m.ko 2>/dev/null; done`,
          "i=0",
          `while { [ ! -e /dev/ng0n1 ] || [ ! -e /dev/vda ]; } && [ $i -lt 300 ]; do ${bb} sleep 0.1; i=$((i+1)); done`,
          `${bb} mount -t ext4 /dev/vda /mnt || echo HV-MOUNT-FAILED`,
          `${bb} mount -t proc proc /mnt/proc`,
          `${bb} mount -t sysfs sys /mnt/sys`,
          `${bb} mount -t devtmpfs dev /mnt/dev`,
          `${bb} chroot /mnt /run.sh`,
          `${bb} sync`,
          `${bb} poweroff -f`,
          "",
        ].join("\n"),
        { mode: 0o755 },
      );
      await sh(
        "sh",
        ["-c", "find . | cpio -o -H newc 2>/dev/null | gzip -1 > ../initrd.gz"],
        rootfs,
      );
      await sh("truncate", ["-s", "64M", `${tmp}/nvme.img`]);
      child = new Deno.Command(QEMU, {
        args: [
          ...["-accel", "tcg", "-cpu", "max", "-m", "2048", "-smp", "1"],
          ...["-kernel", k.vmlinuz, "-initrd", `${tmp}/initrd.gz`],
          ...["-append", "console=ttyS0 panic=-1 quiet", "-display", "none"],
          ...["-serial", "stdio", "-monitor", "none", "-no-reboot"],
          ...["-drive", `file=${tmp}/nvme.img,if=none,id=nv,format=raw`],
          ...["-device", "nvme,serial=daio0002,drive=nv"],
          ...["-drive", `file=${tmp}/data.img,if=virtio,format=raw`],
        ],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      // TCG on a loaded 2-core machine: ~3 minutes measured at load 15; the bound is generous.
      const timer = setTimeout(() => child?.kill("SIGKILL"), 900_000);
      const out = await child.output();
      clearTimeout(timer);
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert.ok(!text.includes("HV-MOUNT-FAILED"), `data disk not mounted: ${text.slice(-800)}`);
      const runs = new Map<string, { rc: number; json: Record<string, unknown> }>();
      for (const m of text.matchAll(/HV-RUN (\w+) (\d+) (\{.*\})\r?$/gm)) {
        runs.set(m[1], { rc: Number(m[2]), json: JSON.parse(m[3]) });
      }
      for (const name of ["write", "read", "replay"]) {
        const r = runs.get(name);
        assert.ok(r, `no ${name} result from the guest; serial tail: ${text.slice(-1500)}`);
        assert.equal(r.rc, 0, `${name}: ${JSON.stringify(r.json)}`);
      }
      type Dir = { ios: number };
      const write = runs.get("write")!.json as { write: Dir; features: string[] };
      assert.equal(write.write.ios, (16 << 20) / 4096, "one pass of writes over 16 MiB");
      assert.ok(write.features.includes("nvme_passthrough"), write.features.join(" "));
      // --verify: a mismatch makes the run fail (rc above); this says reads did happen.
      const read = runs.get("read")!.json as { read: Dir; features: string[] };
      assert.ok(read.read.ios > 0);
      assert.ok(read.features.includes("nvme_passthrough"), read.features.join(" "));
      const replay = runs.get("replay")!.json as { read: Dir; write: Dir; other: Dir };
      assert.equal(replay.write.ios, 1);
      assert.equal(replay.read.ios, 1);
      assert.equal(replay.other.ios, 1, "the flush");
      // serve: the client read bench's pattern, wrote, flushed and read back through NBD.
      const nbd = text.match(/HV-NBD ok size=(\d+)/);
      assert.ok(nbd, `no NBD result from the guest; serial tail: ${text.slice(-1500)}`);
      assert.equal(Number(nbd[1]), 64 << 20, "serve exports the namespace's capacity");
      assert.match(text, /HV-SERVE-EXIT 0\b/, `serve did not exit cleanly: ${text.slice(-1500)}`);
      // The independent check, on the host: the image holds bench's pattern (each 8-byte word
      // its offset XOR the seed) and replay's write landed where its record said.
      const img = await Deno.readFile(`${tmp}/nvme.img`);
      const dv = new DataView(img.buffer);
      for (let off = 0; off < 16 << 20; off += 8) {
        if (dv.getBigUint64(off, true) !== (BigInt(off) ^ BigInt(SEED))) {
          assert.fail(`image byte ${off}: not the pattern bench wrote`);
        }
      }
      assert.ok(img.subarray(32 << 20, (32 << 20) + 65536).some((b) => b !== 0), "replay's write");
      const nbdBlock = img.subarray(48 << 20, (48 << 20) + 4096);
      assert.ok(nbdBlock.every((b) => b === 0xa5), "the block written through serve, on the image");
    } finally {
      try {
        child?.kill("SIGKILL");
      } catch { /* already exited */ }
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
