/**
 * A file that shrinks under its mapping (issue 15): touching a page past its new end raises
 * SIGBUS, which killed the process. The native layer re-checks the size and guards its reads:
 * the call fails with ESTALE and the process lives on.
 */
import assert from "node:assert/strict";
import { native } from "./ffi.ts";

const ESTALE = -116;
const MiB = 1 << 20;

/** A 1 MiB file mapped through virtav's native mapping, then truncated to `keep` bytes. */
function shrunk(keep: number): { map: number; path: string } {
  const path = Deno.makeTempFileSync({ prefix: "hvkit-shrink-" });
  Deno.writeFileSync(path, new Uint8Array(MiB).fill(0xa5));
  const size = new BigUint64Array(1);
  const map = native().vav_map_open(new TextEncoder().encode(path + "\0"), size);
  assert.ok(map >= 0, `vav_map_open: ${map}`);
  assert.equal(size[0], BigInt(MiB));
  Deno.truncateSync(path, keep);
  return { map, path };
}

Deno.test("sigbus: reading a mapping past the file's new end is ESTALE, not a crash", () => {
  const { map, path } = shrunk(4096);
  const lib = native();
  const buf = new Uint8Array(4096);
  assert.equal(lib.vav_map_read(map, 0n, buf, 4096n), 4096n, "what is left still reads");
  assert.equal(buf[0], 0xa5);
  assert.equal(lib.vav_map_read(map, BigInt(MiB / 2), buf, 4096n), BigInt(ESTALE));
  assert.equal(lib.vav_map_close(map), 0);
  Deno.removeSync(path);
});

Deno.test("sigbus: a page hash and a page-table walk over the lost part are ESTALE", () => {
  const { map, path } = shrunk(4096);
  const lib = native();
  const segs = new BigUint64Array([0n, 0n, BigInt(MiB)]); // guest-physical 0.. = file 0..
  const out = new BigUint64Array(1);
  const pages = new BigUint64Array([BigInt(MiB / 2)]);
  assert.equal(lib.vav_map_hash_pages(map, segs, 1, pages, 1, out), BigInt(ESTALE));
  // A walk whose root table (at 512 KiB) is gone: the guard turns the SIGBUS into ESTALE.
  const runs = new BigUint64Array(3 * 16);
  const stats = new BigUint64Array(8);
  assert.equal(
    lib.vav_walk(map, segs, 1, BigInt(MiB / 2), 0, runs, 16, stats),
    BigInt(ESTALE),
  );
  // The guard is per call: the process still takes ordinary reads afterwards.
  assert.equal(lib.vav_map_read(map, 0n, new Uint8Array(16), 16n), 16n);
  lib.vav_map_close(map);
  Deno.removeSync(path);
});
