/**
 * The cross-tool pipeline bench/run runs after the benchmarks (tools/report/pipeline.ts): the
 * real tools (qbic-cache serve under fio's nbd engine, pdc-filter classify/eval, qbic-cache
 * sim/mrc) write their own runs into one store, and the cross-tool reports join them.
 */
import assert from "node:assert/strict";
import { findOnPath } from "../../lib/cli/doctor.ts";
import { loadReport, runReport } from "../../lib/report/mod.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const haveFio = findOnPath("fio") !== null;
if (!haveFio) console.log("report_pipeline_test: skipping: fio is not installed");

Deno.test({
  name: "pipeline: live trace, classify, sim and mrc land in one store; live and sim agree",
  ignore: !haveFio,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "report-pipeline-" });
    try {
      const db = `${dir}/p.duckdb`;
      const o = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--quiet", `${ROOT}tools/report/pipeline.ts`, "--quick", "--db", db],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const dec = new TextDecoder();
      assert.equal(o.code, 0, dec.decode(o.stderr));
      assert.match(dec.decode(o.stdout), /^live trace: \d+ records/m);

      const p = await runReport(db, loadReport("cache_pipeline"));
      assert.equal(p.status, "ok", p.reason);
      const rows = p.rows.map((r) => Object.fromEntries(p.columns.map((c, i) => [c, r[i]])));
      const fio = rows.filter((r) => r.trace === "pipeline-fio-zipf.jsonl");
      const live = fio.find((r) => r.stage === "live");
      const sim = fio.find((r) => r.stage === "sim" && r.policy === "qbic");
      assert.ok(live && sim, JSON.stringify(fio));
      // the simulator replays the recorded trace with the live policy and size: same hit ratio
      // (serve stores it rounded to 4 places, the report rounds sim's exact one: 1e-4 apart at most)
      assert.equal(sim.cache_mib, live.cache_mib);
      assert.ok(
        Math.abs(Number(sim.value) - Number(live.value)) <= 1.0001e-4,
        `${sim.value} ${live.value}`,
      );
      assert.ok(Number(live.value) > 0 && Number(live.value) < 1, String(live.value));
      // the ext4 guest fixture: the heuristic scored against its exact journal ranges
      const guest = rows.filter((r) => r.trace === "ext4_guest_fsync_read.jsonl");
      for (const what of ["precision", "recall", "journal share"]) {
        assert.ok(guest.some((r) => r.what === what), what);
      }
      assert.ok(guest.some((r) => r.admit === "pdc") && guest.some((r) => r.admit === "all"));

      const curves = await runReport(db, loadReport("cache_curves"));
      const series = new Set(curves.rows.map((r) => String(r[curves.columns.indexOf("series")])));
      assert.ok([...series].some((s) => s.startsWith("lru curve")), [...series].join(","));
      // nothing left behind in .cache/
      const left = [...Deno.readDirSync(`${ROOT}.cache`)].filter((e) =>
        e.name.startsWith("pipeline-")
      );
      assert.deepEqual(left, []);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
