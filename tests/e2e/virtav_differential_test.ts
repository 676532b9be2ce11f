/**
 * The differential test of issue 14: signatures drawn from clamscan 1.4.6's whole grammar
 * (lib/virtav/grammar_gen.ts), hash lines, and files with planted matches and near misses,
 * scanned by clamscan (raw only, --allmatch) and by virtav; the unique (file, signature) pairs
 * must be equal. Bounded (400 signatures, ~30 files each): a fixed seed and a seed from the
 * clock, printed (replay with VIRTAV_DIFF_SEED=N). Every difference found becomes a fixed case
 * in virtav_grammar_test.ts.
 */
import assert from "node:assert/strict";
import {
  generateGrammarFiles,
  generateGrammarSignatures,
  grammarHashLines,
} from "../../lib/virtav/grammar_gen.ts";
import { assertSamePairs, CLAMSCAN, clamscanSide, virtavSide } from "./virtav_oracle.ts";

const SIGS = 400;

async function roundWithSeed(seed: number): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: `virtav-diff-${seed}-` });
  try {
    const sigs = generateGrammarSignatures(SIGS, seed);
    await Deno.writeTextFile(`${dir}/g.ndb`, sigs.map((s) => s.line).join("\n") + "\n");
    const files = generateGrammarFiles(sigs, seed + 1);
    await Deno.mkdir(`${dir}/files`);
    for (const f of files) await Deno.writeFile(`${dir}/files/${f.name}`, f.data);
    const { hdb, hsb } = grammarHashLines(files, seed + 2);
    await Deno.writeTextFile(`${dir}/g.hdb`, hdb);
    await Deno.writeTextFile(`${dir}/g.hsb`, hsb);
    const dbs = [`${dir}/g.ndb`, `${dir}/g.hdb`, `${dir}/g.hsb`];
    const c = await clamscanSide(dbs, [`${dir}/files`]);
    const v = await virtavSide(dbs, [`${dir}/files`]);
    assert.ok(
      c.code === 0 || c.code === 1,
      `seed ${seed}: clamscan refused: ${c.err.slice(0, 400)}`,
    );
    assert.ok(v.code === 0 || v.code === 1, `seed ${seed}: virtav refused: ${v.err.slice(0, 400)}`);
    assert.ok(c.pairs.size > 20, `seed ${seed}: clamscan found only ${c.pairs.size} pairs`);
    assertSamePairs(c, v, sigs, `seed ${seed}: replay with VIRTAV_DIFF_SEED=${seed}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (!CLAMSCAN) console.log("virtav_differential_test: skipped, clamscan is not installed");

Deno.test({
  name: "differential: virtav equals clamscan on the whole grammar (fixed seed)",
  ignore: !CLAMSCAN,
  async fn() {
    await roundWithSeed(20261204);
  },
});

Deno.test({
  name: "differential: virtav equals clamscan on the whole grammar (seed from the clock)",
  ignore: !CLAMSCAN,
  async fn() {
    const env = Deno.env.get("VIRTAV_DIFF_SEED");
    const seed = env ? Number(env) : Date.now() % 2 ** 31;
    console.log(`virtav differential seed: ${seed} (replay: VIRTAV_DIFF_SEED=${seed})`);
    await roundWithSeed(seed);
  },
});
