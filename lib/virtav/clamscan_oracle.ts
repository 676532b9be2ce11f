/**
 * clamscan as the oracle for virtav (FIELD-NOTES.md, "clamscan as the oracle for virtav"):
 * the flags that turn every parser and heuristic off so clamscan matches raw bytes as virtav
 * does, and the reading of its `PATH: NAME FOUND` lines. Used by the e2e comparison test and
 * bench/virtav alike, so both compare against the same clamscan.
 *
 * @module
 */

/** clamscan with archive, PE and every other parser and heuristic off, every match reported. */
export const CLAMSCAN_ORACLE_FLAGS: readonly string[] = [
  "--heuristic-alerts=no",
  ...[
    "archive",
    "pe",
    "elf",
    "ole2",
    "pdf",
    "swf",
    "html",
    "mail",
    "xmldocs",
    "hwp3",
    "onenote",
    "image",
    "image-fuzzy-hash",
  ].map((p) => `--scan-${p}=no`),
  "--allmatch",
  "--no-summary",
  "--max-filesize=2000M",
  "--max-scansize=2000M",
  "--max-scantime=0",
];

/** The clamscan arguments that scan `targets` with the databases `dbs` as the oracle. */
export function clamscanOracleArgs(dbs: readonly string[], targets: readonly string[]): string[] {
  return [...CLAMSCAN_ORACLE_FLAGS, ...dbs.flatMap((d) => ["-d", d]), ...targets];
}

/** One detection clamscan printed. */
export interface ClamscanFound {
  path: string;
  /** The signature name, without the `.UNOFFICIAL` clamscan adds for unsigned databases. */
  signature: string;
}

/** The `PATH: NAME FOUND` lines of clamscan's output, in order. */
export function parseClamscanFound(text: string): ClamscanFound[] {
  const out: ClamscanFound[] = [];
  for (const line of text.split("\n")) {
    const m = /^(.*): (\S+) FOUND$/.exec(line);
    if (m) out.push({ path: m[1], signature: m[2].replace(/\.UNOFFICIAL$/, "") });
  }
  return out;
}
