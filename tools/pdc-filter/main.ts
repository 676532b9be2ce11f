/**
 * `pdc-filter`: keeps a guest file system's journal writes out of the host cache: locate the journal, classify an I/O stream
 *
 * @module
 */
import { addDoctorCommand, makeTool, runTool } from "../../lib/cli/mod.ts";
import { addClassifyCommand } from "./classify.ts";
import { addEvalCommand } from "./eval.ts";
import { addLocateCommand } from "./locate.ts";

/** Builds the `pdc-filter` command line (exported for tests). */
export function buildProgram() {
  const program = makeTool(
    "pdc-filter",
    "keeps a guest file system's journal writes out of the host cache: locate the journal, classify an I/O stream",
    [
      "pdc-filter locate guest.img",
      "pdc-filter classify --image guest.img trace.jsonl",
      "pdc-filter eval --image guest.img trace.jsonl",
      "pdc-filter doctor",
    ],
  );
  addLocateCommand(program);
  addClassifyCommand(program);
  addEvalCommand(program);
  addDoctorCommand(program, "pdc-filter", ["debugfs", "mkfs.ext4", "mkfs.xfs"]);
  return program;
}

if (import.meta.main) await runTool(buildProgram());
