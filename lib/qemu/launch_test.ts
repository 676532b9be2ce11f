import assert from "node:assert/strict";
import { kernelCommandLine, qemuArgs } from "./launch.ts";
import type { GuestImage } from "./guest.ts";

const guest: GuestImage = {
  kernel: "/k/vmlinuz",
  initramfs: "/k/initrd.gz",
  kernelVersion: "6.1.0-test",
  hash: "0123456789abcdef",
  modules: [],
  workloads: ["boot", "fsync-small"],
  execMarkerHex: "",
  built: false,
};
const files = { qmpSocket: "/t/qmp.sock", serialLog: "/t/serial.log" };

/** The value after `flag` (the first time it appears). */
function after(argv: string[], flag: string): string | undefined {
  const i = argv.indexOf(flag);
  return i < 0 ? undefined : argv[i + 1];
}

Deno.test("qemuArgs: an NBD disk, KVM, and the serial and QMP paths", () => {
  const argv = qemuArgs(guest, { accel: "kvm", reason: "t" }, {
    workload: "fsync-small",
    nbdSocket: "/t/disk.sock",
    nbdExport: "e",
    diskDeviceProps: "iommu_platform=on",
    extraQemuArgs: ["-device", "intel-iommu"],
  }, files);
  assert.equal(after(argv, "-accel"), "kvm");
  assert.equal(after(argv, "-cpu"), "host");
  assert.equal(after(argv, "-machine"), "q35");
  assert.equal(after(argv, "-qmp"), "unix:/t/qmp.sock,server=on,wait=off");
  assert.equal(after(argv, "-chardev"), "file,id=hvkit-serial,path=/t/serial.log");
  assert.deepEqual(JSON.parse(after(argv, "-blockdev")!).file, {
    driver: "nbd",
    server: { type: "unix", path: "/t/disk.sock" },
    export: "e",
  });
  assert.equal(
    after(argv, "-device"),
    "virtio-blk-pci,drive=hvkit-disk0,id=hvkit-vda,iommu_platform=on",
  );
  assert.deepEqual(argv.slice(-2), ["-device", "intel-iommu"]);
  assert.equal(after(argv, "-append"), kernelCommandLine({ workload: "fsync-small" }, true));
});

Deno.test("qemuArgs: no disk, TCG, RAM in a shared file", () => {
  const argv = qemuArgs(guest, { accel: "tcg", reason: "t" }, {
    workload: "boot",
    memMiB: 128,
    sharedMemPath: "/dev/shm/ram",
  }, files);
  assert.equal(after(argv, "-cpu"), "max");
  assert.equal(after(argv, "-machine"), "q35,memory-backend=hvkit-mem");
  assert.equal(
    after(argv, "-object"),
    "memory-backend-file,id=hvkit-mem,size=128M,mem-path=/dev/shm/ram,share=on",
  );
  assert.equal(argv.includes("-blockdev"), false);
  assert.match(after(argv, "-append")!, /hvkit_disk=none/);
});
