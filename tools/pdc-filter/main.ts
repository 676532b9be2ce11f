/**
 * `pdc-filter`: keeps a guest file system's journal writes out of the host cache: locate the journal, classify an I/O stream
 *
 * @module
 */
import { addDoctorCommand, makeTool, runTool } from "../../lib/cli/mod.ts";

/** Builds the `pdc-filter` command line (exported for tests). */
export function buildProgram() {
  const program = makeTool(
    "pdc-filter",
    "keeps a guest file system's journal writes out of the host cache: locate the journal, classify an I/O stream",
    [
      "pdc-filter doctor",
    ],
  );
  addDoctorCommand(program, "pdc-filter", ["debugfs", "mkfs.ext4", "mkfs.xfs"]);
  return program;
}

if (import.meta.main) await runTool(buildProgram());
