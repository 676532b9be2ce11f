/**
 * `--direct <0|1|auto>` (bench, replay): O_DIRECT on, off, or on with a fall-back to buffered
 * I/O when the file system refuses it. `true`/`false` are taken too, as fio takes them.
 *
 * @module
 */
import { InvalidArgumentError } from "@commander-js/extra-typings";

/** Parses `--direct`. */
export function parseDirect(text: string): boolean | "auto" {
  if (text === "1" || text === "true") return true;
  if (text === "0" || text === "false") return false;
  if (text === "auto") return "auto";
  throw new InvalidArgumentError(`expected 1, 0 or auto: ${text}`);
}
