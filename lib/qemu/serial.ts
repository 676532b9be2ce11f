/**
 * The guest's machine-readable lines on the serial console:
 * `HVKIT-BOOT {...}`, `HVKIT-RESULT {...}`, `HVKIT-ERROR {...}`, `HVKIT-DONE {...}`,
 * one JSON object each (fixtures/guest/init prints them).
 *
 * @module
 */

/** The kinds of line the guest prints. */
export type GuestLineKind = "BOOT" | "RESULT" | "ERROR" | "DONE";

/** One parsed line. */
export interface GuestLine {
  kind: GuestLineKind;
  data: Record<string, unknown>;
  /** 1-based line number in the serial log. */
  lineNo: number;
}

const LINE = /HVKIT-(BOOT|RESULT|ERROR|DONE) (\{.*\})\s*$/;

/**
 * Parses every well-formed HVKIT line out of serial console text. Lines mangled by
 * interleaved kernel messages (not valid JSON) are skipped, not fatal.
 *
 * @example
 * ```ts
 * import { parseSerial } from "./serial.ts";
 * parseSerial('HVKIT-RESULT {"workload":"boot","ok":true}\n'); // [{ kind: "RESULT", ... }]
 * ```
 */
export function parseSerial(text: string): GuestLine[] {
  const out: GuestLine[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const m = LINE.exec(lines[i].replace(/\r/g, ""));
    if (!m) continue;
    try {
      const data = JSON.parse(m[2]);
      if (data && typeof data === "object" && !Array.isArray(data)) {
        out.push({ kind: m[1] as GuestLineKind, data, lineNo: i + 1 });
      }
    } catch {
      // a line cut by a kernel message: skip
    }
  }
  return out;
}

/** The last `n` lines of a serial log, for error messages. */
export function serialTail(text: string, n = 40): string {
  const lines = text.replace(/\r/g, "").split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines.slice(-n).join("\n");
}
