/**
 * Every report as one Markdown document (or plain text for a terminal): per report a heading,
 * its summary, and its table or "no runs yet". Charts are for the HTML page.
 *
 * @module
 */
import { formatTable } from "../cli/mod.ts";
import type { ReportResult } from "./report_runner.ts";

/** One report as Markdown or text. */
export function reportBlock(r: ReportResult, format: "markdown" | "text"): string {
  const md = format === "markdown";
  const head = md
    ? `## ${r.spec.name}\n\n${r.spec.summary}\n\n`
    : `== ${r.spec.name}: ${r.spec.summary}\n`;
  if (r.status !== "ok") return head + (md ? `_${r.reason}_\n` : `${r.reason}\n`);
  return head + formatTable(r.columns, r.rows, format);
}

/**
 * The whole document.
 *
 * @example
 * ```ts
 * import { markdownDoc } from "./markdown_doc.ts";
 * markdownDoc("hvkit benchmarks", "bench.duckdb", [], "markdown");
 * ```
 */
export function markdownDoc(
  title: string,
  store: string,
  results: ReportResult[],
  format: "markdown" | "text",
  notes: string[] = [],
): string {
  const md = format === "markdown";
  const head = md
    ? `# ${title}\n\nStore \`${store}\`, generated ${new Date().toISOString()}.\n\n` +
      notes.map((n) => `${n}\n\n`).join("")
    : notes.map((n) => `${n}\n`).join("");
  return head + results.map((r) => reportBlock(r, format)).join("\n");
}
