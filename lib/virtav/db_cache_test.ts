import assert from "node:assert/strict";
import { cacheChecksum, loadCompiled, openCompiled, SUM_AT } from "./db_cache.ts";
import { Matcher } from "./matcher.ts";
import { native } from "../ffi/ffi.ts";
import { fromOtherHyperscan } from "./prefilter_fixtures.ts";

Deno.test("db cache: a hit gives the same compiled database and summary; changes and damage recompile", async () => {
  const dir = await Deno.makeTempDir({ prefix: "virtav-cache-" });
  try {
    const ndb = `${dir}/a.ndb`, hdb = `${dir}/a.hdb`, cache = `${dir}/cache`;
    await Deno.writeTextFile(ndb, "A:0:*:41424344\nB:0:*:4546{2-4}4748\nC:0:EP+0:41414141\n");
    await Deno.writeTextFile(hdb, `${"0".repeat(32)}:10:H\n`);
    const o = { eicar: true, cacheDir: cache };
    const first = await loadCompiled([ndb, hdb], o);
    assert.equal(first.cached, false);
    const second = await loadCompiled([ndb, hdb], o);
    assert.equal(second.cached, true);
    assert.deepEqual(second.compiled.names, first.compiled.names);
    assert.deepEqual(second.compiled.blob, first.compiled.blob);
    assert.deepEqual(second.summary, first.summary);
    assert.equal(second.summary.bodyCount, 3); // EICAR, A, B (C needs a parsed executable)
    assert.equal([...second.summary.unsupported.values()].reduce((a, b) => a + b, 0), 1);
    // A changed byte is a different database.
    await Deno.writeTextFile(ndb, "A:0:*:41424345\n");
    assert.equal((await loadCompiled([ndb], o)).cached, false);
    assert.equal((await loadCompiled([ndb], o)).cached, true);
    // Damaged cache files are recompiled, not trusted: truncated, or one signature byte changed.
    const damage = async (f: (b: Uint8Array) => Uint8Array) => {
      for await (const e of Deno.readDir(cache)) {
        const p = `${cache}/${e.name}`;
        await Deno.writeFile(p, f(await Deno.readFile(p)));
      }
    };
    await damage((b) => b.subarray(0, 6));
    const again = await loadCompiled([ndb], o);
    assert.equal(again.cached, false);
    assert.deepEqual(again.compiled.names, ["Eicar-Test-Signature", "A"]);
    await damage((b) => {
      const c = b.slice();
      c[c.length - 3] ^= 0x01; // in the last section (the checksum sees it)
      return c;
    });
    const third = await loadCompiled([ndb], o);
    assert.equal(third.cached, false);
    assert.match(
      third.cacheNote ?? "",
      /^the cached compiled database \S+\.vdb is damaged: compiled again$/,
    );
    assert.deepEqual(third.compiled.blob, again.compiled.blob);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("db cache: the Hyperscan prefilter is kept with the blob, attached on a hit, and damage to it rebuilds", async () => {
  const dir = await Deno.makeTempDir({ prefix: "virtav-cache-pf-" });
  try {
    const ndb = `${dir}/a.ndb`, cache = `${dir}/cache`;
    await Deno.writeTextFile(
      ndb,
      "A:0:*:4142434445\nB:0:*:45464748{2-4}494a4b4c\nS:0:*:6162??6364\n",
    );
    const o = { eicar: false, cacheDir: cache };
    const first = await loadCompiled([ndb], o);
    assert.ok(first.compiled.prefilter && first.compiled.prefilter.length > 0);
    const second = await loadCompiled([ndb], o);
    assert.equal(second.cached, true);
    assert.deepEqual(second.compiled.prefilter, first.compiled.prefilter);
    const m = Matcher.load(second.compiled);
    const info = m.prefilterInfo();
    const found = m.scanBuffer(new TextEncoder().encode("..ABCDE..EFGHxxxIJKL..ab.cd"), {
      allMatch: true,
    }).map((h) => h.name).sort();
    m.close();
    assert.equal(info.state, "attached");
    assert.equal(info.sigsPrefiltered, 2);
    assert.equal(info.sigsKeyLoop, 1);
    assert.deepEqual(found, ["A", "B", "S"]);
    // damage inside the prefilter's bytes, the file's checksum made to match: refused, rebuilt
    const [name] = [...Deno.readDirSync(cache)].map((e) => e.name);
    const file = `${cache}/${name}`;
    const good = await Deno.readFile(file);
    const pfStart = good.length - first.compiled.prefilter.length; // the last section
    const forge = (b: Uint8Array) =>
      new DataView(b.buffer).setBigUint64(SUM_AT, cacheChecksum(b), true);
    for (const at of [pfStart, pfStart + 36, pfStart + 200, good.length - 8]) {
      const bad = good.slice();
      bad[at] ^= 0x10;
      forge(bad);
      await Deno.writeFile(file, bad);
      // the metadata checks out; the native loader refuses the prefilter when it is opened
      const r = await openCompiled([ndb], o);
      assert.equal(r.cached, false, `damage at ${at - pfStart} of the prefilter`);
      assert.deepEqual(r.compiled.prefilter, first.compiled.prefilter);
      assert.equal(r.matcher.prefilterInfo().state, "attached");
      r.matcher.close();
      assert.equal((await loadCompiled([ndb], o)).cached, true); // the file was replaced
    }
    // a prefilter built by another Hyperscan (version or platform): compiled again
    {
      const other = good.slice();
      other.set(fromOtherHyperscan(first.compiled.prefilter, "version"), pfStart);
      forge(other);
      await Deno.writeFile(file, other);
      const r = await openCompiled([ndb], o);
      assert.equal(r.cached, false);
      assert.equal(r.matcher.prefilterInfo().state, "attached");
      r.matcher.close();
      assert.deepEqual(await Deno.readFile(file), good);
    }
    // a truncated file
    await Deno.writeFile(file, good.subarray(0, good.length - 100));
    assert.equal((await loadCompiled([ndb], o)).cached, false);
    assert.equal((await loadCompiled([ndb], o)).cached, true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("db cache: the checksum is XXH64 (the reference's test vectors)", () => {
  const h = (b: Uint8Array, seed = 0n) =>
    native().vav_hash64(b as Uint8Array<ArrayBuffer>, BigInt(b.length), seed) as bigint;
  assert.equal(h(new Uint8Array()), 0xef46db3751d8e999n);
  assert.equal(h(new TextEncoder().encode("abc")), 0x44bc2cf5ad770999n);
  // every length through the 32-byte stripes, the 8-, 4- and 1-byte tails: a flipped bit moves it
  const b = Uint8Array.from({ length: 100 }, (_, i) => i * 7);
  for (let n = 0; n <= 100; n += 13) {
    const c = b.slice(0, n);
    const before = h(c, 7n);
    if (!n) continue;
    c[n - 1] ^= 1;
    assert.notEqual(h(c, 7n), before);
  }
});

Deno.test("db cache: a source's identity names the cache file; any change to the source is seen", async () => {
  const dir = await Deno.makeTempDir({ prefix: "virtav-cache-id-" });
  try {
    const ndb = `${dir}/a.ndb`, cache = `${dir}/cache`;
    const o = { eicar: false, cacheDir: cache, settledSecs: 0 };
    await Deno.writeTextFile(ndb, "A:0:*:41424344\n");
    await Deno.utime(ndb, 1000, 1000);
    const first = await loadCompiled([ndb], o);
    assert.equal(first.cached, false);
    const vids = [...Deno.readDirSync(cache)].filter((e) => e.name.endsWith(".vid"));
    assert.equal(vids.length, 1, "the identity is recorded once the sources are settled");
    assert.equal((await loadCompiled([ndb], o)).cached, true);
    // the same size, another byte, another mtime: another database
    await Deno.writeTextFile(ndb, "A:0:*:41424345\n");
    await Deno.utime(ndb, 2000, 2000);
    const second = await loadCompiled([ndb], o);
    assert.equal(second.cached, false);
    assert.notDeepEqual(second.compiled.blob, first.compiled.blob);
    assert.equal((await loadCompiled([ndb], o)).cached, true);
    // a damaged identity record, or one naming another database, only costs the slow path
    for (const e of Deno.readDirSync(cache)) {
      if (e.name.endsWith(".vid")) {
        await Deno.writeTextFile(`${cache}/${e.name}`, "f".repeat(64) + "\n");
      }
    }
    const third = await loadCompiled([ndb], o);
    assert.equal(third.cached, true);
    assert.deepEqual(third.compiled.blob, second.compiled.blob);
    // recent sources are not recorded (a change within the clock's grain could keep the identity)
    await Deno.remove(cache, { recursive: true });
    await loadCompiled([ndb], { ...o, settledSecs: 3600 });
    assert.equal([...Deno.readDirSync(cache)].filter((e) => e.name.endsWith(".vid")).length, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
