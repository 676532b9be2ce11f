/**
 * The matching differential test for `.ldb` (issue 14): logical signatures virtav evaluates
 * (target 0, subsignatures from the whole body grammar, `& | ( )` without counts), files from
 * the grammar generator over every subsignature plus files holding all (or all but one) of a
 * signature's subsignatures; clamscan (raw, --allmatch) and virtav must report the same unique
 * (file, signature) pairs. A fixed seed and one from the clock, printed (replay with
 * VIRTAV_LDB_MATCH_SEED=N).
 */
import assert from "node:assert/strict";
import {
  generateGrammarFiles,
  generateLdbFiles,
  generateLdbSignatures,
} from "../../lib/virtav/grammar_gen.ts";
import { assertSamePairs, CLAMSCAN, clamscanSide, virtavSide } from "./virtav_oracle.ts";

if (!CLAMSCAN) console.log("virtav_ldb_match_test: skipped, clamscan is not installed");

const SIGS = 120;

async function matchRound(seed: number): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: `virtav-ldb-match-${seed}-` });
  try {
    const sigs = generateLdbSignatures(SIGS, seed);
    await Deno.writeTextFile(`${dir}/m.ldb`, sigs.map((s) => s.line).join("\n") + "\n");
    const files = [
      ...generateGrammarFiles(sigs.flatMap((s) => s.subs), seed + 1),
      ...generateLdbFiles(sigs, seed + 2),
    ];
    await Deno.mkdir(`${dir}/files`);
    for (const f of files) await Deno.writeFile(`${dir}/files/${f.name}`, f.data);
    const c = await clamscanSide([`${dir}/m.ldb`], [`${dir}/files`]);
    const v = await virtavSide([`${dir}/m.ldb`], [`${dir}/files`]);
    assert.ok(c.code === 0 || c.code === 1, `seed ${seed}: clamscan: ${c.err.slice(0, 400)}`);
    assert.ok(v.code === 0 || v.code === 1, `seed ${seed}: virtav: ${v.err.slice(0, 400)}`);
    assert.ok(c.pairs.size > 20, `seed ${seed}: clamscan found only ${c.pairs.size} pairs`);
    console.log(`seed ${seed}: ${c.pairs.size} (file, signature) pairs from clamscan`);
    assertSamePairs(c, v, sigs, `seed ${seed}: replay with VIRTAV_LDB_MATCH_SEED=${seed}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "differential: .ldb matches equal clamscan's (fixed seed)",
  ignore: !CLAMSCAN,
  async fn() {
    await matchRound(20261205);
  },
});

Deno.test({
  name: "differential: .ldb matches equal clamscan's (seed from the clock)",
  ignore: !CLAMSCAN,
  async fn() {
    const env = Deno.env.get("VIRTAV_LDB_MATCH_SEED");
    const seed = env ? Number(env) : Date.now() % 2 ** 31;
    console.log(`virtav .ldb matching seed: ${seed} (replay: VIRTAV_LDB_MATCH_SEED=${seed})`);
    await matchRound(seed);
  },
});
