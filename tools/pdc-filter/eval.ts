/**
 * `pdc-filter eval`: precision and recall of the online heuristic against the exact method on
 * the same trace.
 *
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import {
  addExamples,
  formatTable,
  ToolError,
  UsageError,
  withCommonOptions,
  withRun,
} from "../../lib/cli/mod.ts";
import { ExactDetector } from "../../lib/pdc/journal_detector.ts";
import { HeuristicDetector } from "../../lib/pdc/heuristic_detector.ts";
import { Evaluator } from "../../lib/pdc/evaluate.ts";
import { exactRanges, readRecords, withDetectorOptions } from "./detector_options.ts";

/** Adds `eval` to the program. */
export function addEvalCommand(program: Command) {
  const cmd = withCommonOptions(withDetectorOptions(
    new Command("eval")
      .description("precision and recall of the heuristic against the exact journal ranges")
      .argument("[trace]", "I/O records, one JSON object a line ('-' = stdin)", "-"),
    "the reference",
  )).action(async (trace, opts) => {
    const args = { trace, image: opts.image, ranges: opts.ranges, confirm: opts.confirm };
    await withRun(opts, { tool: "pdc-filter", command: "eval", args }, async (run) => {
      const ranges = await exactRanges(opts);
      if (ranges === undefined) throw new UsageError("eval needs --image or --ranges");
      const confirm = Math.max(1, opts.confirm);
      const ev = new Evaluator(
        new ExactDetector(ranges),
        new HeuristicDetector({ confirmCommits: confirm }),
      );
      for await (const rec of await readRecords(trace)) {
        ev.step(rec.op, rec.off, rec.len, rec.fua === true, rec.dev);
      }
      const r = ev.result();
      // Precision and recall of nothing are vacuous (1.0000); an empty trace is a mistake.
      if (r.requests === 0) throw new ToolError(`${trace}: no I/O records to evaluate`);
      const labels = { trace, confirm };
      for (const k of ["precision", "recall", "writePrecision", "writeRecall"] as const) {
        run.metric(k, r[k], "ratio", labels);
      }
      run.metric("requests", r.requests, "requests", labels);
      run.metric("journal_requests", r.journal, "requests", labels);
      if (opts.output === "json") console.log(JSON.stringify(r));
      else {
        const f = (x: number) => x.toFixed(4);
        console.log(formatTable(
          ["scope", "journal", "found", "false+", "precision", "recall"],
          [
            ["requests", r.journal, r.truePositive, r.falsePositive, f(r.precision), f(r.recall)],
            [
              "writes",
              r.journalWrites,
              r.truePositiveWrites,
              r.falsePositiveWrites,
              f(r.writePrecision),
              f(r.writeRecall),
            ],
            [
              "bytes",
              r.bytesJournal,
              r.bytesTruePositive,
              r.bytesFalsePositive,
              f(r.bytePrecision),
              f(r.byteRecall),
            ],
          ],
          "text",
        ));
      }
    });
  });
  addExamples(cmd, ["pdc-filter eval --image guest.img trace.jsonl"]);
  program.addCommand(cmd);
}
