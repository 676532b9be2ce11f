import assert from "node:assert/strict";
import { pidAlive, spawnGuarded } from "./guarded_process.ts";

Deno.test("guarded: kill() ends the child; exit status is reported", async () => {
  const p = await spawnGuarded("/bin/sleep", ["60"]);
  assert.ok(pidAlive(p.pid));
  await p.kill();
  assert.equal(pidAlive(p.pid), false);
  const q = await spawnGuarded("/bin/sh", ["-c", "exit 3"]);
  assert.equal((await q.status).code, 3);
});

Deno.test("guarded: the hard limit kills a child that runs too long", async () => {
  const p = await spawnGuarded("/bin/sleep", ["60"], { timeoutMs: 1000 });
  const st = await p.status;
  assert.notEqual(st.code, 0);
  assert.equal(pidAlive(p.pid), false);
});

Deno.test("guarded: the child dies when its owner process dies", async () => {
  // an owner that starts a guarded sleep, prints its pid and is then SIGKILLed
  const owner = `
    import { spawnGuarded } from ${
    JSON.stringify(new URL("./guarded_process.ts", import.meta.url).href)
  };
    const p = await spawnGuarded("/bin/sleep", ["60"]);
    console.log(p.pid);
    await new Promise(() => {});
  `;
  const deno = Deno.execPath();
  const child = new Deno.Command(deno, {
    args: ["eval", owner],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const r = await reader.read();
    if (r.done) break;
    text += new TextDecoder().decode(r.value);
  }
  reader.releaseLock();
  const pid = Number(text.trim());
  assert.ok(pid > 0 && pidAlive(pid));
  child.kill("SIGKILL");
  await child.status;
  await child.stdout.cancel().catch(() => {});
  let alive = true;
  for (let i = 0; i < 100 && alive; i++) {
    alive = pidAlive(pid);
    if (alive) await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(alive, false, "the guard killed the orphan");
});
