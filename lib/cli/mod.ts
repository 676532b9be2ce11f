/**
 * Conventions shared by the five tools: commands, errors, exit codes, `-` for stdin/stdout,
 * output formats, sizes, and progress on a terminal only.
 *
 * @module
 */
export * from "./errors.ts";
export * from "./parse.ts";
export * from "./program.ts";
export * from "./progress.ts";
export * from "./stream_io.ts";
export * from "./table.ts";
export * from "./with_run.ts";
export * from "./doctor.ts";
