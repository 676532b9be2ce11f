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

/** The functionality level virtav claims (ClamAV 1.4's): signatures needing more are skipped. */
export const ENGINE_FLEVEL = 210;

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

function parseOffset(text: string): SigOffset {
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

function parseFlevel(text: string | undefined, what: string): number | undefined {
  if (text === undefined || text === "") return undefined;
  if (!/^[0-9]+$/.test(text)) throw new SignatureError(`${what}: not a number: "${text}"`);
  return Number(text);
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
  if (name.length === 0) throw new SignatureError("empty signature name");
  if (!/^[0-9]+$/.test(targetText)) {
    throw new SignatureError(`target type: not a number: "${targetText}"`);
  }
  const target = Number(targetText);
  if (target > 14) throw new SignatureError(`target type ${target} is not a ClamAV target`);
  const minFl = parseFlevel(f[4], "minimum functionality level");
  const maxFl = parseFlevel(f[5], "maximum functionality level");
  const offset = parseOffset(offsetText);
  const variants = parseHexSignature(hex);
  if (!RAW_TARGETS.has(target)) {
    throw new UnsupportedSignature(`target type ${target} (${TARGET_NAMES[target]})`);
  }
  if (
    (minFl !== undefined && minFl > ENGINE_FLEVEL) || (maxFl !== undefined && maxFl < ENGINE_FLEVEL)
  ) {
    throw new UnsupportedSignature("functionality level outside this engine's");
  }
  return { name, target, offset, variants, hex };
}
