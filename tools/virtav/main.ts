/**
 * `virtav`: agentless antivirus: scans the code a guest is about to run, from outside the VM, with ClamAV signatures
 *
 * @module
 */
import { addDoctorCommand, makeTool, runTool } from "../../lib/cli/mod.ts";
import { addScanCommand } from "./scan.ts";
import { addSigsCommand } from "./sigs.ts";
import { addWatchCommand } from "./watch.ts";

/** Builds the `virtav` command line (exported for tests). */
export function buildProgram() {
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
  addDoctorCommand(program, "virtav", ["clamscan", "qemu-system-x86_64"]);
  addScanCommand(program);
  addSigsCommand(program);
  addWatchCommand(program);
  return program;
}

if (import.meta.main) await runTool(buildProgram());
