/**
 * `daio`: a direct io_uring I/O engine: benchmark a file or device like fio, replay a guest trace
 *
 * @module
 */
import { addDoctorCommand, makeTool, runTool } from "../../lib/cli/mod.ts";
import { addBenchCommand } from "./bench.ts";
import { addReplayCommand } from "./replay.ts";
import { engineFeatures } from "./features.ts";

/** Builds the `daio` command line (exported for tests). */
export function buildProgram() {
  const program = makeTool(
    "daio",
    "a direct io_uring I/O engine: benchmark a file or device like fio, replay a guest trace",
    [
      "daio doctor",
      "daio bench --rw randread --bs 4k --iodepth 32 --runtime 5s --size 256M disk.img",
      "daio replay trace.jsonl --target disk.img",
    ],
  );
  addDoctorCommand(program, "daio", ["fio"], engineFeatures);
  addBenchCommand(program);
  addReplayCommand(program);
  return program;
}

if (import.meta.main) await runTool(buildProgram());
