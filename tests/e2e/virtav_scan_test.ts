/**
 * `virtav scan` behaviour a user sees on the command line: hash signatures on memory inputs
 * (not applied, said so) and clamscan-compatible names (`--clamscan-names`).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";

const BIN = new URL("../../bin/virtav", import.meta.url).pathname;

async function virtav(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const r = await new Deno.Command(BIN, { args, stdout: "piped", stderr: "piped" }).output();
  const d = new TextDecoder();
  return { code: r.code, out: d.decode(r.stdout), err: d.decode(r.stderr) };
}

Deno.test("virtav scan: hash signatures match whole files, and on memory are counted as not applied", async () => {
  const dir = await Deno.makeTempDir({ prefix: "virtav-scan-" });
  try {
    const ram = new Uint8Array(64 * 1024);
    for (let i = 0; i < ram.length; i++) ram[i] = (i * 31 + 7) & 0xff;
    await Deno.writeFile(`${dir}/guest.ram`, ram);
    const md5 = createHash("md5").update(ram).digest("hex");
    await Deno.writeTextFile(`${dir}/h.hdb`, `${md5}:${ram.length}:Hash.WholeRam\n`);
    const common = ["scan", "--no-db", "--no-eicar", "--no-cache", "-d", `${dir}/h.hdb`];
    const file = await virtav([...common, `${dir}/guest.ram`]);
    assert.equal(file.code, 1, file.err);
    assert.equal(file.out, `${dir}/guest.ram: Hash.WholeRam FOUND\n`);
    const mem = await virtav([...common, "--memory", `${dir}/guest.ram`]);
    assert.equal(mem.code, 0, mem.err);
    assert.equal(mem.out, `${dir}/guest.ram: OK\n`);
    assert.match(mem.err, /1 hash signatures \(\.hdb\/\.hsb\) not applied/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
