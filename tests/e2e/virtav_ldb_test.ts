/**
 * `.ldb` logical signatures are loaded as clamscan 1.4.6 loads them (issue 14): each line below,
 * alone in a database, is loaded or refused by clamscan and by virtav alike. A refused line
 * refuses the whole database (exit 2); a skipped or not-evaluable one is counted.
 */
import assert from "node:assert/strict";
import { generateLdbLoadLines } from "../../lib/virtav/grammar_gen.ts";
import { bytesOf, CLAMSCAN, clamscanSide, run, virtavSide } from "./virtav_oracle.ts";

const BIN = new URL("../../bin/virtav", import.meta.url).pathname;

if (!CLAMSCAN) console.log("virtav_ldb_test: skipped, clamscan is not installed");

/** Lines clamscan 1.4.6 loads (or skips without a word). */
export const LDB_LOADED: [string, string][] = [
  ["A;Target:0;0;41424344", "one subsignature"],
  ["A;Target:;0;41424344", "an empty Target is 0"],
  ["A;Engine:51-255,Target:0;0;41424344", "Engine first"],
  ["A;Engine:300-400,Target:0;0;zz", "Engine above 216: skipped before the subsignatures"],
  ["A;Engine:51-215,Target:0;0;41424344", "Engine below 216: skipped"],
  ["A;Engine:300-400,Foo:2;0;41424344", "skipped, unknown attribute after"],
  ["A;Target:20;0;zz", "target 20: skipped"],
  ["A;Foo:1,Target:0;0;41424344", "unknown attribute: skipped"],
  ["A;Engine:51-255,Target:0,FileSize:1-100;0;41424344", "FileSize with Engine"],
  ["A;Engine:51-255,Target:0,Container:CL_TYPE_FOO;0;41424344", "unknown container: skipped"],
  ["A;Target:0;0|1;41424344;4546", "two subsignatures"],
  ["A;Target:0;1;41424344;4546", "an id not named still counts"],
  ["A;Target:0;0&2;41424344;4546;4748", "the highest id decides the count"],
  ["A;Target:0;0>1;41424344", "count"],
  ["A;Target:0;0=1,2;41424344", "count with two numbers"],
  ["A;Target:0;0<1,2;41424344", "less than"],
  ["A;Target:0;0>1,;41424344", "trailing comma"],
  ["A;Target:0;0>1>2;41424344", "two modifiers"],
  ["A;Target:0;0 ;41424344", "space after"],
  ["A;Target:0; 0;41424344", "space before"],
  ["A;Target:0;00;41424344", "leading zero"],
  ["A;Target:0;0a;41424344", "garbage after a number"],
  ["A;Target:0;((0));41424344", "nested parentheses"],
  ["A;Target:0;0&0;41424344", "an id twice"],
  ["A;Target:0;0|(1&2);41424344;4546;4748", "a block"],
  ["A;Target:0;(0|1)>2;41424344;4546", "a block count"],
  ["A;Target:0;(0|1)=3,2;41424344;4546", "a block count with ids"],
  ["A;Target:0;0&1|2;41424344;4546;4748", "no precedence"],
  ["A;Target:0;0 & 1;41424344;4546", "spaces around an operator"],
  ["A;Target:0;0;4142", "two bytes (no three-byte rule in .ldb)"],
  ["A;Target:0;0;41424344::", "empty options"],
  ["A;Target:0;0;41424344::i", "::i"],
  ["A;Target:0;0;41424344::iw", "::iw"],
  ["A;Target:0;0;41424344::fa", "::fa"],
  ["A;Target:0;0;*:41424344::a", "offset and options"],
  ["A;Target:0;0;4:41424344", "absolute offset"],
  ["A;Target:0;0;EOF-15:41424344", "EOF offset"],
  ["A;Target:0;0;4,8:41424344", "floating offset"],
  ["A;Target:3;0;41424344", "a normalised target"],
  ["A;Target:1;0;EP+0:41424344", "EP offset on PE"],
  ["A;Target:0;0;0(>>4#hb2#=1234)", "byte compare"],
  ["A;Target:0;0;4142(B)43", "a class"],
  ["A;Target:0;0;4142(c6c7|)4344", "an alternative with an empty member"],
];

