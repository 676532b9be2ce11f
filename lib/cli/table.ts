/** Output formats for tabular results. */
export type TableFormat = "text" | "csv" | "json" | "markdown";

function cell(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(+v.toFixed(6));
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

function csvCell(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/**
 * Renders rows as an aligned text table, CSV, JSON (an array of objects) or a Markdown table.
 * Numbers are right-aligned in text and Markdown.
 *
 * @example
 * ```ts
 * import { formatTable } from "./table.ts";
 * formatTable(["policy", "hit_ratio"], [["lru", 0.5]], "markdown");
 * ```
 */
export function formatTable(columns: string[], rows: unknown[][], format: TableFormat): string {
  if (format === "json") {
    return JSON.stringify(
      rows.map((r) => Object.fromEntries(columns.map((c, i) => [c, r[i]]))),
      null,
      2,
    ) + "\n";
  }
  const cells = rows.map((r) => columns.map((_, i) => cell(r[i])));
  if (format === "csv") {
    return [columns, ...cells].map((r) => r.map(csvCell).join(",")).join("\n") + "\n";
  }
  const numeric = columns.map((_, i) =>
    rows.length > 0 && rows.every((r) => r[i] === null || typeof r[i] === "number")
  );
  const width = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i].length)));
  const pad = (s: string, i: number) => numeric[i] ? s.padStart(width[i]) : s.padEnd(width[i]);
  if (format === "markdown") {
    const esc = (s: string) => s.replaceAll("|", "\\|");
    const line = (r: string[]) => "| " + r.map((s, i) => pad(esc(s), i)).join(" | ") + " |";
    const rule = "|" + width.map((w, i) =>
      numeric[i] ? "-".repeat(w + 1) + ":" : "-".repeat(w + 2)
    ).join("|") + "|";
    return [line(columns), rule, ...cells.map(line)].join("\n") + "\n";
  }
  const line = (r: string[]) => r.map(pad).join("  ").trimEnd();
  return [line(columns), line(width.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n") +
    "\n";
}
