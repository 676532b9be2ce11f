import assert from "node:assert/strict";
import { moduleName, parseModulesDep, resolveModules } from "./modules.ts";
import { GuestSetupError } from "./errors.ts";

const DEP = [
  "kernel/fs/mbcache.ko:",
  "kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko",
  "kernel/fs/jbd2/jbd2.ko:",
  "kernel/crypto/crc32c_generic.ko:",
  "kernel/lib/crc16.ko:",
  "kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko",
  "kernel/drivers/virtio/virtio_ring.ko:",
  "kernel/drivers/virtio/virtio_pci_modern_dev.ko:",
  "kernel/drivers/virtio/virtio_pci_legacy_dev.ko:",
  "kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko " +
  "kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko " +
  "kernel/drivers/virtio/virtio_ring.ko",
  "kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko " +
  "kernel/drivers/virtio/virtio_ring.ko",
].join("\n");

Deno.test("modules: every module after its dependencies, each once", () => {
  const order = resolveModules(DEP, ["virtio_pci", "virtio_blk", "crc32c_generic", "ext4"])
    .map(moduleName);
  assert.equal(new Set(order).size, order.length);
  assert.deepEqual(
    new Set(order),
    new Set([
      "virtio_ring",
      "virtio",
      "virtio_pci_modern_dev",
      "virtio_pci_legacy_dev",
      "virtio_pci",
      "virtio_blk",
      "crc16",
      "mbcache",
      "jbd2",
      "crc32c_generic",
      "ext4",
    ]),
  );
  const table = parseModulesDep(DEP);
  for (const [i, m] of order.entries()) {
    for (const d of table.get(m)!.deps) {
      assert.ok(order.indexOf(moduleName(d)) < i, `${d} before ${m}`);
    }
  }
});

Deno.test("modules: names compare with - and _ alike; compressed modules keep their path", () => {
  assert.equal(moduleName("kernel/crypto/crc32c-generic.ko.xz"), "crc32c_generic");
  assert.deepEqual(
    resolveModules("kernel/a-b.ko.xz: kernel/c.ko.zst\nkernel/c.ko.zst:\n", ["a_b"]),
    ["kernel/c.ko.zst", "kernel/a-b.ko.xz"],
  );
});

Deno.test("modules: a missing module or a cycle is a clear error", () => {
  assert.throws(() => resolveModules(DEP, ["nope"]), GuestSetupError);
  assert.throws(
    () => resolveModules("a.ko: b.ko\n", ["a"]),
    /module b \(needed by a\) is not in modules.dep/,
  );
  assert.throws(() => resolveModules("a.ko: b.ko\nb.ko: a.ko\n", ["a"]), /cycle/);
  assert.deepEqual(resolveModules("a.ko: b.ko\n", ["a"], new Set(["b"])), ["a.ko"]);
});

Deno.test("modules: the real modules.dep of this machine, if there is one", () => {
  let text: string;
  try {
    const v = [...Deno.readDirSync("/lib/modules")][0].name;
    text = Deno.readTextFileSync(`/lib/modules/${v}/modules.dep`);
  } catch {
    console.log("modules_test: no /lib/modules/*/modules.dep here; skipping the real-table check");
    return;
  }
  const order = resolveModules(text, ["virtio_pci", "virtio_blk", "crc32c_generic", "ext4"])
    .map(moduleName);
  assert.ok(order.indexOf("virtio_pci_modern_dev") < order.indexOf("virtio_pci"));
  assert.ok(order.indexOf("jbd2") < order.indexOf("ext4"));
});
