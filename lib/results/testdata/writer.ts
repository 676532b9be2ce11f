// A writer process for the concurrency test: N runs, each with M metrics and an event.
import { startRun } from "../run_recorder.ts";

const [db, tag, runs, metrics] = Deno.args;
for (let r = 0; r < Number(runs); r++) {
  const run = await startRun({ db }, { tool: "test", command: tag, args: { r } });
  for (let m = 0; m < Number(metrics); m++) run.metric("m", m, "", { tag, r });
  run.event("done", { tag, r });
  await run.finish("ok");
}
