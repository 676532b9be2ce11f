/**
 * `virtav`: agentless antivirus: scans the code a guest is about to run, from outside the VM, with ClamAV signatures
 *
 * @module
 */
import { makeTool, runTool } from "../../lib/cli/program.ts";
import { addScanCommand } from "./scan.ts";
import { addSigsCommand } from "./sigs.ts";
import { addWatchCommand } from "./watch.ts";

/** Subcommands that never need `doctor`: their runs skip loading it (and the store it imports). */
const NO_DOCTOR = new Set(["scan", "sigs", "watch"]);

/**
 * Builds the `virtav` command line (exported for tests). `doctor` (which loads the results
 * store up front) is added unless `argv` names another subcommand, so scans start faster.
 */
export async function buildProgram(argv: string[] = Deno.args) {
  const program = makeTool(
    "virtav",
    "agentless antivirus: scans the code a guest is about to run, from outside the VM, with ClamAV signatures",
    [
      "virtav doctor",
      "virtav sigs info -d sigs.ndb",
      "virtav scan -d sigs.ndb --all-matches /srv/files",
      "virtav scan --memory --exec-only --cr3 0x1a2b000 -d sigs.ndb /dev/shm/guest.ram",
    ],
  );
  if (!NO_DOCTOR.has(argv[0])) {
    const { addDoctorCommand } = await import("../../lib/cli/doctor.ts");
    addDoctorCommand(program, "virtav", ["clamscan", "qemu-system-x86_64"]);
  }
  addScanCommand(program);
  addSigsCommand(program);
  addWatchCommand(program);
  return program;
}

if (import.meta.main) await runTool(await buildProgram());
