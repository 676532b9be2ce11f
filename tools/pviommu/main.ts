/**
 * `pviommu`: a para-virtual IOMMU: per-device I/O page tables and DMA access control, virtio-iommu requests, DMA audits
 *
 * @module
 */
import { addDoctorCommand, makeTool, runTool } from "../../lib/cli/mod.ts";
import { addAuditCommands } from "./audit.ts";
import { addServeCommands } from "./serve.ts";
import { addRecordCommand } from "./record.ts";

/** Builds the `pviommu` command line (exported for tests). */
export function buildProgram() {
  const program = makeTool(
    "pviommu",
    "a para-virtual IOMMU: per-device I/O page tables and DMA access control, virtio-iommu requests, DMA audits",
    [
      "pviommu doctor",
      "pviommu audit fixtures/pviommu/violations.jsonl",
      "pviommu import qemu-trace.log | pviommu audit -",
      "pviommu record -o events.jsonl",
    ],
  );
  addDoctorCommand(program, "pviommu", ["qemu-system-x86_64"]);
  addAuditCommands(program);
  addServeCommands(program);
  addRecordCommand(program);
  return program;
}

if (import.meta.main) await runTool(buildProgram());
