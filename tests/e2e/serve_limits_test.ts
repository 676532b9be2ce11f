/**
 * `qbic-cache serve` under abuse: clients that send the largest reads and never read a reply,
 * more connections than allowed, a client that never finishes its handshake, one that goes
 * quiet. The server stays within its byte budget (RSS measured and printed), and a real client
 * (qemu-io) on another connection keeps being served throughout.
 */
import assert from "node:assert/strict";
import { handshake, Raw, request } from "./nbd_raw_client.ts";
import { have, run, startServe } from "./serve_helpers.ts";

const MiB = 1 << 20;

/** VmRSS and VmHWM (peak) of a process, in bytes. */
function rss(pid: number): { now: number; peak: number } {
  const s = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(s)![1]) * 1024;
  return { now: kb("VmRSS"), peak: kb("VmHWM") };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test({
  name: "serve: 64 clients sending max-size reads without reading replies stay within the budget",
  ignore: !have("qemu-io"),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "serve-budget-" });
    const budget = 256 * MiB;
    const srv = await startServe(dir, [
      "--cache-size",
      "0",
      "--server-budget",
      "256M",
      "--conn-budget",
      "40M",
      "--output",
      "json",
      "memory:64M",
    ]);
    const uri = `nbd+unix:///memory?socket=${srv.socket}`;
    const hostile: Raw[] = [];
    try {
      // A first real client touches every code path, so the baseline has them compiled.
      let r = await run("qemu-io", ["-f", "raw", "-c", "write -P 0x5a 0 1M", uri]);
      assert.equal(r.code, 0, r.err);
      const base = rss(srv.child.pid);
      // 64 clients, each pipelining 8 reads of 32 MiB (the advertised maximum) and reading nothing.
      for (let i = 0; i < 64; i++) {
        const c = await Raw.unix(srv.socket);
        await handshake(c);
        for (let k = 0; k < 8; k++) {
          await c.send(request(0, (k % 2) * 32 * MiB, 32 * MiB, { cookie: k + 1 }));
        }
        hostile.push(c);
      }
      // Let the server take whatever it will take; a well-behaved client keeps being served.
      for (let round = 0; round < 5; round++) {
        r = await run("qemu-io", [
          "-f",
          "raw",
          "-c",
          `write -P ${round + 1} ${MiB + round * 65536} 64k`,
          "-c",
          `read -P ${round + 1} ${MiB + round * 65536} 64k`,
          "-c",
          "read -P 0x5a 0 1M",
          uri,
        ]);
        assert.equal(r.code, 0, r.err);
        assert.doesNotMatch(r.out + r.err, /Pattern verification failed|error/i);
        await sleep(200);
      }
      const held = rss(srv.child.pid);
      const grown = held.peak - base.now;
      console.log(
        `RSS: ${(base.now / MiB).toFixed(0)} MiB before, ${(held.now / MiB).toFixed(0)} MiB ` +
          `with 64 stuck clients (peak ${(held.peak / MiB).toFixed(0)} MiB, +${
            (grown / MiB).toFixed(0)
          } MiB); server budget ${budget / MiB} MiB`,
      );
      // The budget bounds request data; each connection also has its fixed buffers (socket
      // reader and reply scratch, 0.5 MiB) and the JS heap some slack: 1 MiB a connection.
      assert.ok(grown <= budget + 65 * MiB, `grew ${grown} bytes, budget ${budget}`);
      // Before the budget, one such client alone made the server allocate 8 x 32 MiB.
    } finally {
      for (const c of hostile) c.close();
    }
    // With the abusers gone, the server still serves, and its summary names its peak.
    const r = await run("qemu-io", ["-f", "raw", "-c", "read -P 0x5a 0 1M", uri]);
    assert.equal(r.code, 0, r.err);
    const out = await srv.stop();
    await Deno.remove(dir, { recursive: true });
    assert.equal(out.code, 0, out.stderr);
    assert.match(
      out.stderr,
      /limits: 128 connections, in flight 40\.0MiB per connection and 256MiB in all/,
    );
    const row = JSON.parse(out.stdout.trim().split("\n").pop()!);
    console.log(`peak bytes in flight: ${row.peak_bytes_in_flight} (budget ${budget})`);
    assert.ok(row.peak_bytes_in_flight <= budget, String(row.peak_bytes_in_flight));
    assert.ok(row.peak_bytes_in_flight > 100 * MiB, "the abusers never got going");
  },
});

Deno.test("serve: the connection cap, the handshake limit and the idle timeout", async () => {
  const dir = await Deno.makeTempDir({ prefix: "serve-conns-" });
  const srv = await startServe(dir, [
    "--cache-size",
    "0",
    "--shared",
    "2",
    "--server-budget",
    "128M",
    "--handshake-limit",
    "1s",
    "--idle-timeout",
    "2s",
    "memory:1M",
  ]);
  try {
    const a = await Raw.unix(srv.socket);
    await handshake(a);
    const b = await Raw.unix(srv.socket);
    assert.ok(await b.recv(18), "second connection greeted");
    // The third is over the cap: closed before any greeting.
    const c = await Raw.unix(srv.socket);
    assert.equal(await c.recv(18, 10_000), null);
    c.close();
    // b never sends its flags: closed at the handshake limit (well before the test's timeout).
    assert.equal(await b.recv(1, 20_000), null);
    b.close();
    // a is quiet after its handshake: closed at the idle timeout.
    assert.equal(await a.recv(1, 20_000), null);
    a.close();
    // Room again: a new client is served (the server may take a moment to see b and a go).
    let ok = false;
    for (let i = 0; i < 50 && !ok; i++) {
      const d = await Raw.unix(srv.socket);
      try {
        await handshake(d);
        await d.send(request(0, 0, 512, { cookie: 9 }));
        ok = (await d.recv(16 + 512)) !== null;
      } catch {
        await sleep(100);
      } finally {
        d.close();
      }
    }
    assert.ok(ok, "no client served after the others left");
  } finally {
    const out = await srv.stop();
    await Deno.remove(dir, { recursive: true });
    assert.match(out.stderr, /connection refused: 2 open, the most allowed \(max connections 2/);
    assert.match(out.stderr, /handshake not finished within 1 s/);
    assert.match(out.stderr, /idle for \d+ s \(idle timeout 2 s\)/);
  }
});

Deno.test("serve: a budget that cannot hold the largest request is a usage error", async () => {
  const dir = await Deno.makeTempDir({ prefix: "serve-badlim-" });
  try {
    const r = await run(new URL("../../bin/qbic-cache", import.meta.url).pathname, [
      "serve",
      "--no-db",
      "--socket",
      `${dir}/s.sock`,
      "--conn-budget",
      "16M",
      "memory:1M",
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.err, /--conn-budget: connection budget 16777216: below the largest request/);
    assert.equal(r.err.trim().split("\n").length, 1, r.err);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
