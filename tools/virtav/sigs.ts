/**
 * `virtav sigs info|check`: summarise and validate a signature database.
 *
 * @module
 */
import type { Command } from "@commander-js/extra-typings";
import { addExamples, withCommonOptions } from "../../lib/cli/program.ts";
import { ToolError } from "../../lib/cli/errors.ts";
import { withRun } from "../../lib/cli/with_run.ts";
import { loadDatabase } from "../../lib/virtav/database.ts";
import { defaultCacheDir, openCompiled } from "../../lib/virtav/db_cache.ts";
import { addSignatureOptions, type SigOptions } from "./signatures.ts";
import type { RunRecorder } from "../../lib/results/mod.ts";

type Database = Awaited<ReturnType<typeof loadDatabase>>;
type SigsOptions = SigOptions & { output: "text" | "json"; quiet?: boolean };

/** The `virtav sigs` subcommands: name, description, and what each does with the database. */
const SUBCOMMANDS = [
  {
    name: "info",
    description: "count signatures by kind, what cannot be used and why, and the compiled index",
    action: sigsInfo,
  },
  {
    name: "check",
    description: "list every malformed line (file:line: reason); exit 1 if any",
    action: sigsCheck,
  },
] as const;

/** Adds `virtav sigs info` and `virtav sigs check`. */
export function addSigsCommand(program: Command) {
  const sigs = program.command("sigs").description(
    "summarise (info) or validate (check) a signature database",
  );
  addExamples(sigs, [
    "virtav sigs info -d /var/lib/clamav",
    "virtav sigs check -d my.ndb",
  ]);
  for (const { name, description, action } of SUBCOMMANDS) {
    const cmd = withCommonOptions(sigs.command(name).description(description));
    addSignatureOptions(cmd, { clamscanNames: false });
    addExamples(cmd, [`virtav sigs ${name} -d fixtures/virtav/test.ndb`]);
    cmd.action(async (opts) => {
      const o = opts as typeof opts & SigsOptions;
      await withRun(opts, { tool: "virtav", command: `sigs ${name}`, args: opts }, async (run) => {
        const db = await loadDatabase(o.database, {
          eicar: o.database.length === 0 && o.eicar,
        });
        run.metric("malformed", db.errors.length);
        run.metric("body_signatures", db.body.length);
        run.metric("hash_signatures", db.hashes.length);
        await action(db, o, run);
      });
    });
  }
  return sigs;
}

/** `sigs check`: every malformed line; fails when there is one. */
function sigsCheck(db: Database, o: SigsOptions): Promise<void> {
  for (const e of db.errors) {
    console.log(o.output === "json" ? JSON.stringify(e) : `${e.file}:${e.line}: ${e.message}`);
  }
  if (db.errors.length) {
    throw new ToolError(`${db.errors.length} malformed signature lines`);
  }
  if (!o.quiet) {
    console.error(`virtav: ${db.body.length + db.hashes.length} signatures, all well-formed`);
  }
  return Promise.resolve();
}

/** `sigs info`: counts by kind and source, what cannot be used, the compiled index. */
async function sigsInfo(db: Database, o: SigsOptions, run: RunRecorder): Promise<void> {
  const cacheDir = o.cache ? (o.cacheDir ?? defaultCacheDir()) : null;
  // the same compiled-signature cache as scan and watch (one format, lib/virtav/db_cache.ts)
  const { matcher: m, cached } = await openCompiled(o.database, {
    eicar: o.database.length === 0 && o.eicar,
    cacheDir,
  });
  const idx = m.info();
  const pf = m.prefilterInfo();
  const pfNote = m.prefilterNote;
  m.close();
  run.metric("prefiltered_signatures", pf.sigsPrefiltered, "", { prefilter: pf.state });
  run.metric("key_loop_signatures", pf.sigsKeyLoop, "", { prefilter: pf.state });
  const variants = db.body.reduce((a, s) => a + s.variants.length, 0);
  const wild = db.body.filter((s) => /[?*{[(]/.test(s.hex)).length;
  const info = {
    sources: db.sources.map((s) => ({ ...s })),
    body: db.body.length,
    bodyWithWildcards: wild,
    variants,
    parts: idx.parts,
    anchors4: idx.anchors4,
    anchors2: idx.anchors2,
    indexBytes: idx.indexBytes,
    prefilter: { ...pf, note: pfNote },
    hash: db.hashes.filter((h) => !h.allow).length,
    allowHashes: db.hashes.filter((h) => h.allow).length,
    ignoreNames: db.ignore.size,
    unsupported: Object.fromEntries(db.unsupported),
    malformed: db.errors.length,
    compiledFromCache: cached,
  };
  if (o.output === "json") {
    console.log(JSON.stringify(info));
    return;
  }
  const lines = [
    ...db.sources.map((s) =>
      `source       ${s.path}: ${s.body} body, ${s.hash} hash, ${s.unsupported} unusable, ${s.malformed} malformed`
    ),
    `body         ${info.body} (${wild} with wildcards; ${variants} variants, ${idx.parts} parts)`,
    `hash         ${info.hash}`,
    `allow-lists  ${info.allowHashes} file hashes (.fp/.sfp), ${info.ignoreNames} names (.ign/.ign2)`,
    `anchors      ${idx.anchors4} four-byte keys, ${idx.anchors2} two-byte keys; index ${
      (idx.indexBytes / 2 ** 20).toFixed(1)
    } MiB`,
    `prefilter    ${pf.state}: ${pf.sigsPrefiltered} signatures through Hyperscan (${pf.literals} literals, ${
      ((pf.databaseBytes + pf.scratchBytes) / 2 ** 20).toFixed(1)
    } MiB), ${pf.sigsKeyLoop} on the key loop${pfNote ? ` (${pfNote})` : ""}`,
    ...[...db.unsupported].map(([r, n]) => `unusable     ${n} ${r}`),
    `malformed    ${db.errors.length}`,
    `compiled     ${cached ? "from cache" : "now"}`,
  ];
  console.log(lines.join("\n"));
}
