import type { Command } from "@commander-js/extra-typings";
import { type Capability, probeCapabilities } from "../ffi/probe.ts";
import { addExamples, withCommonOptions } from "./program.ts";
import { withRun } from "./with_run.ts";

/** A program a tool works with or is compared against, found on PATH or not. */
export interface PeerCheck {
  name: string;
  ok: boolean;
  detail: string;
}

/** Looks a program up on PATH (no --allow-run needed). */
export function findOnPath(program: string): string | null {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (!dir) continue;
    try {
      const st = Deno.statSync(`${dir}/${program}`);
      if (st.isFile && st.mode !== null && (st.mode & 0o111) !== 0) return `${dir}/${program}`;
    } catch { /* not here */ }
  }
  return null;
}

function peerChecks(peers: string[]): PeerCheck[] {
  return peers.map((p) => {
    const at = findOnPath(p);
    return { name: p, ok: at !== null, detail: at ?? "not found on PATH" };
  });
}

/**
 * Adds `doctor` to a tool: what this machine can do for it (the shared capability probe:
 * io_uring, O_DIRECT, KVM, VFIO, iommufd) and which peer programs are installed.
 *
 * @example
 * ```ts
 * import { Command } from "@commander-js/extra-typings";
 * import { addDoctorCommand } from "./doctor.ts";
 * addDoctorCommand(new Command("daio"), "daio", ["fio"]);
 * ```
 */
export function addDoctorCommand(
  program: Command,
  tool: string,
  peers: string[],
  /** The tool's own probes, listed after the shared ones. */
  extra: () => Capability[] = () => [],
): void {
  const cmd = withCommonOptions(
    program.command("doctor")
      .description("probe this machine: io_uring, O_DIRECT, KVM, VFIO, iommufd and the peer tools")
      .option("--path <dir>", "directory to test O_DIRECT in", "."),
  );
  addExamples(cmd, [
    `${tool} doctor`,
    `${tool} doctor --path /var/lib/images --output json`,
  ]);
  cmd.action(async (opts) => {
    await withRun(opts, { tool, command: "doctor", args: opts }, (run) => {
      const caps: Capability[] = [...probeCapabilities(opts.path), ...extra()];
      const found = peerChecks(peers);
      for (const c of caps) {
        run.metric(`capability.${c.name}`, c.ok ? 1 : 0, "bool", { error: c.error ?? "" });
      }
      for (const p of found) run.metric(`peer.${p.name}`, p.ok ? 1 : 0, "bool");
      if (opts.output === "json") {
        console.log(JSON.stringify({ tool, capabilities: caps, peers: found }));
        return;
      }
      const mark = (ok: boolean) => ok ? "yes" : "no ";
      const w = Math.max(10, ...caps.map((c) => c.name.length), ...found.map((p) => p.name.length));
      for (const c of caps) {
        console.log(
          `${c.name.padEnd(w)} ${mark(c.ok)}  ${c.detail}${
            c.version !== undefined ? ` (API ${c.version})` : ""
          }`,
        );
      }
      for (const p of found) console.log(`${p.name.padEnd(w)} ${mark(p.ok)}  ${p.detail}`);
    });
  });
}
