import assert from "node:assert/strict";

const root = new URL("../../", import.meta.url).pathname;
const bin = `${root}bin/qbic-cache`;
const MASK64 = (1n << 64n) - 1n;

/** Blocks that share both buckets of native/cache.h's node table until it has 17 buckets. */
function collidingBlocks(count: number): number[] {
  const out: number[] = [];
  for (let k = 1n; out.length < count; k++) {
    let h = ((k ^ (k >> 31n)) * 0x9E3779B97F4A7C15n) & MASK64;
    h ^= h >> 29n;
    if ((h >> 32n) < 1n << 28n && (h & 0xffffffffn) < 1n << 28n) out.push(Number(k));
  }
  return out;
}

Deno.test("sim e2e: a node table that cannot grow is a one-line error naming the request, exit 1", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const trace = `${dir}/t.jsonl`;
    const blocks = collidingBlocks(24);
    const lines = blocks.map((b, i) =>
      JSON.stringify({ ts: i, op: "R", off: b * 4096, len: 4096 })
    );
    await Deno.writeTextFile(trace, lines.join("\n") + "\n");
    for (const file of [trace, `${dir}/t.bin`]) {
      if (file.endsWith(".bin")) {
        const conv = await new Deno.Command(bin, {
          args: ["trace", "convert", "--no-db", trace, "-o", file],
        }).output();
        assert.equal(conv.code, 0, new TextDecoder().decode(conv.stderr));
      }
      const o = await new Deno.Command(bin, {
        args: [
          "sim",
          "--no-db",
          "--engine",
          "native",
          "--trace",
          file,
          "--policy",
          "lru",
          "--size",
          "48K",
        ],
        env: { HVKIT_TEST_CACHE_GROW_FAIL: "1" },
        stdout: "piped",
        stderr: "piped",
        cwd: root,
      }).output();
      const err = new TextDecoder().decode(o.stderr).trim();
      assert.equal(o.code, 1, err);
      assert.equal(err.split("\n").length, 1, err);
      // 12 blocks of 4 KiB; four colliding blocks fill the two (equal) buckets, the fifth must grow.
      assert.match(
        err,
        /^qbic-cache: out of memory growing the lru cache's table \(12 blocks\) at request 5:/,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
