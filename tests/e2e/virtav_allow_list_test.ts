/**
 * clamscan's allow-lists (issue 14), each case against clamscan itself: `.fp`/`.sfp` whole-file
 * hashes (MD5, SHA1, SHA256; a size or `*`) that drop every detection of the file they name, and
 * `.ign`/`.ign2` names left out of the databases loaded after them (a directory's lists first,
 * `-d` in order), with their syntax errors.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { CLAMSCAN, clamscanSide, pairDiff, virtavSide } from "./virtav_oracle.ts";

if (!CLAMSCAN) console.log("virtav_allow_list_test: skipped, clamscan is not installed");

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "virtav-allow-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const te = new TextEncoder();
const hex = (algo: string, s: string | Uint8Array) =>
  createHash(algo).update(typeof s === "string" ? te.encode(s) : s).digest("hex");

/** Both sides on the same databases and targets: the same load decision and the same pairs. */
async function same(dbs: string[], targets: string[], why: string): Promise<number> {
  const c = await clamscanSide(dbs, targets);
  const v = await virtavSide(dbs, targets);
  assert.equal(
    v.code === 2,
    c.code === 2,
    `${why}: clamscan exit ${c.code}, virtav ${v.code}\n${v.err}`,
  );
  assert.deepEqual(pairDiff(c.pairs, v.pairs), { onlyClamscan: [], onlyVirtav: [] }, why);
  return c.pairs.size;
}

Deno.test({
  name: "virtav applies .fp/.sfp allow-lists as clamscan: a listed file has no detection",
  ignore: !CLAMSCAN,
  async fn() {
    await withDir(async (dir) => {
      const files: Record<string, string> = {
        t1: "....ABCD....",
        t2: "....ABCD.....",
        t3: "xxxxxxxxxx",
        t4: "ABCD and more ABCD",
        t5: "....ABCD...!",
      };
      await Deno.mkdir(`${dir}/f`);
      for (const [n, s] of Object.entries(files)) await Deno.writeTextFile(`${dir}/f/${n}`, s);
      await Deno.writeTextFile(`${dir}/a.ndb`, "F1:0:*:41424344\n");
      await Deno.writeTextFile(`${dir}/h.hdb`, `${hex("md5", files.t3)}:10:H3\n`);
      const lists: Record<string, string> = {
        "md5.fp": `${hex("md5", files.t1)}:12:Allow.T1\n`,
        "sha256.sfp": `${hex("sha256", files.t2)}:13:Allow.T2\n`,
        "hdb.fp": `${hex("md5", files.t3)}:10:Allow.T3\n`,
        "sha1.fp": `${hex("sha1", files.t4)}:18:Allow.T4\n`,
        "star.fp": `${hex("md5", files.t5)}:*:Allow.T5:73\n`,
        "size.fp": `${hex("md5", files.t1)}:11:Allow.Wrong\n`,
        "bad.fp": `${hex("md5", files.t1)}:0:Allow.Zero\n`,
      };
      for (const [n, s] of Object.entries(lists)) await Deno.writeTextFile(`${dir}/${n}`, s);
      const f = `${dir}/f`;
      let found = await same([`${dir}/a.ndb`, `${dir}/h.hdb`], [f], "no list");
      assert.ok(found >= 4, `clamscan found only ${found}`);
      for (const n of Object.keys(lists)) {
        await same([`${dir}/a.ndb`, `${dir}/h.hdb`, `${dir}/${n}`], [f], n);
      }
      // an allow-list before the signatures it silences, and in a directory
      await same([`${dir}/md5.fp`, `${dir}/a.ndb`], [f], "list first");
      await Deno.mkdir(`${dir}/d`);
      await Deno.copyFile(`${dir}/a.ndb`, `${dir}/d/a.ndb`);
      await Deno.copyFile(`${dir}/sha1.fp`, `${dir}/d/sha1.fp`);
      found = await same([`${dir}/d`], [f], "directory");
      assert.ok(found >= 3);
    });
  },
});

Deno.test({
  name: "virtav applies .ign/.ign2 as clamscan: whole names, MD5 of the line, order, errors",
  ignore: !CLAMSCAN,
  async fn() {
    await withDir(async (dir) => {
      const ndb = [
        "Foo:0:*:41424344",
        "X.Foo:0:*:45464748",
        "Foo2:0:*:494a4b4c",
        "foo:0:*:4d4e4f50",
        "Ab:0:*:51525354",
        "Zed.UNOFFICIAL:0:*:55565758",
        "Sig.{A}:0:*:595a5b5c",
        "Old:0:*:61626364",
        "Baz:0:*:65666768",
        "Wrong:0:*:696a6b6c",
        "Bad:0:*:zz",
      ];
      await Deno.writeTextFile(`${dir}/a.ndb`, ndb.join("\n") + "\n");
      const ldb = "Lsig.A;Target:0;0&1;71727374;75767778";
      await Deno.writeTextFile(`${dir}/l.ldb`, ldb + "\n");
      await Deno.writeTextFile(`${dir}/h.hdb`, `${hex("md5", "zzzzzzzzzzzz")}:12:Hsig\n`);
      await Deno.mkdir(`${dir}/f`);
      await Deno.writeTextFile(
        `${dir}/f/t`,
        "....ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\abcdefghijklmnopqrstuvwx....",
      );
      await Deno.writeTextFile(`${dir}/f/z`, "zzzzzzzzzzzz");
      const md5Baz = hex("md5", "Baz:0:*:65666768");
      const lists: Record<string, string> = {
        "names.ign2": `# a comment\nFoo\nAb\nZed\nSig\nx:y:Old\nBad\nLsig.A\nHsig\nBaz:${md5Baz}\n`,
        "wrong.ign2": `Wrong:${"0".repeat(32)}\n`,
        "old.ign": "Foo.UNOFFICIAL\nfoo\n",
        "empty-line.ign2": "Foo\n\nAb\n",
        "four.ign2": "a:b:c:d\n",
        "md5-short.ign2": "Foo:1234\n",
        // clamscan's stale MD5 pointer: a name alone after a Name:MD5 line is refused
        "stale.ign2": `Baz:${md5Baz}\nFoo\n`,
      };
      for (const [n, s] of Object.entries(lists)) await Deno.writeTextFile(`${dir}/${n}`, s);
      const dbs = [`${dir}/a.ndb`, `${dir}/l.ldb`, `${dir}/h.hdb`];
      for (const n of Object.keys(lists)) await same([`${dir}/${n}`, ...dbs], [`${dir}/f`], n);
      // loaded after the signatures, a list changes nothing (the bad line refuses the database)
      await same([...dbs, `${dir}/names.ign2`], [`${dir}/f`], "list last");
      // in a directory the lists load first, whatever their names
      await Deno.mkdir(`${dir}/d`);
      for (const n of ["a.ndb", "l.ldb", "h.hdb"]) {
        await Deno.copyFile(`${dir}/${n}`, `${dir}/d/${n}`);
      }
      await Deno.copyFile(`${dir}/names.ign2`, `${dir}/d/zz.ign2`);
      const found = await same([`${dir}/d`], [`${dir}/f`], "directory");
      assert.ok(found >= 3, `clamscan found only ${found}`);
    });
  },
});
