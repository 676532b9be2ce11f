/**
 * `qbic-cache serve --export NAME=IMAGE ...`: many exports behind one cache, driven by the real
 * clients. nbdinfo lists every export with its size and read-only flag; qemu-io and fio drive two
 * exports at once with their data verified (qemu-io's pattern checks, fio's crc32c verify, the
 * image files after shutdown); the per-export figures account for each export separately.
 */
import assert from "node:assert/strict";
import { have, makeImage, run, startServe } from "./serve_helpers.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const PRESENT = have("qemu-io") && have("nbdinfo") && have("fio");
if (!PRESENT) console.log("serve_exports_test: qemu-io/nbdinfo/fio not installed, skipping");

const uriOf = (socket: string, name: string) => `nbd+unix:///${name}?socket=${socket}`;

for (const allocation of ["shared", "static"]) {
  Deno.test({
    name:
      `serve --export: nbdinfo lists all; qemu-io and fio on two exports at once (${allocation})`,
    ignore: !PRESENT,
    fn: async () => {
      const dir = await Deno.makeTempDir({ prefix: "serve-exports-" });
      makeImage(`${dir}/a.img`, 16 << 20, 0x5a);
      makeImage(`${dir}/b.img`, 12 << 20);
      makeImage(`${dir}/c.img`, 3 << 20, 0x3c);
      const s = await startServe(dir, [
        ...["--cache-size", "2M", "--policy", "lru", "--allocation", allocation],
        ...["--output", "json", "--backing-latency", "20us"],
        // vm-b may hold at most a quarter of the shared pool (static: a fixed quarter)
        ...["--export", `vm-a=${dir}/a.img`],
        ...["--export", `vm-b=${dir}/b.img,${allocation === "shared" ? "max" : "share"}=25%`],
        ...["--export", `vm-c=${dir}/c.img,read-only`],
        ...["--record", `${dir}/trace.jsonl`],
      ]);
      let st;
      try {
        const list = await run("nbdinfo", ["--list", "--json", s.uri]);
        assert.equal(list.code, 0, list.err);
        const j = JSON.parse(list.out);
        const byName = new Map(
          j.exports.map((e: Record<string, unknown>) => [e["export-name"], e]),
        );
        assert.deepEqual([...byName.keys()].sort(), ["vm-a", "vm-b", "vm-c"]);
        const a = byName.get("vm-a") as Record<string, unknown>;
        const c = byName.get("vm-c") as Record<string, unknown>;
        assert.equal(a["export-size"], 16 << 20);
        assert.equal((byName.get("vm-b") as Record<string, unknown>)["export-size"], 12 << 20);
        assert.equal(c["export-size"], 3 << 20);
        assert.equal(a["is_read_only"], false);
        assert.equal(c["is_read_only"], true);

        // The read-only export reads its own bytes through the shared cache (first: what
        // vm-b holds at the end then comes from the two clients below).
        const r = await run("qemu-io", [
          ...["-f", "raw", "-r", "-c", "read -P 0x3c 0 3M"],
          uriOf(s.socket, "vm-c"),
        ]);
        assert.equal(r.code, 0, r.err + r.out);
        assert.ok(!/Pattern verification failed/.test(r.out), r.out);

        // Two clients at once, on two exports: qemu-io patterns on vm-a, fio verify on vm-b.
        const [q, f] = await Promise.all([
          run("qemu-io", [
            ...["-f", "raw", "-t", "none"],
            ...[
              "write -P 0xab 0 4M",
              "read -P 0xab 0 4M",
              "aio_write -P 0x11 6M 64k",
              "aio_flush",
              "read -P 0x11 6M 64k",
              "read -P 0x5a 10M 2M",
              "flush",
            ].flatMap((c) => ["-c", c]),
            uriOf(s.socket, "vm-a"),
          ]),
          run("fio", [
            ...["--name=v", "--ioengine=nbd", `--uri=${uriOf(s.socket, "vm-b")}`],
            ...["--rw=randwrite", "--bs=4k", "--iodepth=8", "--size=8M"],
            ...["--verify=crc32c", "--do_verify=1", "--verify_fatal=1"],
            ...["--verify_state_save=0", "--output-format=json"],
          ], dir),
        ]);
        assert.equal(q.code, 0, q.err + q.out);
        assert.ok(!/Pattern verification failed|error/i.test(q.out + q.err), q.out + q.err);
        assert.equal(f.code, 0, f.err + f.out.slice(0, 2000));
        assert.equal(JSON.parse(f.out.slice(f.out.indexOf("{"))).jobs[0].error, 0);
      } finally {
        st = await s.stop();
      }
      assert.equal(st.code, 0, st.stderr);
      assert.ok(st.stderr.includes(`3 exports on nbd+unix:///?socket=${s.socket}`), st.stderr);
      const out = JSON.parse(st.stdout.trim().split("\n").at(-1)!);
      const rows = new Map(out.exports.map((e: Record<string, unknown>) => [e.export, e]));
      const ra = rows.get("vm-a") as Record<string, number>;
      const rb = rows.get("vm-b") as Record<string, number>;
      const rc = rows.get("vm-c") as Record<string, number>;
      assert.ok(ra.writes >= 2 && ra.reads >= 3, JSON.stringify(ra));
      assert.ok(rb.writes >= 2048 && rb.reads >= 2048, JSON.stringify(rb)); // 8M in 4k, then verify
      assert.equal(rc.writes, 0);
      assert.ok(rb.bytes_cached <= (2 << 20) / 4, `vm-b holds ${rb.bytes_cached} > 25% of 2M`);
      assert.ok(rb.bytes_cached > 0, "vm-b's random writes left blocks in the cache");
      assert.equal(rc.device_writes, 0, "nothing was ever written to the read-only image");
      assert.ok(ra.accesses > 0 && rb.accesses > 0 && rc.accesses > 0, JSON.stringify(out));
      assert.equal(
        out.accesses,
        ra.accesses + rb.accesses + rc.accesses,
        "per-export accesses add up to the cache's",
      );

      // One trace, every export's requests in arrival order, each with its export's name.
      const recs = (await Deno.readTextFile(`${dir}/trace.jsonl`)).trim().split("\n")
        .map((l) => JSON.parse(l));
      const perDev = (d: string) => recs.filter((r) => r.dev === d);
      assert.equal(perDev("vm-a").length, ra.requests);
      assert.equal(perDev("vm-b").length, rb.requests);
      assert.equal(perDev("vm-c").length, rc.requests);
      assert.equal(recs.length, ra.requests + rb.requests + rc.requests);
      assert.ok(recs.every((r, i) => i === 0 || r.ts >= recs[i - 1].ts), "arrival order");
      assert.ok(perDev("vm-c").every((r) => r.op === "R"));

      const img = await Deno.readFile(`${dir}/a.img`);
      assert.ok(img.subarray(0, 4 << 20).every((x) => x === 0xab));
      assert.ok(img.subarray(6 << 20, (6 << 20) + 65536).every((x) => x === 0x11));
      assert.ok(img.subarray(10 << 20, 12 << 20).every((x) => x === 0x5a));
      const c = await Deno.readFile(`${dir}/c.img`);
      assert.ok(c.every((x) => x === 0x3c));
      await Deno.remove(dir, { recursive: true });
    },
  });
}

