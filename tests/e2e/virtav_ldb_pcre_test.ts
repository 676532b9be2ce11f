/**
 * PCRE subsignatures of `.ldb` logical signatures (issue 14), through libpcre2, each case against
 * clamscan itself: triggers, counts (`g`), every flag clamscan takes (i s m x A E U g r e), a
 * match anywhere in the file (also before the trigger's), and the lines clamscan refuses.
 */
import assert from "node:assert/strict";
import { CLAMSCAN, clamscanSide, pairDiff, virtavSide } from "./virtav_oracle.ts";

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
