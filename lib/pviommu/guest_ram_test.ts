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
