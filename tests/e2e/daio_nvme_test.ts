import assert from "node:assert/strict";
import { nvmeGenericDevices, nvmeNamespace } from "../../lib/block/daio_nvme.ts";

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
