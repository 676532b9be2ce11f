/**
 * `daio replay` stops on SIGINT/SIGTERM with its partial result marked: while it waits for more
 * trace on stdin, and while it waits out a recorded gap.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url).pathname;
const enc = new TextEncoder();
const dec = new TextDecoder();

/** Resolves once byte 1 of `path` is 131: the replay's scratch pattern (i * 131) has landed. */
async function started(path: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if ((await Deno.readFile(path))[1] === 131) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("the replay never wrote");
}

for (const [sig, pace] of [["SIGINT", "asfast"], ["SIGTERM", "recorded"]] as const) {
  Deno.test(`daio replay: ${sig} (${pace}) stops it with its partial result marked`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "replay-int-" });
    const img = `${dir}/t.img`;
    await Deno.writeFile(img, new Uint8Array(1 << 20));
    const child = new Deno.Command(`${ROOT}bin/daio`, {
      args: [
        "replay",
        "--no-db",
        "--output",
        "json",
        "--pace",
        pace,
        "--target",
        img,
        "-",
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const out = child.output();
    const w = child.stdin.getWriter();
    // Some records, the first a write that shows the replay has started; with the recorded pace
    // the last one is due an hour later. Then stdin stays open and quiet.
    const lines = [`{"ts":0,"op":"W","off":0,"len":4096}`];
    for (let i = 1; i < 50; i++) {
      lines.push(`{"ts":${i * 1000},"op":"R","off":${i * 4096},"len":4096}`);
    }
    lines.push(`{"ts":3600000000000,"op":"R","off":0,"len":4096}`);
    await w.write(enc.encode(lines.join("\n") + "\n"));
    try {
      await started(img);
      const t0 = performance.now();
      child.kill(sig);
      const o = await out;
      const ms = performance.now() - t0;
      console.log(`${sig}: exited ${o.code} ${ms.toFixed(0)} ms after the signal`);
      assert.equal(o.code, 130, dec.decode(o.stderr));
      const j = JSON.parse(dec.decode(o.stdout).trim());
      assert.equal(j.partial, true);
      assert.equal(j.interrupted, sig);
      assert.ok(j.records >= 1 && j.records <= 51, String(j.records));
      assert.ok(j.write.ios === 1, JSON.stringify(j.write));
    } finally {
      try {
        await w.close();
      } catch { /* closed */ }
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await out.catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  });
}
