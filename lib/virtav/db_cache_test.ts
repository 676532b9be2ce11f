import assert from "node:assert/strict";
import { loadCompiled } from "./db_cache.ts";

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
      c[c.length - 3] ^= 0x01; // in the pool: a signature's bytes
      return c;
    });
    const third = await loadCompiled([ndb], o);
    assert.equal(third.cached, false);
    assert.deepEqual(third.compiled.blob, again.compiled.blob);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
