/**
 * PCRE subsignatures of `.ldb` logical signatures (issue 14), through libpcre2, each case against
 * clamscan itself: triggers, counts (`g`), every flag clamscan takes (i s m x A E U g r e), a
 * match anywhere in the file (also before the trigger's), offsets (`n`, `n,m`, `EOF-n`,
 * `EOF-n,m`, with `r` and `e`, and clamscan's 32-bit quirks), PCRE beside subsignatures that are
 * not fixed bytes at any offset, `;` and `:` inside a PCRE, and the lines clamscan refuses.
 */
import assert from "node:assert/strict";
import { CLAMSCAN, clamscanSide, pairDiff, run, virtavSide } from "./virtav_oracle.ts";

if (!CLAMSCAN) console.log("virtav_ldb_pcre_test: skipped, clamscan is not installed");

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "virtav-pcre-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const SIGS = [
  "P.1;Target:0;0&1;41424344;0/abc[0-9]+/",
  "P.2;Target:0;1;41424344;0/xyz/i",
  "P.3;Target:0;0&1>2;41424344;0/q[0-9]/g",
  "P.4;Target:0;0&1>2;41424344;0/q[0-9]/",
  "P.5;Target:0;0&1;45464748;0/^line$/m",
  "P.6;Target:0;0&1;45464748;0/a.b/s",
  "P.7;Target:0;0&1;494a4b4c;0/x y z/x",
  "P.8;Target:0;0&1;4d4e4f50;0/^ABCD/A",
  "P.9;Target:0;0&1;41424344;0/mno/",
  "Q.1;Target:0;1;41424344;0/zz[0-9]/",
  "Q.3;Target:0;2>1;41424344;45464748;0|1/k./g",
  "Q.4;Target:0;0&1;41424344;0/a+?b/U",
  "Q.5;Target:0;0&1;41424344;0/end$/E",
  "Q.6;Target:0;0&1;41424344;0/end$/",
  "Q.7;Target:0;0&1;41424344;0/zz[0-9]/re",
  "Q.9;Target:0;0&1;41424344;0/Z+/gi",
  "Q.10;Target:0;1=3;41424344;0/k./g",
  "Q.11;Target:0;0&1&2;41424344;45464748;0&1/k[0-9]/",
];

const FILES = [
  "....ABCD..abc12..XyZ..q1q2q3....",
  "....ABCD..q1q2.....",
  "EFGH\nline\nfoo a\nb",
  "..IJKL..xyz..MNOP..",
  "mno....ABCD....",
  "MNOP ABCD....",
  "....ABCD..zz1..k1k2k3..aab..end\n",
  "....EFGH..zz1..k1....",
  "ABCD zzZZz kAkB kC end",
  "....ABCD..zz1..EFGH..k9",
];

/** Lines clamscan refuses (each refuses the database). */
const REFUSED = [
  "R.1;Target:0;0&1;41424344;0/abc",
  "R.2;Target:0;0&1;41424344;/abc/",
  "R.3;Target:0;0&1;41424344;1/abc/",
  "R.4;Target:0;0&1;41424344;0/abc/q",
  "R.5;Target:0;0&1;41424344;0/(abc/",
  "R.6;Target:0;0&1;41424344;0//",
  "R.7;Target:0;0&1&2;41424344;2/abc/;45464748",
  "R.8;Target:0;0&1;41424344;10:1/abc/",
  "R.9;Target:0;0&1;41424344;EOF-5:0/(abc/",
];

