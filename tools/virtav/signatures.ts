/**
 * Loading the signature database for a subcommand: `-d` paths, the built-in EICAR, the
 * compiled-database cache, and the one-line refusal of a malformed line (as clamscan).
 *
 * @module
 */
import { Option } from "@commander-js/extra-typings";
import { describeError, ToolError, UsageError } from "../../lib/cli/errors.ts";
import { firstError } from "../../lib/virtav/database.ts";
import type { CompiledDb } from "../../lib/virtav/compile.ts";
import { IGNORED_REASON } from "../../lib/virtav/hash_db.ts";
import { type DbSummary, defaultCacheDir, openCompiled } from "../../lib/virtav/db_cache.ts";
import type { Matcher } from "../../lib/virtav/matcher.ts";

/** Options every command that loads signatures takes. */
export interface SigOptions {
  database: string[];
  eicar: boolean;
  cache: boolean;
  cacheDir?: string;
  skipMalformed?: boolean;
  /** Print names as clamscan does: `NAME.UNOFFICIAL` for unsigned databases. */
  clamscanNames?: boolean;
}

/** Collects a repeatable option. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** The `-d`, `--no-eicar`, `--cache-dir`, `--no-cache`, `--skip-malformed` options. */
export const sigOptions = [
  new Option(
    "-d, --database <path>",
    "signature file or directory (.ndb .hdb .hsb .cvd .cld), repeatable",
  )
    .argParser(collect).default([] as string[]),
  new Option(
    "--no-eicar",
    "without -d: leave out the built-in EICAR test signature (with -d it is never added, as clamscan)",
  ),
  new Option(
    "--cache-dir <dir>",
    "where compiled databases are kept (default: ~/.cache/hvkit/virtav)",
  ),
  new Option("--no-cache", "compile the database every time"),
  new Option(
    "--skip-malformed",
    "count malformed signature lines and go on (clamscan refuses the database)",
  ),
] as const;

/** `--clamscan-names` (scan, watch). */
export const clamscanNamesOption = new Option(
  "--clamscan-names",
  "print signature names as clamscan does (NAME.UNOFFICIAL for unsigned databases)",
);

/**
 * Adds the signature options to a command: `-d`, `--no-eicar`, `--cache-dir`, `--no-cache`,
 * `--skip-malformed`, and `--clamscan-names` for the commands that print detections.
 */
export function addSignatureOptions(
  cmd: { addOption(o: Option): unknown },
  o: { clamscanNames: boolean },
): void {
  for (const opt of sigOptions) cmd.addOption(opt);
  if (o.clamscanNames) cmd.addOption(clamscanNamesOption);
}

/** A loaded database (what scans need to know of it) and its matcher. */
export interface Loaded {
  db: DbSummary;
  matcher: Matcher;
  cached: boolean;
  unsupportedTotal: number;
}

/**
 * Loads, checks and compiles the database, or takes its compiled form from the cache when
 * the files are unchanged (then no signature text is parsed), and opens the matcher.
 */
export async function loadSignatures(
  o: SigOptions & { quiet?: boolean; prefilter?: (bodyCount: number) => boolean },
): Promise<Loaded> {
  const cacheDir = o.cache ? (o.cacheDir ?? defaultCacheDir()) : null;
  const eicar = builtinEicar(o);
  // a cached entry the native loader refuses (damaged on disk) is compiled again
  const { summary: db, matcher, cached, cacheNote } = await openCompiled(
    o.database,
    { eicar, cacheDir, prefilter: o.prefilter },
    (r) => {
      const err = firstError(r.summary);
      if (err && !o.skipMalformed) throw new ToolError(err);
      if (!o.clamscanNames) return r;
      const named = clamscanNames(r.summary, r.compiled);
      return { summary: named.db, compiled: named.compiled };
    },
  );
  // a cache file that did not check out, and why the Hyperscan prefilter is off or was
  // rebuilt, said once
  if (cacheNote && !o.quiet) console.error(`virtav: ${cacheNote}`);
  if (matcher.prefilterNote && !o.quiet) console.error(`virtav: ${matcher.prefilterNote}`);
  const unsupportedTotal = [...db.unsupported.values()].reduce((a, b) => a + b, 0);
  return { db, matcher, cached, unsupportedTotal };
}

/**
 * Whether the built-in EICAR signature is used: only when no `-d` is given (clamscan with `-d`
 * reports no built-in EICAR), said on stderr unless quiet; with `--no-eicar` and no `-d`
 * there is nothing to scan with, which is refused.
 */
export function builtinEicar(o: SigOptions & { quiet?: boolean }): boolean {
  if (o.database.length > 0) return false;
  if (!o.eicar) throw new ToolError("no signatures: give -d, or drop --no-eicar");
  if (!o.quiet) {
    console.error("virtav: no -d given: scanning with the built-in EICAR test signature only");
  }
  return true;
}

/**
 * Runs a subcommand with clamscan's exit codes: 0 clean, 1 found (the command exits 1 itself),
 * 2 any error (a bad or empty database, a path that cannot be scanned).
 */
export async function withClamscanExit(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof UsageError) throw e;
    console.error(describeError("virtav", e).line);
    Deno.exit(2);
  }
}

/** The names clamscan prints: `.UNOFFICIAL` after those from unsigned databases. */
function clamscanNames(
  db: DbSummary,
  compiled: CompiledDb,
): { db: DbSummary; compiled: CompiledDb } {
  const names = compiled.names.slice();
  for (const i of db.unofficialBody) names[i] += ".UNOFFICIAL";
  const hashes = db.hashes.map((h) => h.unofficial ? { ...h, name: `${h.name}.UNOFFICIAL` } : h);
  return { db: { ...db, hashes }, compiled: { ...compiled, names } };
}

/** One line on stderr saying what could not be used, by reason. */
export function unsupportedSummary(db: Pick<DbSummary, "unsupported">): string | null {
  // lines an .ign/.ign2 list left out are as clamscan loads them: not worth a warning
  const left = [...db.unsupported].filter(([r]) => r !== IGNORED_REASON);
  if (left.length === 0) return null;
  const parts = left.sort((a, b) => b[1] - a[1]).map(([r, n]) => `${n} ${r}`);
  return `signatures not usable on raw memory: ${parts.join(", ")}`;
}

/**
 * Hash signatures (.hdb/.hsb) name whole files; guest memory has no files, so they are not
 * applied to memory units. Says so on stderr (unless quiet) and in the store, counted.
 */
export function noteHashesNotApplied(
  db: Pick<DbSummary, "hashes">,
  quiet: boolean,
  run: { metric(name: string, value: number, unit?: string): void },
): void {
  const n = db.hashes.filter((h) => !h.allow).length;
  if (n === 0) return;
  run.metric("hash_signatures_not_applied", n);
  if (!quiet) {
    console.error(
      `virtav: ${n} hash signatures (.hdb/.hsb) not applied: they match whole files, not memory`,
    );
  }
}