Deno.test({
  name: "serve --export: bad combinations are one-line usage errors, exit 2",
  ignore: !PRESENT,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "serve-exports-bad-" });
    const cases: [string[], RegExp][] = [
      [["--export", "a=memory:1M", "memory:1M"], /give either IMAGE or --export/],
      [[], /no image: give IMAGE, or --export/],
      [["--export", "a=memory:1M", "--export", "a=memory:2M"], /'a' is given twice/],
      [["--export", "noequals"], /expected NAME=IMAGE/],
      [["--export", "a=memory:1M,fast"], /unknown export option 'fast'/],
      [
        ["--export", "a=memory:1M,max=25%", "--allocation", "static"],
        /max= is for --allocation shared/,
      ],
      [[
        "--allocation",
        "static",
        "--export",
        "a=memory:1M,share=70%",
        "--export",
        "b=memory:1M,share=40%",
      ], /add up to 110%/],
      [["--export", "a=memory:1M", "--admit", "pdc"], /--admit pdc takes one image/],
    ];
    for (const [args, re] of cases) {
      const r = await run(`${ROOT}bin/qbic-cache`, [
        ...["serve", "--no-db", "--socket", `${dir}/s.sock`],
        ...args,
      ]);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.err}`);
      assert.match(r.err, re);
      assert.equal(r.err.trim().split("\n").length, 1, r.err);
    }
    await Deno.remove(dir, { recursive: true });
  },
});