Deno.test({
  name: "virtav evaluates .ldb PCRE subsignatures as clamscan does",
  ignore: !CLAMSCAN,
  async fn() {
    await withDir(async (dir) => {
      await Deno.writeTextFile(`${dir}/p.ldb`, SIGS.join("\n") + "\n");
      await Deno.mkdir(`${dir}/f`);
      for (const [i, f] of FILES.entries()) await Deno.writeTextFile(`${dir}/f/t${i}`, f);
      const c = await clamscanSide([`${dir}/p.ldb`], [`${dir}/f`]);
      const v = await virtavSide([`${dir}/p.ldb`], [`${dir}/f`]);
      assert.equal(c.code, 1, c.err);
      assert.ok(c.pairs.size >= 15, `clamscan found only ${c.pairs.size}`);
      assert.deepEqual(pairDiff(c.pairs, v.pairs), { onlyClamscan: [], onlyVirtav: [] });
      for (const line of REFUSED) {
        await Deno.writeTextFile(`${dir}/r.ldb`, line + "\n");
        const cr = await clamscanSide([`${dir}/r.ldb`], [`${dir}/f`]);
        const vr = await virtavSide([`${dir}/r.ldb`], [`${dir}/f`]);
        assert.equal(cr.code, 2, `${line}: clamscan loads it`);
        assert.equal(vr.code, 2, `${line}: virtav loads it\n${vr.err}`);
      }
    });
  },
});

/**
 * PCRE subsignatures with offsets and beside subsignatures that are not fixed bytes at any
 * offset. OFF_FILES[0] is 39 bytes with `abc` at 8 and `q1q2q3` at 14; OFF_FILES[1] is 13 bytes
 * starting with `abc`. The comment after each line says what clamscan does with it.
 */
const OFF_SIGS = [
  "O.1;Target:0;0&1;41424344;8:0/abc/", // anchored at 8: found in 0
  "O.2;Target:0;0&1;41424344;9:0/abc/", // anchored at 9: not found
  "O.3;Target:0;0&1;41424344;6:0/abc/", // not found
  "O.4;Target:0;0&1;41424344;6:0/abc/r", // r: unanchored from 6: found
  "O.5;Target:0;0&1;41424344;6,2:0/abc/", // starts 2 after 6: found
  "O.6;Target:0;0&1;41424344;6,1:0/abc/", // would start 2 after 6: not found
  "O.7;Target:0;0&1;41424344;6,4:0/abc/e", // e: the match must lie in [6, 10): not found
  "O.8;Target:0;0&1;41424344;6,5:0/abc/e", // in [6, 11): found
  "O.9;Target:0;0&1;41424344;8:0/^abc/", // ^ matches at the offset: found
  "O.10;Target:0;0&1;41424344;:0/abc/", // an empty offset is 0: found in 1
  "O.11;Target:0;0&1;41424344;0/abc/::i", // three `:` fields: the first is the PCRE, `i` ignored
  "O.12;Target:0;0&1;41424344;0/a;b/", // `;` inside the slashes does not split the line
  "O.13;Target:0;0&1;41424344;0/a\\/b/",
  "O.14;Target:0;0&1;41424344;0/a/b/", // pattern `a/b`
  "O.15;Target:0;0&1>2;41424344;14:0/q./g", // anchored g: q1 q2 q3 counted
  "O.16;Target:0;0&1>3;41424344;14:0/q./g",
  "O.17;Target:0;0&1;4142??44;0/abc/", // beside a wildcard
  "O.18;Target:0;0&1;4:41424344;0/abc/", // beside an anchored offset
  "O.19;Target:0;0&1>2;4142??44;0/q[0-9]/g", // a count over the PCRE itself
  "O.21;Target:0;0&1=1;41424344;14,4:0/q./g", // q1 q2 q3 start within 4, q4 does not: 3
  "O.22;Target:0;0&1;41424344;EOF-31:0/abc/", // 39 - 31 = 8: found
  "O.23;Target:0;0&1;41424344;EOF-30:0/abc/",
  "O.24;Target:0;0&1;41424344;EOF-40:0/abc/", // size + 1: CLI_OFF_ANY, anywhere: found
  "O.25;Target:0;0&1;41424344;EOF-39:0/abc/",
  "O.26;Target:0;0&1;41424344;EOF-41:0/abc/", // size + 2: CLI_OFF_NONE, never run
  "O.27;Target:0;0&1;41424344;EOF-14:0/abc/", // size + 1 of file 1: found there
  "O.28;Target:0;0&1;41424344;EOF-14:0/abc/A",
  "O.29;Target:0;0&1;41424344;EOF-33,3:0/abc/",
  "O.30;Target:0;0&1;41424344;4294967295:0/abc/", // CLI_OFF_ANY as a number: anywhere
  "O.31;Target:0;0&1;41424344;8,0:0/abc/",
  "O.32;Target:0;0&1;41424344;8:0/abc$/e", // no shift: e changes nothing, $ at the file's end
  "O.33;Target:0;0&1;41424344;8,3:0/abc$/e", // $ at the window's end: found
  "O.34;Target:0;0&1;41424344;10:0/(?<=b)c/", // nothing before the offset is seen
  "O.35;Target:0;0&1;41424344;EOF-13:0/abc/",
  "O.36;Target:0;(0|1)&2;4142(43|58)44;45??4748;0/abc/",
  "O.37;Target:0;0&1&2;41424344;0/q./;1/abc/", // a PCRE triggering a PCRE
  "O.38;Target:0;0&1;41424344;14:0/q[0-9]/gr",
  "O.39;Target:0;0&1;41424344;0/(*UTF)abc/", // the docs say (*UTF) is not allowed
];
const OFF_FILES = ["XXXXABCDabc123q1q2q3xq4..a;b..a/b..EFGH", "abcXABCD....."];

