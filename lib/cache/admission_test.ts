import assert from "node:assert/strict";
import { ADMISSION_NAMES, createAdmission, UnknownAdmissionError } from "./admission.ts";
import { admitAll } from "./policy.ts";

Deno.test("createAdmission: all is admitAll", async () => {
  assert.equal(await createAdmission("all"), admitAll);
  assert.deepEqual([...ADMISSION_NAMES], ["all", "pdc"]);
});

Deno.test("createAdmission: unknown name names the known ones", () => {
  assert.throws(() => createAdmission("lru"), UnknownAdmissionError);
  assert.throws(() => createAdmission("lru"), /known: all, pdc/);
});

Deno.test("createAdmission: pdc with ranges refuses journal reads and writes only", async () => {
  const f = await createAdmission("pdc", { ranges: [{ off: 1 << 20, len: 1 << 20 }] });
  assert.equal(f.name, "pdc");
  assert.equal(f.admit({ ts: 0, op: "W", off: (1 << 20) + 4096, len: 4096 }), false);
  assert.equal(f.admit({ ts: 0, op: "R", off: (1 << 20) - 4096, len: 8192 }), false);
  assert.equal(f.admit({ ts: 0, op: "W", off: 2 << 20, len: 4096 }), true);
  assert.equal(f.admit({ ts: 0, op: "F", off: 0, len: 0 }), true);
});

Deno.test("createAdmission: pdc honours an upstream journal tag", async () => {
  const f = await createAdmission("pdc");
  assert.equal(f.admit({ ts: 0, op: "W", off: 0, len: 4096, class: "journal" }), false);
  assert.equal(f.admit({ ts: 0, op: "W", off: 0, len: 4096 }), true);
});

Deno.test("createAdmission: pdc with a non-image file rejects with one line", async () => {
  const tmp = await Deno.makeTempFile();
  try {
    await Deno.writeFile(tmp, new Uint8Array(65536));
    await assert.rejects(
      async () => await createAdmission("pdc", { image: tmp }),
      /unknown file system/,
    );
  } finally {
    await Deno.remove(tmp);
  }
});
