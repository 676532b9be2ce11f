/**
 * `qbic-cache`: an in-memory block cache in the hypervisor's I/O path: serve an image over NBD with QBic's cache in front, or simulate the same policies over a trace
 *
 * @module
 */
import { addDoctorCommand, makeTool, runTool } from "../../lib/cli/mod.ts";
import { addServeCommand } from "./serve.ts";
import { addSimCommand } from "./sim.ts";
import { addMrcCommand } from "./mrc.ts";
import { addTraceCommand } from "./trace.ts";

/** Builds the `qbic-cache` command line (exported for tests). */
export function buildProgram() {
  const program = makeTool(
    "qbic-cache",
    "an in-memory block cache in the hypervisor's I/O path: serve an image over NBD with QBic's cache in front, or simulate the same policies over a trace",
    [
      "qbic-cache serve --socket /tmp/q.sock --cache-size 32M --record trace.jsonl disk.img",
      "qbic-cache sim --trace trace.jsonl --policy lru,arc,s3fifo,qbic --size 8M,32M",
      "qbic-cache mrc --trace trace.jsonl -o mrc.txt",
      "qbic-cache trace stats trace.jsonl",
      "qbic-cache doctor",
    ],
  );
  addServeCommand(program);
  addSimCommand(program);
  addMrcCommand(program);
  addTraceCommand(program);
  addDoctorCommand(program, "qbic-cache", ["qemu-nbd", "nbdkit", "nbdinfo", "qemu-io"]);
  return program;
}

if (import.meta.main) await runTool(buildProgram());
