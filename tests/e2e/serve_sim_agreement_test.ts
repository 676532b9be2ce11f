/**
 * The live cache and the simulator agree: a trace recorded by `serve --record` under a skewed
 * fio workload, replayed through lib/cache/simulate.ts with the same policy and size, gives the
 * same block accesses and hits as the live cache counted.
 */
import assert from "node:assert/strict";
import { have, makeImage, run, startServe } from "./serve_helpers.ts";
import { parseRecordLine } from "../../lib/trace/jsonl.ts";
import { simulate } from "../../lib/cache/simulate.ts";
import { createPolicy } from "../../lib/cache/registry.ts";

const OK = have("fio");
if (!OK) console.log("serve_sim_agreement_test: fio not installed, skipping");

for (const policy of ["qbic", "arc", "s3fifo", "lru"]) {
  Deno.test({
    name: `serve vs sim: recorded trace replays to the live hit counts (${policy})`,
    ignore: !OK,
    fn: async () => {
      const dir = await Deno.makeTempDir({ prefix: "serve-sim-" });
      const img = `${dir}/disk.img`;
      const trace = `${dir}/trace.jsonl`;
      makeImage(img, 16 << 20);
      const s = await startServe(dir, [
        "--cache-size",
        "1M",
        "--policy",
        policy,
        "--record",
        trace,
        "--output",
        "json",
        img,
      ]);
      let live: { accesses: number; hits: number };
      try {
        const r = await run("fio", [
          "--name=z",
          "--ioengine=nbd",
          `--uri=${s.uri}`,
          "--rw=randrw",
          "--rwmixread=70",
          "--bssplit=4k/70:8k/20:64k/10",
          "--random_distribution=zipf:1.1",
          "--iodepth=8",
          "--size=8M",
          "--io_size=64M",
          "--number_ios=3000",
          "--randseed=7",
        ]);
        assert.equal(r.code, 0, r.err);
      } finally {
        const st = await s.stop();
        assert.equal(st.code, 0, st.stderr);
        live = JSON.parse(st.stdout.trim().split("\n").pop()!);
      }
      const lines = (await Deno.readTextFile(trace)).split("\n").filter((l) => l !== "");
      const records = lines.map((l, i) => parseRecordLine(l, i + 1));
      assert.ok(records.length >= 3000, `${records.length} records`);
      const sim = simulate(records, createPolicy(policy, 256), 4096);
      assert.ok(live.accesses > 3000);
      assert.equal(sim.accesses, live.accesses);
      assert.equal(sim.hits, live.hits);
      // The per-request hit tags agree with the simulator's whole-request count, too.
      const tagged = records.filter((r) => r.hit === true && (r.op === "R" || r.op === "W"));
      assert.equal(tagged.length, sim.reads.wholeHits + sim.writes.wholeHits);
      await Deno.remove(dir, { recursive: true });
    },
  });
}
