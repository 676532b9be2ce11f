/**
 * `virtav scan` stops on SIGINT/SIGTERM while the native matcher is inside one long scan
 * (issue 15): it exits 130, says the result is partial, and prints what it found before the
 * signal. The signal is sent once the input is mapped (seen in /proc/PID/maps), not after a
 * delay, so the test does not depend on the machine's speed.
 */
import assert from "node:assert/strict";

const BIN = new URL("../../bin/virtav", import.meta.url).pathname;

async function mapped(pid: number, path: string): Promise<boolean> {
  try {
    return (await Deno.readTextFile(`/proc/${pid}/maps`)).includes(path);
  } catch {
    return false;
  }
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.test(`virtav scan: ${signal} inside a long native scan gives a marked partial result`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "virtav-interrupt-" });
    try {
      // 16 GiB of holes with a match near the start: the scan takes far longer than the test
      const big = `${dir}/big.img`;
      const f = await Deno.open(big, { create: true, write: true });
      await f.truncate(16 * 2 ** 30);
      await f.seek(4096, Deno.SeekMode.Start);
      await f.write(new TextEncoder().encode("....virtav-interrupt-marker...."));
      f.close();
      await Deno.writeTextFile(`${dir}/m.ndb`, "Int.Marker:0:*:7669727461762d696e74657272757074\n");
      const child = new Deno.Command(BIN, {
        args: [
          "scan",
          "--no-db",
          "--no-cache",
          "--all-matches",
          "--output",
          "json",
          "-d",
          `${dir}/m.ndb`,
          big,
        ],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      while (!(await mapped(child.pid, big))) await new Promise((r) => setTimeout(r, 20));
      child.kill(signal);
      const o = await child.output();
      const out = new TextDecoder().decode(o.stdout), err = new TextDecoder().decode(o.stderr);
      assert.equal(o.code, 130, err);
      assert.match(err, /interrupted: partial result/);
      const lines = out.trim().split("\n").map((l) => JSON.parse(l));
      assert.deepEqual(lines.at(-1), { status: "INTERRUPTED", partial: true, found: 1 });
      assert.equal(lines[0].signature, "Int.Marker");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}
