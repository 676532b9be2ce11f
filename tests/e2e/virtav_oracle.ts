/**
 * Running clamscan (the oracle) and virtav side by side on the same databases and files, for
 * the e2e comparison tests: unique (file, signature) pairs and exit codes.
 *
 * @module
 */
import assert from "node:assert/strict";
import { findOnPath } from "../../lib/cli/doctor.ts";
import { clamscanOracleArgs, parseClamscanFound } from "../../lib/virtav/clamscan_oracle.ts";

/** clamscan's path, or null when it is not installed (the tests then skip). */
export const CLAMSCAN = findOnPath("clamscan");
const BIN = new URL("../../bin/virtav", import.meta.url).pathname;

/** One run's exit code and output. */
export interface Ran {
  code: number;
  out: string;
  err: string;
}

/** Runs a program to completion. */
export async function run(cmd: string, args: string[]): Promise<Ran> {
  const r = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const d = new TextDecoder();
  return { code: r.code, out: d.decode(r.stdout), err: d.decode(r.stderr) };
}

/** A comparison's result: unique `path\tsignature` pairs and the exit code, per side. */
export interface Side {
  pairs: Set<string>;
  code: number;
  err: string;
}

/** clamscan raw-only with `--allmatch` over `targets`. */
export async function clamscanSide(dbs: string[], targets: string[]): Promise<Side> {
  const c = await run(CLAMSCAN!, clamscanOracleArgs(dbs, targets));
  const pairs = new Set(parseClamscanFound(c.out).map((f) => `${f.path}\t${f.signature}`));
  return { pairs, code: c.code, err: c.err };
}

/** virtav with the same databases, every match reported, no cache. */
export async function virtavSide(dbs: string[], targets: string[], extra: string[] = []): Promise<
  Side
> {
  const r = await run(BIN, [
    "scan",
    "--no-db",
    "--no-cache",
    "--all-matches",
    "-i",
    "--output",
    "json",
    "-q",
    ...extra,
    ...dbs.flatMap((d) => ["-d", d]),
    ...targets,
  ]);
  const pairs = new Set<string>();
  for (const line of r.out.split("\n")) {
    if (!line) continue;
    const o = JSON.parse(line);
    if (o.status === "FOUND") pairs.add(`${o.path}\t${o.signature}`);
  }
  return { pairs, code: r.code, err: r.err };
}

/** The pairs one side has and the other lacks (at most `n` of each). */
export function pairDiff(want: Set<string>, got: Set<string>, n = 20) {
  return {
    onlyClamscan: [...want].filter((x) => !got.has(x)).sort().slice(0, n),
    onlyVirtav: [...got].filter((x) => !want.has(x)).sort().slice(0, n),
  };
}

/**
 * Asserts both sides found the same (file, signature) pairs; a difference is shown as the file
 * name and the signature's database line (from `sigs`), so it can be made a fixed case.
 */
export function assertSamePairs(
  c: Side,
  v: Side,
  sigs: { name: string; line: string }[],
  message: string,
): void {
  const d = pairDiff(c.pairs, v.pairs);
  const lineOf = (pair: string) => {
    const name = pair.split("\t")[1];
    return `${pair.split("/").pop()}  ${sigs.find((s) => s.name === name)?.line ?? name}`;
  };
  assert.deepEqual(
    { onlyClamscan: d.onlyClamscan.map(lineOf), onlyVirtav: d.onlyVirtav.map(lineOf) },
    { onlyClamscan: [], onlyVirtav: [] },
    message,
  );
}

/** Hex of a string's bytes (Latin-1). */
export function hexOf(s: string): string {
  return [...s].map((c) => c.charCodeAt(0).toString(16).padStart(2, "0")).join("");
}

/** Bytes of a string (Latin-1). */
export function bytesOf(s: string): Uint8Array {
  return Uint8Array.from([...s].map((c) => c.charCodeAt(0)));
}
