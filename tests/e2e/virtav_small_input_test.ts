/**
 * `virtav scan` of small inputs with a large database skips setting up the Hyperscan prefilter
 * (tools/virtav/scan.ts SMALL_INPUT, LARGE_DB): the key loop alone must find what was planted,
 * in small files just as in one past the threshold (where the prefilter is used, compiled here
 * because of `--no-cache`). Generated signatures, seed printed.
 */
import assert from "node:assert/strict";
import { generateSignatures, prng } from "../../lib/virtav/generate.ts";

const BIN = new URL("../../bin/virtav", import.meta.url).pathname;

async function virtav(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const r = await new Deno.Command(BIN, { args, stdout: "piped", stderr: "piped" }).output();
  const d = new TextDecoder();
  return { code: r.code, out: d.decode(r.stdout), err: d.decode(r.stderr) };
}

/** The signature names reported FOUND for `file`. */
function found(out: string, file: string): string[] {
  return out.split("\n").filter((l) => l.startsWith(`${file}: `) && l.endsWith(" FOUND"))
    .map((l) => l.slice(file.length + 2, -6)).sort();
}

Deno.test("virtav scan: a small input with 20,000 signatures (no prefilter) finds what a large one finds", async () => {
  const seed = Number(Deno.env.get("VIRTAV_SMALL_SEED") ?? Date.now() % 2 ** 31);
  console.log(`small-input seed: ${seed} (replay: VIRTAV_SMALL_SEED=${seed})`);
  const dir = await Deno.makeTempDir({ prefix: "virtav-small-" });
  try {
    const sigs = generateSignatures(20000, seed);
    await Deno.writeTextFile(`${dir}/s.ndb`, sigs.map((s) => s.line).join("\n") + "\n");
    const rand = prng(seed);
    const any = sigs.filter((s) => s.offset.kind === "any");
    const small = new Uint8Array(8192).fill(0x2e);
    for (let k = 0; k < 4; k++) {
      const inst = any[Math.floor(rand() * any.length)].instance(rand);
      small.set(inst.subarray(0, 2000), 2048 * k);
    }
    const big = new Uint8Array((1 << 20) + small.length).fill(0x2e);
    big.set(small);
    await Deno.writeFile(`${dir}/small.bin`, small);
    await Deno.writeFile(`${dir}/big.bin`, big);
    const common = ["scan", "--no-db", "--no-cache", "--all-matches", "-d", `${dir}/s.ndb`];
    const s = await virtav([...common, `${dir}/small.bin`]);
    const b = await virtav([...common, `${dir}/big.bin`]);
    assert.ok(s.code <= 1 && b.code <= 1, s.err + b.err);
    const fs = found(s.out, `${dir}/small.bin`), fb = found(b.out, `${dir}/big.bin`);
    assert.ok(fs.length >= 1, `nothing found in the small file: ${s.out}${s.err}`);
    // signatures with an EOF offset may match only in one of them: compare the others
    const eof = new Set(sigs.filter((x) => x.offset.kind === "eof").map((x) => x.name));
    assert.deepEqual(fs.filter((n) => !eof.has(n)), fb.filter((n) => !eof.has(n)));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
