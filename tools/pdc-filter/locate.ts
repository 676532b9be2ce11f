/**
 * `pdc-filter locate IMAGE`: the journal's exact byte ranges, read from on-disk metadata.
 *
 * @module
 */
import { Command } from "@commander-js/extra-typings";
import {
  addExamples,
  formatSize,
  LineWriter,
  openOutput,
  withCommonOptions,
  withRun,
} from "../../lib/cli/mod.ts";
import { locateImage } from "./detector_options.ts";

/** Adds `locate` to the program. */
export function addLocateCommand(program: Command) {
  const cmd = withCommonOptions(
    new Command("locate")
      .description(
        "find the journal of the ext2/3/4 or XFS file system in a raw IMAGE; prints " +
          '{"ranges": [{"off": bytes, "len": bytes}], ...} as JSON',
      )
      .argument("<image>", "raw disk image (or block device) holding the file system")
      .option("-o, --out <file>", "write the JSON to FILE instead of standard output"),
  ).action(async (image, opts) => {
    await withRun(opts, { tool: "pdc-filter", command: "locate", args: { image } }, async (run) => {
      const loc = await locateImage(image);
      const total = loc.ranges.reduce((a, r) => a + r.len, 0);
      run.metric("journal_bytes", total, "B", { fs: loc.fs, journal: loc.journal });
      const json = JSON.stringify(loc);
      if (opts.out !== undefined) {
        // openOutput refuses the image itself (`locate -o guest.img guest.img` would destroy it).
        const w = new LineWriter(await openOutput(opts.out));
        await w.write(json);
        await w.close();
      } else console.log(json);
      if (opts.output === "text" && !opts.quiet) {
        const where = loc.journal === "external"
          ? `external journal${loc.external?.uuid ? ` (uuid ${loc.external.uuid})` : ""}`
          : loc.journal === "none"
          ? "no journal"
          : `${formatSize(total)} in ${loc.ranges.length} range(s)`;
        console.error(`${image}: ${loc.fs}, block size ${loc.blockSize}, ${where}`);
      }
    });
  });
  addExamples(cmd, [
    "pdc-filter locate guest.img",
    "pdc-filter locate -o journal.json guest.img",
  ]);
  program.addCommand(cmd);
}
