/**
 * virtav's evaluation of `.ldb` logical expressions (lib/virtav/ldb.ts `evalLogic`) against
 * clamscan's: random expressions with counts (grammar_gen `ldbExpression`) over subsignatures
 * of distinct fixed bytes, each planted 0 to 4 times in a file of its own; clamscan (raw,
 * --allmatch) must report a signature for its file exactly when `evalLogic` says so. A fixed
 * seed and a clock seed (printed; replay with VIRTAV_LDB_LOGIC_SEED=N).
 */
import assert from "node:assert/strict";
import { prng } from "../../lib/virtav/generate.ts";
import { ldbExpression } from "../../lib/virtav/grammar_gen.ts";
import { evalLogic } from "../../lib/virtav/ldb.ts";
import { CLAMSCAN, clamscanSide } from "./virtav_oracle.ts";

if (!CLAMSCAN) console.log("virtav_ldb_logic_test: skipped, clamscan is not installed");

const SIGS = 150;

async function logicRound(seed: number): Promise<void> {
  const rand = prng(seed);
  const ri = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const dir = await Deno.makeTempDir({ prefix: `virtav-ldb-logic-${seed}-` });
  try {
    await Deno.mkdir(`${dir}/files`);
    const lines: string[] = [], expected = new Set<string>();
    for (let s = 0; s < SIGS; s++) {
      const k = ri(1, 4);
      const logic = ldbExpression(k, rand);
      // distinct 6-byte patterns: a marker byte no pattern or filler repeats, then 5 letters
      const pats = Array.from({ length: k }, () => [
        0xa0 + ri(0, 15),
        ...Array.from({ length: 5 }, () => 0x41 + ri(0, 25)),
      ]);
      const counts = pats.map(() => ri(0, 4));
      const bytes: number[] = [0x2e, 0x2e, 0x2e, 0x2e, 0x2e, 0x2e, 0x2e];
      for (let j = 0; j < k; j++) {
        for (let c = 0; c < counts[j]; c++) bytes.push(...pats[j], 0x2e, 0x2e);
      }
      const name = `Logic.S${s}`;
      const hex = (p: number[]) => p.map((b) => b.toString(16).padStart(2, "0")).join("");
      lines.push(`${name};Target:0;${logic};${pats.map(hex).join(";")}`);
      await Deno.writeFile(`${dir}/files/f${s}`, Uint8Array.from(bytes));
      if (evalLogic(logic, counts)) expected.add(`${dir}/files/f${s}\t${name}`);
    }
    await Deno.writeTextFile(`${dir}/l.ldb`, lines.join("\n") + "\n");
    const c = await clamscanSide([`${dir}/l.ldb`], [`${dir}/files`]);
    assert.ok(c.code === 0 || c.code === 1, c.err.slice(0, 400));
    // a pattern may recur by chance in another signature's file: only pairs of a file's own
    // signature are compared
    const own = new Set(
      [...c.pairs].filter((p) => p.split("\t")[0].endsWith(`/f${p.split("\t")[1].slice(7)}`)),
    );
    console.log(`pairs: clamscan ${own.size}, evalLogic ${expected.size} of ${SIGS}`);
    const onlyClamscan = [...own].filter((p) => !expected.has(p));
    const onlyVirtav = [...expected].filter((p) => !own.has(p));
    const show = (p: string) => lines[Number(p.split("\t")[1].slice(7))];
    assert.ok(expected.size > 10 && expected.size < SIGS - 10, `${expected.size} detections`);
    assert.deepEqual(
      { onlyClamscan: onlyClamscan.map(show), onlyVirtav: onlyVirtav.map(show) },
      { onlyClamscan: [], onlyVirtav: [] },
      `seed ${seed}: replay with VIRTAV_LDB_LOGIC_SEED=${seed}`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "differential: .ldb expressions with counts evaluate as in clamscan (fixed seed)",
  ignore: !CLAMSCAN,
  async fn() {
    await logicRound(20261205);
  },
});

Deno.test({
  name: "differential: .ldb expressions with counts evaluate as in clamscan (clock seed)",
  ignore: !CLAMSCAN,
  async fn() {
    const env = Deno.env.get("VIRTAV_LDB_LOGIC_SEED");
    const seed = env ? Number(env) : Date.now() % 2 ** 31;
    console.log(`virtav .ldb logic seed: ${seed} (replay: VIRTAV_LDB_LOGIC_SEED=${seed})`);
    await logicRound(seed);
  },
});
