/**
 * `pdc-filter classify`: a Unix filter over I/O records (JSON lines) that adds
 * `"class": "journal"|"other"` and `"classBy": "image"|"heuristic"`.
 *
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import {
  addExamples,
  LineWriter,
  openOutput,
  withCommonOptions,
  withRun,
} from "../../lib/cli/mod.ts";
import { formatRecord } from "../../lib/trace/jsonl.ts";
import { ExactDetector, type JournalDetector } from "../../lib/pdc/journal_detector.ts";
import { HeuristicDetector } from "../../lib/pdc/heuristic_detector.ts";
import { exactRanges, readRecords, withDetectorOptions } from "./detector_options.ts";

/** Adds `classify` to the program. */
export function addClassifyCommand(program: Command) {
  const cmd = withCommonOptions(withDetectorOptions(
    new Command("classify")
      .description(
        'tag each I/O record with "class": "journal"|"other" and "classBy"; exact with ' +
          "--image/--ranges, else the online heuristic",
      )
      .argument("[trace]", "I/O records, one JSON object a line ('-' = stdin)", "-")
      .option("-o, --out <file>", "write records to FILE instead of standard output"),
    "exact method",
  )).action(async (trace, opts) => {
    const args = { trace, image: opts.image, ranges: opts.ranges, confirm: opts.confirm };
    await withRun(opts, { tool: "pdc-filter", command: "classify", args }, async (run) => {
      const ranges = await exactRanges(opts);
      const confirm = opts.confirm;
      const detector: JournalDetector = ranges !== undefined
        ? new ExactDetector(ranges)
        : new HeuristicDetector({ confirmCommits: Math.max(1, confirm) });
      const input = await readRecords(trace);
      const out = new LineWriter(await openOutput(opts.out));
      let records = 0, journal = 0;
      for await (const rec of input) {
        const j = detector.observe(rec.op, rec.off, rec.len, rec.fua === true, rec.dev);
        rec.class = j ? "journal" : "other";
        rec.classBy = detector.method;
        records++;
        if (j) journal++;
        await out.write(formatRecord(rec));
      }
      await out.close();
      run.metric("records", records, "records", { method: detector.method });
      run.metric("journal_records", journal, "records", { method: detector.method });
      if (!opts.quiet && opts.output === "text") {
        console.error(`classify: ${records} records, ${journal} journal (${detector.method})`);
      }
    });
  });
  addExamples(cmd, [
    "pdc-filter classify --image guest.img trace.jsonl > tagged.jsonl",
    "qbic-cache serve --record - guest.img | pdc-filter classify | qbic-cache sim --admit pdc -",
  ]);
  program.addCommand(cmd);
}
