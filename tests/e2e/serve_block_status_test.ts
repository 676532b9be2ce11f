/**
 * NBD_CMD_BLOCK_STATUS (base:allocation) through `qbic-cache serve`: on a sparse image,
 * `qemu-img map` over NBD must report the same data and holes as `qemu-img map` on the file
 * itself (the oracle), and `nbdinfo --map` must agree with it.
 */
import assert from "node:assert/strict";
import { have, makeImage, run, startServe } from "./serve_helpers.ts";

const PRESENT = have("qemu-img") && have("nbdinfo");
if (!PRESENT) console.log("serve_block_status_test: qemu-img/nbdinfo not installed, skipping");

interface MapEntry {
  start: number;
  length: number;
  data: boolean;
  zero: boolean;
}

/** qemu-img map's JSON, merged into runs of equal (data, zero). */
function runs(entries: MapEntry[]): [number, number, boolean, boolean][] {
  const out: [number, number, boolean, boolean][] = [];
  for (const e of entries) {
    const last = out[out.length - 1];
    if (last && last[2] === e.data && last[3] === e.zero) last[1] += e.length;
    else out.push([e.start, e.length, e.data, e.zero]);
  }
  return out;
}

Deno.test({
  name: "serve: block status — qemu-img map and nbdinfo --map match the sparse image",
  ignore: !PRESENT,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "serve-bs-" });
    const img = `${dir}/sparse.img`;
    makeImage(img, 16 << 20);
    const f = await Deno.open(img, { write: true });
    for (const [off, len] of [[1 << 20, 4096], [5 << 20, 192 << 10], [(16 << 20) - 8192, 8192]]) {
      await f.seek(off, Deno.SeekMode.Start);
      await f.write(new Uint8Array(len).fill(0xa5));
    }
    f.close();
    const oracle = await run("qemu-img", ["map", "-f", "raw", "--output=json", img]);
    assert.equal(oracle.code, 0, oracle.err);
    const want = runs(JSON.parse(oracle.out));
    // The file system really has holes here (else the test proves nothing).
    assert.ok(want.some((r) => !r[2]) && want.some((r) => r[2]), oracle.out);

    const s = await startServe(dir, ["--cache-size", "1M", "--policy", "lru", img]);
    try {
      // Warm the cache with reads: clean cached blocks must not change the answer.
      const warm = await run("qemu-io", ["-f", "raw", "-c", "read 0 2M", s.uri]);
      assert.equal(warm.code, 0, warm.err);
      const got = await run("qemu-img", ["map", "-f", "raw", "--output=json", s.uri]);
      assert.equal(got.code, 0, got.err);
      assert.deepEqual(runs(JSON.parse(got.out)), want);

      const map = await run("nbdinfo", ["--map", "--json", s.uri]);
      assert.equal(map.code, 0, map.err);
      const ext = JSON.parse(map.out) as { offset: number; length: number; type: number }[];
      let pos = 0;
      for (const e of ext) {
        assert.equal(e.offset, pos);
        pos += e.length;
      }
      assert.equal(pos, 16 << 20);
      // Every byte: hole+zero (3) exactly where qemu-img says "no data, zero".
      for (const [start, length, data] of want) {
        for (const e of ext) {
          if (e.offset >= start + length || e.offset + e.length <= start) continue;
          assert.equal(e.type, data ? 0 : 3, `${e.offset}+${e.length} vs ${start}+${length}`);
        }
      }
      // The listed context.
      const list = await run("nbdinfo", ["--list", "--json", s.uri]);
      assert.equal(list.code, 0, list.err);
      assert.deepEqual(JSON.parse(list.out).exports[0].contexts, ["base:allocation"]);
    } finally {
      const st = await s.stop();
      assert.equal(st.code, 0, st.stderr);
    }
    await Deno.remove(dir, { recursive: true });
  },
});
