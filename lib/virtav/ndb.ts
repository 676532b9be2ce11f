/**
 * ClamAV extended signatures (`.ndb`): `MalwareName:TargetType:Offset:HexSignature[:min_flevel:[max_flevel]]`
 * (docs.clamav.net, "Extended signature format").
 *
 * @module
 */
import {
  parseHexSignature,
  SignatureError,
  UnsupportedSignature,
  type Variant,
} from "./hex_signature.ts";

/** Where a signature must start: anywhere, at `base` from the start, or `base` before EOF; `+ range`. */
export interface SigOffset {
  kind: "any" | "abs" | "eof";
  base: number;
  /** Floating offset (`n,m`): the start may lie in [base, base + range]. */
  range: number;
}

/** One body signature ready for the matcher. */
export interface BodySignature {
  name: string;
  target: number;
  offset: SigOffset;
  variants: Variant[];
  /** The source text, for `sigs check` and error messages. */
  hex: string;
}

/**
 * The functionality level virtav claims, clamscan 1.4.6's: a signature whose MinFL is above
 * it or whose MaxFL is below it is skipped (not loaded, not an error), on every database type.
 */
export const ENGINE_FLEVEL = 216;

/** Targets whose clamscan matcher has the q-gram prefilter (with its own loading rule). */
export const PREFILTER_TARGETS = new Set([0, 1, 4, 7]);

/** ClamAV's number of body-signature target types (CLI_MTARGETS): higher ones are skipped. */
const TARGET_COUNT = 15;

/** C's atoi: leading spaces, an optional sign, then digits; 0 when there are none. */
export function atoi(text: string): number {
  const m = /^[ \t]*([+-]?)([0-9]*)/.exec(text)!;
  const n = Number(m[2] || "0");
  return m[1] === "-" ? -n : n;
}

/**
 * Whether a signature with these MinFL/MaxFL fields is loaded by an engine at
 * {@linkcode ENGINE_FLEVEL} (clamscan reads both with atoi; an empty MaxFL is 0).
 */
export function flevelLoads(min: string | undefined, max: string | undefined): boolean {
  if (min !== undefined && atoi(min) > ENGINE_FLEVEL) return false;
  if (max !== undefined && atoi(max) < ENGINE_FLEVEL) return false;
  return true;
}

/**
 * Target types whose bytes appear unchanged in a file or in memory: any (0), PE (1), ELF (6),
 * Mach-O (9). The others match normalised content (HTML, mail, text...) virtav does not make.
 */
const RAW_TARGETS = new Set([0, 1, 6, 9]);

const TARGET_NAMES: Record<number, string> = {
  2: "OLE2",
  3: "normalized HTML",
  4: "mail",
  5: "graphics",
  7: "normalized ASCII",
  8: "unused",
  10: "PDF",
  11: "Flash",
  12: "Java",
  13: "ZIP/installer",
  14: "ISO",
};

export function parseOffset(text: string): SigOffset {
  if (text === "*") return { kind: "any", base: 0, range: 0 };
  let main = text, range = 0;
  const comma = text.indexOf(",");
  if (comma >= 0) {
    main = text.slice(0, comma);
    const r = text.slice(comma + 1);
    if (!/^[0-9]+$/.test(r)) throw new SignatureError(`offset "${text}": bad MaxShift`);
    range = Number(r);
  }
  if (/^[0-9]+$/.test(main)) return { kind: "abs", base: Number(main), range };
  const eof = /^EOF-([0-9]+)$/.exec(main);
  if (eof) return { kind: "eof", base: Number(eof[1]), range };
  if (/^(EP[+-][0-9]+|S[0-9]+\+[0-9]+|SE[0-9]+|SL\+[0-9]+)$/.test(main)) {
    throw new UnsupportedSignature(
      `offset ${main} needs a parsed executable (entry point/section)`,
    );
  }
  if (/^VI$|^MACRO|^\$/.test(main)) throw new UnsupportedSignature(`offset ${main}`);
  throw new SignatureError(`offset "${text}": expected *, n, EOF-n, [,m]`);
}

/**
 * Parses one `.ndb` line. Throws {@linkcode SignatureError} for a malformed line and
 * {@linkcode UnsupportedSignature} for one virtav cannot apply to raw bytes.
 *
 * @example
 * ```ts
 * import { parseNdbLine } from "./ndb.ts";
 * const s = parseNdbLine("Test.A:0:*:deadbeef{4}cafe");
 * console.log(s.name, s.variants[0].parts.length); // Test.A 1
 * ```
 */
export function parseNdbLine(line: string): BodySignature {
  const f = line.split(":");
  if (f.length < 4 || f.length > 6) {
    throw new SignatureError(`expected 4 to 6 fields separated by ":", got ${f.length}`);
  }
  const [name, targetText, offsetText, hex] = f;
  // clamscan checks the levels first: a skipped line is not parsed any further.
  for (const [k, what] of [[4, "minimum"], [5, "maximum"]] as const) {
    if (f[k] !== undefined && !/^[0-9]*$/.test(f[k])) {
      throw new SignatureError(`${what} functionality level: not a number: "${f[k]}"`);
    }
  }
  if (!flevelLoads(f[4], f[5])) {
    throw new UnsupportedSignature(`functionality level outside ${ENGINE_FLEVEL} (skipped)`);
  }
  if (targetText !== "*" && !/^[0-9]*$/.test(targetText)) {
    throw new SignatureError(`target type: not a number: "${targetText}"`);
  }
  // `*` and an empty field read as 0 (atoi), as clamscan does.
  const target = atoi(targetText);
  if (target >= TARGET_COUNT) {
    throw new UnsupportedSignature(`target type ${target} is not a ClamAV 1.4 target (skipped)`);
  }
  if (name.length === 0) throw new SignatureError("empty signature name");
  const offset = parseOffset(offsetText);
  // clamscan gives all-fixed signatures of targets 0 and 1 (1: at a fixed offset) to its
  // Boyer-Moore matcher, which refuses them under 3 bytes.
  const bm = target === 0 || (target === 1 && offsetText !== "*" && !offsetText.includes(","));
  if (bm && /^[0-9a-fA-F]*$/.test(hex) && hex.length < 6) {
    throw new SignatureError("a signature of fixed bytes needs at least 3 of them");
  }
  const variants = parseHexSignature(hex, { prefilter: PREFILTER_TARGETS.has(target) });
  if (!RAW_TARGETS.has(target)) {
    throw new UnsupportedSignature(`target type ${target} (${TARGET_NAMES[target]})`);
  }
  return { name, target, offset, variants, hex };
}
