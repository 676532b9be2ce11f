import assert from "node:assert/strict";
import { runTimed } from "./whole_process.ts";

Deno.test("runTimed reports a child's CPU time and RSS, and a failing child as an error", async () => {
  // A child that burns CPU: sh counting; its CPU time must show up (not the parent's).
  const r = await runTimed("sh", [
    "-c",
    "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; echo $i",
  ]);
  assert.equal(r.stdout.trim(), "200000");
  assert.ok(r.cpuS > 0, `cpu ${r.cpuS}`);
  assert.ok(r.maxRssKiB > 0);
  await assert.rejects(runTimed("sh", ["-c", "echo bad >&2; exit 3"]), /exit 3: bad/);
});

Deno.test("runTimed passes env and cwd, and keeps a non-zero exit's figures with anyExit", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hvkit-time-test-" });
  try {
    const r = await runTimed("sh", ["-c", 'echo "$HVKIT_T $(pwd)"; exit 1'], {
      cwd: dir,
      env: { HVKIT_T: "x" },
      anyExit: true,
    });
    assert.equal(r.stdout.trim(), `x ${await Deno.realPath(dir)}`);
    assert.equal(r.code, 1);
    assert.ok(r.userS >= 0 && r.sysS >= 0 && Math.abs(r.cpuS - r.userS - r.sysS) < 1e-9);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
