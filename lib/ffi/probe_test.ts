import assert from "node:assert/strict";
import { probeCapabilities } from "./probe.ts";
import { check, NativeError } from "./errno.ts";

Deno.test("probe reports every capability with a reason when unusable", () => {
  const caps = probeCapabilities(Deno.makeTempDirSync());
  assert.deepEqual(caps.map((c) => c.name), ["io_uring", "o_direct", "kvm", "vfio", "iommufd"]);
  for (const c of caps) {
    if (!c.ok) assert.match(c.error ?? "", /^E[A-Z0-9]+$/, `${c.name}: ${c.detail}`);
  }
  const kvmPresent = (() => {
    try {
      Deno.statSync("/dev/kvm");
      return true;
    } catch {
      return false;
    }
  })();
  if (!kvmPresent) assert.equal(caps.find((c) => c.name === "kvm")?.error, "ENOENT");
});

Deno.test("probe: O_DIRECT on a missing directory names ENOENT", () => {
  const caps = probeCapabilities("/nonexistent-hvkit-dir");
  assert.equal(caps.find((c) => c.name === "o_direct")?.error, "ENOENT");
});

Deno.test("check turns -errno into a NativeError with the errno name", () => {
  assert.equal(check(5, "x"), 5);
  assert.throws(() => check(-2, "open disk.img"), (e: unknown) => {
    assert.ok(e instanceof NativeError);
    assert.equal(e.code, "ENOENT");
    assert.equal(e.errno, 2);
    assert.match(e.message, /^open disk.img: ENOENT/);
    return true;
  });
});
