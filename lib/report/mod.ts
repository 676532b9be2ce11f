/**
 * The reports over the results store: run the named SQL reports, draw SVG charts, assemble
 * one self-contained HTML page or a Markdown document, and check for regressions.
 *
 * @module
 */
export * from "./report_spec.ts";
export * from "./report_runner.ts";
export * from "./svg_chart.ts";
export * from "./html_page.ts";
export * from "./markdown_doc.ts";
export * from "./regressions.ts";
export * from "./export.ts";
export * from "./store_check.ts";
export * from "./output_path.ts";
export * from "./parquet_stores.ts";
