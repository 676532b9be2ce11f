import assert from "node:assert/strict";
import { ClamavMatcher } from "./clamav_matcher.ts";
import { MappedFile } from "./mapped_file.ts";

let available = true;
try {
  (await import("../ffi/clamav.ts")).clamav();
} catch (e) {
  available = false;
  console.log(`clamav_matcher_test: skipped: ${(e as Error).message}`);
}

const enc = (s: string) => new TextEncoder().encode(s);
const hex = (s: string) => [...enc(s)].map((b) => b.toString(16).padStart(2, "0")).join("");

async function withDb<T>(lines: string[], fn: (path: string) => T | Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "clamav-matcher-" });
  try {
    await Deno.writeTextFile(`${dir}/t.ndb`, lines.join("\n") + "\n");
    return await fn(`${dir}/t.ndb`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const DB = [
  `Abc.One:0:*:${hex("ABCD")}`,
  `Efg.Two:0:*:${hex("EFGH")}{2-4}${hex("IJKL")}`,
  `Tail.Three:0:EOF-4:${hex("WXYZ")}`,
];

Deno.test({
  name: "ClamavMatcher reports every signature with allMatch, the first without",
  ignore: !available,
  async fn() {
    await withDb(DB, (path) => {
      const m = ClamavMatcher.load([path]);
      try {
        assert.equal(m.signatures, 3);
        const buf = enc("..ABCD..EFGH..IJKL....WXYZ");
        const all = m.scanBuffer(buf, { allMatch: true }).map((h) => h.name).sort();
        assert.deepEqual(all, ["Abc.One", "Efg.Two", "Tail.Three"]);
        assert.equal(m.scanBuffer(buf, {}).length, 1);
        assert.deepEqual(m.scanBuffer(enc("..EFGH.....IJKL..WXYZ."), { allMatch: true }), []);
        for (const h of m.scanBuffer(buf, { allMatch: true })) assert.equal(h.offset, -1);
      } finally {
        m.close();
      }
    });
  },
});

Deno.test({
  name: "ClamavMatcher keeps .UNOFFICIAL only when asked (clamscan's names)",
  ignore: !available,
  async fn() {
    await withDb(DB, (path) => {
      const m = ClamavMatcher.load([path], true);
      try {
        assert.deepEqual(m.scanBuffer(enc("..ABCD..")).map((h) => h.name), [
          "Abc.One.UNOFFICIAL",
        ]);
      } finally {
        m.close();
      }
    });
  },
});

Deno.test({
  name: "ClamavMatcher scans a mapped range in place and gathered chunks as one unit",
  ignore: !available,
  async fn() {
    await withDb(DB, async (path) => {
      const dir = path.replace(/\/t\.ndb$/, "");
      // Page 0: "EFGH" at its end; page 1 (file page 2): "..IJKL" at its start.
      const data = new Uint8Array(3 * 4096).fill(0x2e);
      data.set(enc("EFGH"), 4096 - 4);
      data.set(enc("..IJKL"), 2 * 4096);
      data.set(enc("ABCD"), 4096 + 100);
      await Deno.writeFile(`${dir}/ram`, data);
      const f = MappedFile.open(`${dir}/ram`);
      const m = ClamavMatcher.load([path]);
      try {
        const segs = new BigUint64Array([0n, 0n, BigInt(data.length)]);
        const o = { allMatch: true };
        // In place: the middle page holds only ABCD.
        assert.deepEqual(m.scanMapped(f, 4096, 4096, o).map((h) => h.name), ["Abc.One"]);
        // One chunk (in place, through the segments) and two discontiguous chunks (gathered).
        assert.deepEqual(m.scanChunks(f, segs, new BigUint64Array([0n, 4096n]), o), []);
        const two = new BigUint64Array([0n, 4096n, 8192n, 4096n]);
        assert.deepEqual(m.scanChunks(f, segs, two, o).map((h) => h.name), ["Efg.Two"]);
        assert.throws(() => m.scanMapped(f, 8192, 8192, o), /outside the file/);
      } finally {
        m.close();
        f.close();
      }
    });
  },
});

Deno.test({
  name: "ClamavMatcher refuses what clamscan refuses, naming the database",
  ignore: !available,
  async fn() {
    await withDb(["Bad:0:*:4"], (path) => {
      assert.throws(() => ClamavMatcher.load([path]), /cannot load .*t\.ndb: Malformed database/);
    });
    assert.throws(() => ClamavMatcher.load([]), /needs -d/);
    assert.throws(() => ClamavMatcher.load(["/nonexistent/x.ndb"]), /cannot load \/nonexistent/);
  },
});

Deno.test({
  name: "ClamavMatcher scans a unit above its size limit in overlapping windows, to the last byte",
  ignore: !available,
  async fn() {
    await withDb(DB, (path) => {
      // At a small scale: units above 64 KiB go in windows of 32 KiB overlapping by 4 KiB.
      const m = ClamavMatcher.load([path], false, { maxUnit: 65536, window: 32768, overlap: 4096 });
      try {
        const o = { allMatch: true };
        const buf = new Uint8Array(100_000).fill(0x2e);
        // Across the first window's end (28672 + 4096 = 32768): inside the overlap.
        buf.set(enc("ABCD"), 32766);
        // The last bytes of the unit, in the last (short) window.
        buf.set(enc("WXYZ"), buf.length - 4);
        const names = m.scanBuffer(buf, o).map((h) => h.name).sort();
        assert.deepEqual(names, ["Abc.One", "Tail.Three"]);
        // At the limit itself: one piece, EOF-4 is the unit's end.
        const one = new Uint8Array(65536).fill(0x2e);
        one.set(enc("WXYZ"), one.length - 4);
        assert.deepEqual(m.scanBuffer(one, o).map((h) => h.name), ["Tail.Three"]);
      } finally {
        m.close();
      }
    });
  },
});