/** Lines clamscan 1.4.6 refuses (the whole database with them). */
export const LDB_REFUSED: [string, string][] = [
  ["A;Target:0;0", "three fields"],
  ["A;Target:0;0&1;41424344", "fewer subsignatures than ids"],
  ["A;Target:0;0;41424344;45464748", "more subsignatures than ids"],
  ["A;Target:0;0;41424344;", "an empty last subsignature"],
  ["A;Engine:300-400,Target:0;0&;41424344", "bad logic even when skipped by level"],
  ["A;Engine:300-400,Target:0;0&1;41424344", "bad count even when skipped by level"],
  ["A;Target:0,Engine:51-255;0;41424344", "Engine not first"],
  ["A;Engine:51-255;0;41424344", "no Target"],
  ["A;Target:0;0;zz", "bad hex"],
  ["A;Target:0;0;41", "one byte"],
  ["A;Target;0;41424344", "attribute without a colon"],
  ["A;Target:x;0;41424344", "Target not a number"],
  ["A;;0;41424344", "empty TDB"],
  ["A;Target:0;;41424344", "empty logic"],
  ["A;Target:0;0&;41424344", "missing right argument"],
  ["A;Target:0;&0;41424344", "missing left argument"],
  ["A;Target:0;(0)>1;41424344", "a count on a lone block"],
  ["A;Target:0;(0;41424344", "missing closing parenthesis"],
  ["A;Target:0;0);41424344", "missing opening parenthesis"],
  ["A;Target:0;0>;41424344", "missing count"],
  ["A;Target:0;0=x;41424344", "count not a number"],
  ["A;Target:0;();41424344", "empty parentheses"],
  ["A;Target:0;64;41424344", "id 64"],
  ["A;Target:0;0;41424344::q", "unknown option"],
  ["A;Target:0;0;x:41424344", "bad offset"],
  ["A;Target:0;0;EP+0:41424344", "EP offset on target 0"],
  ["A;Engine:51,Target:0;0;41424344", "Engine without a range"],
  ["A;Engine:5a-255,Target:0;0;41424344", "Engine not a number"],
  ["A;Target:0,FileSize:1-100;0;41424344", "new attribute without Engine"],
  ["A;Engine:51-255,Target:0,FileSize:100;0;41424344", "FileSize without a range"],
  ["A;Engine:51-255,Target:0,EntryPoint:1-5;0;41424344", "EntryPoint on target 0"],
  ["A;Target:7;0;41(B)4243", "prefilter rule of target 7"],
  ["A;Target:0;0;4142(|c6c7)4344", "an empty first member"],
];

Deno.test({
  name: "virtav loads exactly the .ldb lines clamscan loads, one at a time",
  ignore: !CLAMSCAN,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "virtav-ldb-" });
    try {
      await Deno.writeFile(`${dir}/target`, bytesOf("....ABCDEFGH....xyz\n"));
      // every loaded line in one database (each its own name): both load it
      const all = LDB_LOADED.map(([l], i) => l.replace(/^A;/, `L${i};`)).join("\n") + "\n";
      await Deno.writeTextFile(`${dir}/all.ldb`, all);
      const ca = await clamscanSide([`${dir}/all.ldb`], [`${dir}/target`]);
      const va = await virtavSide([`${dir}/all.ldb`], [`${dir}/target`]);
      assert.notEqual(ca.code, 2, ca.err);
      assert.notEqual(va.code, 2, va.err);
      // each refused line alone (after a loaded one): both refuse the database
      const wrong: string[] = [];
      for (const [line, why] of LDB_REFUSED) {
        await Deno.writeTextFile(`${dir}/one.ldb`, `${LDB_LOADED[0][0]}\n${line}\n`);
        const c = await clamscanSide([`${dir}/one.ldb`], [`${dir}/target`]);
        const v = await virtavSide([`${dir}/one.ldb`], [`${dir}/target`]);
        if (c.code !== 2) wrong.push(`clamscan loads ${line} (${why}) now`);
        if (v.code !== 2) wrong.push(`virtav loads ${line} (${why}): exit ${v.code}`);
      }
      assert.deepEqual(wrong, []);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** Lines per seed of the loading differential (each line is one clamscan run). */
const DIFF_LINES = 100;

/** Generated `.ldb` lines, each alone: clamscan and virtav refuse the same ones. */
async function loadRound(seed: number): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: `virtav-ldb-diff-${seed}-` });
  try {
    await Deno.writeFile(`${dir}/target`, bytesOf("....ABCDEFGH....xyz\n"));
    const lines = generateLdbLoadLines(DIFF_LINES, seed);
    await Deno.writeTextFile(`${dir}/all.ldb`, lines.join("\n") + "\n");
    const v = await run(BIN, ["sigs", "check", "--no-db", "--no-eicar", "-d", `${dir}/all.ldb`]);
    const virtavRefused = new Set<number>();
    for (const m of v.out.matchAll(/all\.ldb:([0-9]+): /g)) virtavRefused.add(Number(m[1]) - 1);
    const wrong: string[] = [];
    for (let i = 0; i < lines.length; i++) {
      await Deno.writeTextFile(`${dir}/one.ldb`, lines[i] + "\n");
      const c = await clamscanSide([`${dir}/one.ldb`], [`${dir}/target`]);
      if ((c.code === 2) !== virtavRefused.has(i)) {
        wrong.push(`${c.code === 2 ? "only clamscan" : "only virtav"} refuses: ${lines[i]}`);
      }
    }
    assert.ok(virtavRefused.size > 5 && virtavRefused.size < lines.length - 5, v.out);
    assert.deepEqual(wrong, [], `seed ${seed}: replay with VIRTAV_LDB_SEED=${seed}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "differential: generated .ldb lines are refused by virtav iff by clamscan (fixed seed)",
  ignore: !CLAMSCAN,
  async fn() {
    await loadRound(20261205);
  },
});

Deno.test({
  name: "differential: generated .ldb lines are refused by virtav iff by clamscan (clock seed)",
  ignore: !CLAMSCAN,
  async fn() {
    const env = Deno.env.get("VIRTAV_LDB_SEED");
    const seed = env ? Number(env) : Date.now() % 2 ** 31;
    console.log(`virtav .ldb loading seed: ${seed} (replay: VIRTAV_LDB_SEED=${seed})`);
    await loadRound(seed);
  },
});