/** Lines clamscan refuses (each refuses the database). */
const OFF_REFUSED = [
  "R.1;Target:0;0&1;41424344;VI:0/abc/",
  "R.2;Target:0;0&1;41424344;EP+0:0/abc/",
  "R.3;Target:0;0&1;41424344;$40$:0/abc/", // a `$` first: a macro, which must end in `$`
  "R.4;Target:0;0&1;41424344;x:0/abc/",
  "R.5;Target:0;0&1;41424344;1,x:0/abc/",
  "R.6;Target:0;0&1;41424344;0/abc/i:5",
  "R.7;Target:0;0&1&2;41424344;0/a;b/",
  "R.8;Target:0;0&1&2;41424344;0/a/b/;45464748", // three `/`: the `;` after is inside
  "R.9;Target:0;0&1;41424344;0/a/b/;45464748",
  `R.10;Target:0;0&1;41424344;${"1".repeat(65)}:0/abc/`,
  "R.11;Target:0;0&1;41424344;S1+2:0/abc/",
  "R.12;Target:0;0&1;41424344;:/abc/",
  "R.13;Target:0;0&1;41424344;5:1/abc/",
  "R.14;Target:0;0&1;41424344;EOF-x:0/abc/",
  "R.15;Target:0;0&1;41424344;1:2:0/abc/",
  "R.16;Target:0;0&1;41424344;0/abc/:",
  "R.17;Target:0;0&1;41424344;${1-5}33$",
  "R.18;Target:0;0&1;41424344;1$3$:0/abc/", // a macro offset not first: cli_caloff refuses it
  "R.19;Target:1;0&1;41424344;S1+x:0/abc/",
];

/** Lines clamscan loads (exit 0 or 1, as clamscan's). */
const OFF_LOADED = [
  "L.2;Target:0;0&1;41424344;EOF-:0/abc/",
  "L.3;Target:0;0&1;41424344;,:0/abc/",
  "L.4;Target:1;0&1;41424344;EP+0:0/abc/",
  "L.5;Target:0;0&1;41424344;0/a/b/i",
  "L.6;Target:0;0&1;41424344;5,:0/abc/gre",
  "L.8;Target:0;0&1;41424344;0/a:b/",
  "L.9;Target:0;0&1;41424344;7:0/a:b/",
  "L.10;Target:0;0&1;41424344;0/abc/::i:x:y",
  "L.11;Target:0;0&1;41424344;${1-5}3$",
  "L.12;Target:1;0&1;41424344;SE1:0/abc/",
  "L.13;Target:0;0&1;41424344;EOF-3,:0/abc/e",
];

