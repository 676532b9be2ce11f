import assert from "node:assert/strict";
import { ABI_VERSION, native, openLibrary } from "./ffi.ts";

const HEADER = new URL("../../native/hvkit.h", import.meta.url).pathname;

/** Builds a one-function library whose hv_abi_version() returns `version`. */
async function tinyLibrary(version: number): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "hvkit-abi-" });
  await Deno.writeTextFile(`${dir}/t.c`, `int hv_abi_version(void) { return ${version}; }\n`);
  const out = await new Deno.Command("cc", {
    args: ["-shared", "-fPIC", "-o", `${dir}/libt.so`, `${dir}/t.c`],
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return `${dir}/libt.so`;
}

Deno.test("abi: native/hvkit.h and lib/ffi name the same version, and the built library has it", () => {
  const m = /#define HV_ABI_VERSION (\d+)/.exec(Deno.readTextFileSync(HEADER));
  assert.ok(m, "HV_ABI_VERSION in native/hvkit.h");
  assert.equal(Number(m[1]), ABI_VERSION);
  assert.equal(native().hv_abi_version(), ABI_VERSION);
});

Deno.test("abi: a library of another ABI version is refused in one line that says to run make", async () => {
  const path = await tinyLibrary(ABI_VERSION - 1);
  assert.throws(() => openLibrary(path), (e: Error) => {
    assert.equal(
      e.message.split(": run")[0],
      `the native library ${path} has ABI version ${
        ABI_VERSION - 1
      }, this checkout needs ${ABI_VERSION}`,
    );
    assert.match(e.message, /run `make -C native`/);
    assert.ok(!e.message.includes("\n"));
    return true;
  });
});

Deno.test("abi: a library with the right version but missing symbols is refused, naming make", async () => {
  const path = await tinyLibrary(ABI_VERSION);
  assert.throws(() => openLibrary(path), (e: Error) => {
    assert.match(
      e.message,
      /^the native library .* lacks symbols this checkout uses \(.*undefined symbol/,
    );
    assert.match(e.message, /make -C native/);
    assert.ok(!e.message.includes("\n"));
    return true;
  });
});

Deno.test("abi: a missing library is a one-line error naming the file", () => {
  assert.throws(
    () => openLibrary("/nonexistent/libhvkit.so"),
    /^Error: cannot load the native library \/nonexistent\/libhvkit.so \(build it with/,
  );
});

Deno.test("abi: a tool run against a stale library says so in one line and exits non-zero", async () => {
  const path = await tinyLibrary(ABI_VERSION + 1);
  const tool = new URL("../../tools/pviommu/main.ts", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", tool, "doctor", "--no-db"],
    env: { HVKIT_NATIVE_LIB: path },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr);
  assert.notEqual(out.code, 0);
  assert.match(
    err,
    new RegExp(`ABI version ${ABI_VERSION + 1}, this checkout needs ${ABI_VERSION}`),
  );
});
