/**
 * The results store (DESIGN.md): every run's row in `runs`, its figures in `metrics`, its
 * happenings in `events`, tools' own tables beside them; safe for concurrent writers.
 *
 * @module
 */
export * from "./db_path.ts";
export * from "./run_recorder.ts";
export * from "./schema.ts";
export * from "./query.ts";
export { writeBatch } from "./store_writer.ts";