Deno.test({
  name: "virtav evaluates .ldb PCRE subsignatures with offsets and beside any subsignature",
  ignore: !CLAMSCAN,
  async fn() {
    await withDir(async (dir) => {
      await Deno.writeTextFile(`${dir}/o.ldb`, OFF_SIGS.join("\n") + "\n");
      await Deno.mkdir(`${dir}/f`);
      for (const [i, f] of OFF_FILES.entries()) await Deno.writeTextFile(`${dir}/f/t${i}`, f);
      const c = await clamscanSide([`${dir}/o.ldb`], [`${dir}/f`]);
      const v = await virtavSide([`${dir}/o.ldb`], [`${dir}/f`]);
      assert.equal(c.code, 1, c.err);
      assert.ok(c.pairs.size >= 25, `clamscan found only ${c.pairs.size}`);
      assert.deepEqual(pairDiff(c.pairs, v.pairs), { onlyClamscan: [], onlyVirtav: [] });
      // every line is evaluated: nothing counted as unusable
      const info = await run(new URL("../../bin/virtav", import.meta.url).pathname, [
        "sigs",
        "info",
        "--no-db",
        "--no-cache",
        "-d",
        `${dir}/o.ldb`,
      ]);
      assert.equal(info.code, 0, info.err);
      assert.match(info.out, /o\.ldb: \d+ body, 0 hash, 0 unusable, 0 malformed/);
      for (const [lines, want] of [[OFF_REFUSED, 2], [OFF_LOADED, -1]] as const) {
        for (const line of lines) {
          await Deno.writeTextFile(`${dir}/r.ldb`, line + "\n");
          const cr = await clamscanSide([`${dir}/r.ldb`], [`${dir}/f`]);
          const vr = await virtavSide([`${dir}/r.ldb`], [`${dir}/f`]);
          if (want === 2) assert.equal(cr.code, 2, `${line}: clamscan loads it`);
          else assert.ok(cr.code !== 2, `${line}: clamscan refuses it\n${cr.err}`);
          assert.equal(vr.code, cr.code, `${line}: virtav exits ${vr.code}\n${vr.err}`);
          if (vr.code === 2) assert.match(vr.err, /r\.ldb:1: /);
        }
      }
    });
  },
});

Deno.test({
  name: "virtav counts a PCRE line it does not evaluate (a count over a wildcard subsignature)",
  async fn() {
    await withDir(async (dir) => {
      await Deno.writeTextFile(`${dir}/u.ldb`, "U.1;Target:0;0&1;4142??44;0>1/abc/\n");
      const info = await run(new URL("../../bin/virtav", import.meta.url).pathname, [
        "sigs",
        "info",
        "--no-db",
        "--no-cache",
        "-d",
        `${dir}/u.ldb`,
      ]);
      assert.equal(info.code, 0, info.err);
      assert.match(info.out, /1 unusable/);
      assert.match(info.out, /a count over a subsignature that is not fixed bytes/);
    });
  },
});

Deno.test({
  name: "virtav runs .ldb PCREs on units up to 100 MiB, as clamscan's --pcre-max-filesize",
  ignore: !CLAMSCAN,
  async fn() {
    await withDir(async (dir) => {
      await Deno.writeTextFile(`${dir}/b.ldb`, "B.1;Target:0;0&1;41424344;0/abc[0-9]/\n");
      await Deno.mkdir(`${dir}/f`);
      const limit = 100 * 1024 * 1024;
      for (const [name, size] of [["at", limit], ["over", limit + 1]] as const) {
        const f = await Deno.open(`${dir}/f/${name}`, { write: true, create: true });
        await f.write(new TextEncoder().encode("....ABCD..abc1.."));
        await f.truncate(size);
        f.close();
      }
      const c = await clamscanSide([`${dir}/b.ldb`], [`${dir}/f`]);
      const v = await virtavSide([`${dir}/b.ldb`], [`${dir}/f`]);
      assert.deepEqual([...c.pairs].map((p) => p.replace(/^.*\/f\//, "")), ["at\tB.1"]);
      assert.deepEqual(pairDiff(c.pairs, v.pairs), { onlyClamscan: [], onlyVirtav: [] });
    });
  },
});
