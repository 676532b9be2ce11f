// A stand-in benchmark for the bench/run tests: records one run with a figure per peer.
import { startRun } from "../../../../results/mod.ts";
const i = Deno.args.indexOf("--db");
const db = i >= 0 ? Deno.args[i + 1] : undefined;
const quick = Deno.args.includes("--quick");
const run = await startRun({ db }, { tool: "bench", command: "good", args: { quick } });
run.metric("iops", 1000, "1/s", { peer: "hvkit", job: "stand-in" });
run.metric("iops", 800, "1/s", { peer: "peer", job: "stand-in" });
run.metric("iops", 1.25, "x", {
  ratio: "hvkit/peer",
  peer: "peer",
  better: "higher",
  job: "stand-in",
});
await run.finish("ok");
console.log(`good: hvkit 1000/s, peer 800/s, ratio 1.25 (${quick ? "quick" : "full"})`);
