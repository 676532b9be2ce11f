import assert from "node:assert/strict";
import { openFileDevice } from "../../lib/block/file_device.ts";

const dir = new URL("../../.cache/", import.meta.url).pathname;

Deno.test("daio file device: unaligned O_DIRECT writes are what qemu-io reads back", async () => {
  await Deno.mkdir(dir, { recursive: true });
  const path = await Deno.makeTempFile({ dir, prefix: "daio_fd_e2e_", suffix: ".img" });
  await Deno.truncate(path, 1 << 20);
  try {
    const dev = await openFileDevice(path, { direct: true, queues: 2, queueDepth: 4 });
    // Neighbouring writes sharing 4 KiB blocks, issued together.
    const pieces: [number, number, number][] = [[100, 3000, 0x11], [3100, 5000, 0x22], [
      8100,
      123_457,
      0x33,
    ], [131_557, 1, 0x44]];
    await Promise.all(pieces.map(([off, len, v]) => dev.write(off, new Uint8Array(len).fill(v))));
    await dev.zero(200_000, 70_000, { noHole: true, fua: true });
    await dev.close();
    const cmds = pieces.flatMap(([off, len, v]) => ["-c", `read -P ${v} ${off} ${len}`]);
    cmds.push("-c", "read -P 0 0 100", "-c", "read -P 0 3100 0", "-c", "read -P 0 200000 70000");
    const out = await new Deno.Command("qemu-io", {
      args: ["-f", "raw", "-r", ...cmds, path],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, text);
    assert.doesNotMatch(text, /Pattern verification failed/);
  } finally {
    await Deno.remove(path);
  }
});

/** A directory whose file system refuses O_DIRECT, if this machine has one. */
function refusingDir(): string | null {
  for (const d of ["/dev/shm", "/run", "/tmp"]) {
    try {
      const p = `${d}/.daio-probe-${crypto.randomUUID()}`;
      Deno.writeFileSync(p, new Uint8Array(4096));
      const rc = new Deno.Command("dd", {
        args: [`if=${p}`, "of=/dev/null", "bs=4096", "count=1", "iflag=direct"],
        stderr: "null",
        stdout: "null",
      }).outputSync().code;
      Deno.removeSync(p);
      if (rc !== 0) return d;
    } catch { /* not usable */ }
  }
  return null;
}

const refusing = refusingDir();
if (!refusing) {
  console.log(
    "skip O_DIRECT fallback test: every file system here (tmpfs included) takes O_DIRECT",
  );
}

Deno.test({
  name: "daio file device: O_DIRECT refused falls back with auto and fails with true",
  ignore: !refusing,
  fn: async () => {
    const path = `${refusing}/daio-fallback-${crypto.randomUUID()}.img`;
    await Deno.writeFile(path, new Uint8Array(8192));
    try {
      await assert.rejects(openFileDevice(path, { direct: true }), /EINVAL/);
      const dev = await openFileDevice(path, { direct: "auto" });
      await dev.write(1, new Uint8Array([7]));
      await dev.close();
    } finally {
      await Deno.remove(path);
    }
  },
});
