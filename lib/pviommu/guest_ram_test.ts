import assert from "node:assert/strict";
import { openGuestRam } from "./guest_ram.ts";
import { NativeError } from "../ffi/errno.ts";

Deno.test("guest RAM: a shared mapping of a memory file reads and writes the file", async () => {
  const file = await Deno.makeTempFile({ prefix: "pviommu-ram-" });
  try {
    const init = new Uint8Array(3 * 4096);
    for (let i = 0; i < init.length; i++) init[i] = i & 0xff;
    await Deno.writeFile(file, init);
    const ram = openGuestRam(file, { writable: true });
    assert.equal(ram.bytes.length, init.length);
    assert.deepEqual(ram.bytes.slice(4096, 4100), init.slice(4096, 4100));
    ram.bytes.set([9, 9, 9], 8192);
    ram.close();
    assert.deepEqual((await Deno.readFile(file)).slice(8192, 8195), Uint8Array.of(9, 9, 9));
    assert.throws(
      () => openGuestRam(file + ".missing", { writable: false }),
      (e: Error) => e instanceof NativeError && e.code === "ENOENT",
    );
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("guest RAM: a file shrinking under the mapping reads as zeroes and is reported, no SIGBUS", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pviommu-shrink-" });
  const file = `${dir}/ram`;
  await Deno.writeFile(file, new Uint8Array(4 * 4096).fill(7));
  // In a child process: before the fix, the SIGBUS killed whoever touched the page.
  const script = `${dir}/touch.ts`;
  await Deno.writeTextFile(
    script,
    `import { openGuestRam } from ${
      JSON.stringify(new URL("./guest_ram.ts", import.meta.url).href)
    };
const ram = openGuestRam(${JSON.stringify(file)}, { writable: true });
const before = ram.shrunk;
Deno.truncateSync(${JSON.stringify(file)}, 4096);
const inFile = ram.bytes[100];
const past = ram.bytes[2 * 4096 + 5];
ram.bytes[3 * 4096] = 1;
console.log(JSON.stringify({ before, inFile, past, after: ram.shrunk }));
ram.close();
console.log(JSON.stringify({ closed: ram.shrunk }));`,
  );
  try {
    const o = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--quiet", script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(o.stderr);
    assert.equal(o.code, 0, `exit ${o.code} signal ${o.signal}: ${err}`);
    const [first, second] = new TextDecoder().decode(o.stdout).trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    assert.deepEqual(first, { before: false, inFile: 7, past: 0, after: true });
    assert.deepEqual(second, { closed: false });
    assert.equal((await Deno.stat(file)).size, 4096, "the file keeps its new size");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
