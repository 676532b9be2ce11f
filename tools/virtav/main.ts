/**
 * `virtav`: agentless antivirus: scans the code a guest is about to run, from outside the VM, with ClamAV signatures
 *
 * @module
 */
import { addDoctorCommand, makeTool, runTool } from "../../lib/cli/mod.ts";

/** Builds the `virtav` command line (exported for tests). */
export function buildProgram() {
  const program = makeTool(
    "virtav",
    "agentless antivirus: scans the code a guest is about to run, from outside the VM, with ClamAV signatures",
    [
      "virtav doctor",
    ],
  );
  addDoctorCommand(program, "virtav", ["clamscan", "qemu-system-x86_64"]);
  return program;
}

if (import.meta.main) await runTool(buildProgram());
