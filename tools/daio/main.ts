/**
 * `daio`: a direct io_uring I/O engine: benchmark a file or device like fio, replay a guest trace
 *
 * @module
 */
import { addDoctorCommand, makeTool, runTool } from "../../lib/cli/mod.ts";

/** Builds the `daio` command line (exported for tests). */
export function buildProgram() {
  const program = makeTool(
    "daio",
    "a direct io_uring I/O engine: benchmark a file or device like fio, replay a guest trace",
    [
      "daio doctor",
    ],
  );
  addDoctorCommand(program, "daio", ["fio"]);
  return program;
}

if (import.meta.main) await runTool(buildProgram());
