/**
 * ClamAV logical signatures (`.ldb`): `Name;TargetDescriptionBlock;LogicalExpression;Subsig0;...`,
 * loaded as clamscan 1.4.6 loads them: the lines it refuses are refused (one refuses the whole
 * database), the lines it skips (Engine level, target type, unknown attributes) are skipped, and
 * the rest are checked subsignature by subsignature. The ones virtav evaluates (target 0, plain
 * hex subsignatures, no counts) are matched as body patterns whose hits {@linkcode evalLogic}
 * combines (lib/virtav/matcher.ts); the rest are counted (docs/virtav.md).
 *
 * Each refusal here was checked against clamscan (tests/e2e/virtav_ldb_test.ts). Where virtav
 * cannot tell (PCRE, byte-compare, macro and fuzzy-hash subsignatures, container types), it does
 * not refuse: such a line is counted, never a reason to refuse a database clamscan loads.
 *
 * @module
 */
import { parseHexSignature, SignatureError, UnsupportedSignature } from "./hex_signature.ts";
import { native } from "../ffi/ffi.ts";
import { atoi, type BodySignature, ENGINE_FLEVEL, parseOffset, PREFILTER_TARGETS } from "./ndb.ts";

/** clamscan's MAX_LDB_SUBSIGS. */
export const MAX_LDB_SUBSIGS = 64;

/** ClamAV's number of target types (CLI_MTARGETS): higher ones are skipped. */
const TARGET_COUNT = 15;

/** Targets whose executable-relative offsets (EP+n, Sx+n, SL+n, SEx) clamscan accepts. */
const EXEC_TARGETS = new Set([1, 6, 9]);

/** The TDB attributes clamscan 1.4 knows, by the kind of value each takes. */
const ATTRIBUTES: Record<string, "uint" | "range" | "ftype" | "str"> = {
  Target: "uint",
  Engine: "range",
  FileSize: "range",
  EntryPoint: "range",
  NumberOfSections: "range",
  Container: "ftype",
  Intermediates: "ftype",
  HandlerType: "ftype",
  IconGroup1: "str",
  IconGroup2: "str",
};

/** The reason every loaded `.ldb` signature is counted under until matching is built. */
export const LDB_NOT_EVALUATED = "logical signatures (.ldb)";

/** clamscan's cli_isnumber: only digits (the empty string counts as a number). */
function isNumber(s: string): boolean {
  return /^[0-9]*$/.test(s);
}

/** C's sscanf("%u"): leading white space, an optional sign, digits; null when none. */
function scanUint(s: string): number | null {
  const m = /^[ \t\n\v\f\r]*[+-]?([0-9]+)/.exec(s);
  return m ? Number(m[1]) : null;
}

/**
 * Where a logical expression splits, as clamscan's `cli_ac_chklsig` scans it: the first `&`/`|`
 * outside parentheses; else the last one inside the outermost block that ends the expression
 * (then the block's own modifier `>n`, `<n`, `=n[,m]` applies to it); else none (a leaf, whose
 * last modifier character is `mod` at `modoff`). `check` is the loader's parse-only mode: an
 * unbalanced parenthesis or a block modifier without a number is a {@linkcode SignatureError};
 * otherwise (evaluation of a checked expression) the block modifier's numbers are read.
 */
function splitLogic(expr: string, check: boolean) {
  let pth = 0, op = "", opoff = 0, op1 = "", op1off = 0, mod = "", modoff = 0, blkend = 0;
  let blkmod = "", modval1 = 0, modval2 = 0;
  let lstart = 0, rend = expr.length;
  const len = expr.length;
  for (let i = 0; i < len; i++) {
    const c = expr[i];
    if (c === "(") pth++;
    else if (c === ")" || c === ">" || c === "<" || c === "=") {
      if (c === ")") {
        if (check && !pth) {
          throw new SignatureError("logical expression: missing opening parenthesis");
        }
        pth--;
      }
      mod = c;
      modoff = i;
    } else if (c === "&" || c === "|") {
      if (!pth) {
        op = c;
        opoff = i;
      } else if (pth === 1) {
        op1 = c;
        op1off = i;
      }
    }
    if (op) break;
    if (op1 && !pth) {
      blkend = i;
      const n = expr[i + 1];
      if (n === ">" || n === "<" || n === "=") {
        if (check) {
          if (scanUint(expr.slice(i + 2)) === null) {
            throw new SignatureError(`logical expression: missing number after '${n}'`);
          }
        } else {
          blkmod = n;
          const m = /^[ \t\n\v\f\r]*[+-]?([0-9]+)(?:,[ \t\n\v\f\r]*[+-]?([0-9]+))?/.exec(
            expr.slice(i + 2),
          )!;
          modval1 = Number(m[1]);
          if (m[2] !== undefined) modval2 = Number(m[2]);
        }
        for (i += 2; i + 1 < len && /[0-9,]/.test(expr[i + 1]); i++);
      }
      if (i + 1 === rend) break;
      blkmod = "";
    }
  }
  if (check && pth) throw new SignatureError("logical expression: missing closing parenthesis");
  const leaf = !op && !op1;
  if (!leaf && !op) {
    op = op1;
    opoff = op1off;
    lstart++;
    rend = blkend;
  }
  return { leaf, op, opoff, mod, modoff, lstart, rend, blkmod, modval1, modval2 };
}

/**
 * Checks a logical expression as clamscan's `cli_ac_chklsig` does in its parse-only mode and
 * returns the highest subsignature id it names; throws {@linkcode SignatureError} where clamscan
 * reports a syntax error. (Its quirks are kept: a number may be followed by anything, `)` acts
 * as a count modifier, and `0&1|2` is read without precedence.)
 */
export function checkLogic(expr: string): number {
  const sp = splitLogic(expr, true);
  if (sp.leaf) {
    if (expr[0] === "(") return checkLogic(expr.slice(1, expr.length - 1));
    const id = scanUint(expr);
    if (id === null) throw new SignatureError(`logical expression: cannot parse "${expr}"`);
    if (sp.mod && scanUint(expr.slice(sp.modoff + 1)) === null) {
      throw new SignatureError(`logical expression: missing number after '${sp.mod}'`);
    }
    return id;
  }
  const { opoff, lstart, rend } = sp;
  const len = expr.length;
  if (!opoff) throw new SignatureError("logical expression: missing left argument");
  if (opoff + 1 === len) throw new SignatureError("logical expression: missing right argument");
  const l = checkLogic(expr.slice(lstart, opoff));
  const r = checkLogic(expr.slice(opoff + 1, rend));
  return Math.max(l, r);
}

/** The parts of a TDB virtav reads. */
interface Tdb {
  target: number | undefined;
  engine: [number, number] | undefined;
  /** Attributes other than Target and Engine (not evaluable on raw data). */
  others: string[];
}

/** Reads a TDB as clamscan's lsigattribs/init_tdb; skipped signatures throw UnsupportedSignature. */
function parseTdb(text: string): Tdb {
  const tdb: Tdb = { target: undefined, engine: undefined, others: [] };
  let newExt = false, ep = false, icon = false;
  const attrs = text.split(",");
  for (let i = 0; i < attrs.length; i++) {
    const colon = attrs[i].indexOf(":");
    if (colon < 0) throw new SignatureError(`TDB: attribute "${attrs[i]}" has no ":"`);
    const name = attrs[i].slice(0, colon), value = attrs[i].slice(colon + 1);
    const kind = ATTRIBUTES[name];
    if (!kind) throw new UnsupportedSignature(`logical signatures (.ldb): TDB attribute ${name}`);
    if (name === "Engine" && i > 0) throw new SignatureError("TDB: Engine must come first");
    if (name !== "Engine" && name !== "Target") {
      newExt = true;
      tdb.others.push(name);
    }
    if (kind === "uint") {
      if (!isNumber(value)) throw new SignatureError(`TDB: ${name}: not a number: "${value}"`);
      tdb.target = atoi(value);
    } else if (kind === "range") {
      const dash = value.indexOf("-");
      if (dash < 0) throw new SignatureError(`TDB: ${name}: expected min-max, got "${value}"`);
      const [a, b] = [value.slice(0, dash), value.slice(dash + 1)];
      if (!isNumber(a) || !isNumber(b)) {
        throw new SignatureError(`TDB: ${name}: not a number: "${value}"`);
      }
      if (name === "Engine") tdb.engine = [atoi(a), atoi(b)];
      if (name === "EntryPoint" || name === "NumberOfSections") ep = true;
    } else if (kind === "ftype") {
      // clamscan skips the signature for a file type it does not know and goes on for one it
      // knows; virtav does not carry the list, so it stops checking here (never refuses).
      throw new UnsupportedSignature(`logical signatures (.ldb): TDB attribute ${name}`);
    } else icon = true;
  }
  if (newExt && (!tdb.engine || tdb.engine[0] < 51)) {
    throw new SignatureError("TDB: attributes other than Target need Engine with a minimum ≥ 51");
  }
  if (tdb.engine) {
    if (tdb.engine[0] > ENGINE_FLEVEL || tdb.engine[1] < ENGINE_FLEVEL) {
      throw new UnsupportedSignature(`functionality level outside ${ENGINE_FLEVEL} (skipped)`);
    }
  }
  if (tdb.target === undefined) throw new SignatureError("TDB: no Target");
  if (tdb.target >= TARGET_COUNT) {
    throw new UnsupportedSignature(
      `target type ${tdb.target} is not a ClamAV 1.4 target (skipped)`,
    );
  }
  if (icon && tdb.target !== 1) throw new SignatureError("TDB: IconGroup needs Target:1");
  if (ep && !EXEC_TARGETS.has(tdb.target)) {
    throw new SignatureError("TDB: EntryPoint/NumberOfSections need Target 1, 6 or 9");
  }
  return tdb;
}

/**
 * Checks one subsignature as clamscan loads it; returns why it cannot be evaluated on raw data,
 * or null when it is a body pattern virtav could match.
 */
function checkSubsig(text: string, target: number): string | null {
  if (text.startsWith("$")) {
    // clamscan's macro checks: a `$` at the end, `${min-max}group$`, group < 32
    const m = /^\$\{\s*[+-]?[0-9]+-\s*[+-]?[0-9]+\}\s*([+-]?[0-9]+)/.exec(text);
    if (!text.endsWith("$") || !m) throw new SignatureError(`macro subsignature "${text}"`);
    const group = Number(m[1]);
    if (group < 0 ? group !== 0 : group >= 32) {
      throw new SignatureError(`macro subsignature "${text}": group above 31`);
    }
    return "macro subsignature";
  }
  if (text.includes("/")) return "PCRE subsignature";
  if (/^[0-9]+\([<>]{2}/.test(text)) return "byte-compare subsignature";
  if (text.includes("${")) return "macro subsignature";
  if (text.startsWith("fuzzy_img")) return "fuzzy image hash subsignature";
  const t = text.split(":");
  let offset = "*", hex: string, opts = "";
  if (t.length === 1) hex = t[0];
  else if (t.length === 2) [offset, hex] = t;
  else if (t.length === 3 && t[1] === "") [hex, , opts] = t;
  else if (t.length === 4 && t[2] === "") [offset, hex, , opts] = t;
  else return "subsignature with an unusual number of fields";
  for (const c of opts) {
    if (!"ifwa".includes(c)) throw new SignatureError(`subsignature option "${c}"`);
  }
  let why: string | null = null;
  if (/^(EP[+-]|S[0-9]+\+|SE[0-9]|SL\+)/.test(offset)) {
    if (!EXEC_TARGETS.has(target)) {
      throw new SignatureError(`offset ${offset} is not valid for target ${target}`);
    }
    why = "subsignature offset needs a parsed executable";
  } else if (/^(VI|MACRO|\$)/.test(offset)) {
    why = "subsignature offset " + offset;
  } else if (offset !== "*") {
    // clamscan's cli_caloff: digits or EOF-digits (either may be empty), then an optional
    // ",digits" (may be empty too)
    const [main, ...shift] = offset.split(",");
    if (!/^(EOF-)?[0-9]*$/.test(main) || (shift.length && !/^[0-9]*$/.test(shift.join(",")))) {
      throw new SignatureError(`subsignature offset "${offset}"`);
    }
    try {
      parseOffset(offset);
    } catch {
      why = `subsignature offset "${offset}"`;
    }
  }
  // With an option, clamscan turns alternatives into generic ones and refuses to negate those
  // (checked for i, a, w). `w` (wide) and `f` (full word) change the pattern before clamscan's
  // length rules apply: virtav does not check the hex then.
  if (/[iaw]/.test(opts) && /!\((?![BLW]\))/.test(hex)) {
    throw new SignatureError("a negated alternative with a subsignature option");
  }
  if (!/[wf]/.test(opts)) parseHexSignature(hex, { prefilter: PREFILTER_TARGETS.has(target) });
  return why;
}

/** A logical signature virtav evaluates: its subsignatures are body patterns matched anywhere. */
export interface LogicalSignature {
  name: string;
  logic: string;
  subsigs: BodySignature[];
  /** With counts in the expression: each subsignature's spellings (fixed bytes, hex) to count. */
  countForms?: string[][];
}

/** Most spellings of an `::i` subsignature virtav matches (2^letters of its fixed bytes). */
const MAX_NOCASE_FORMS = 256;

/**
 * Every upper/lower-case spelling of fixed bytes (clamscan's `::i` folds ASCII letters only),
 * or more than {@linkcode MAX_NOCASE_FORMS} entries when there are too many letters.
 */
function caseForms(hex: string): string[] {
  let forms = [""];
  for (const pair of hex.match(/../g) ?? []) {
    const b = parseInt(pair, 16);
    const lower = b | 0x20;
    const letter = lower >= 0x61 && lower <= 0x7a;
    const spell = letter ? [lower, lower & ~0x20] : [b];
    forms = forms.flatMap((f) => spell.map((x) => f + x.toString(16).padStart(2, "0")));
    if (forms.length > MAX_NOCASE_FORMS) break;
  }
  return forms;
}

/**
 * Where a PCRE subsignature looks, as clamscan's cli_caloff decodes its offset: anywhere, from
 * `n` (absolute) or from `EOF-n`, with a shift `,m` (0 without one). Numbers are C `atoi` values
 * kept in 32 bits, as clamscan keeps them.
 */
export type PcreOffset = { kind: "any" } | { kind: "abs" | "eof"; n: number; shift: number };

/** A PCRE subsignature `[Offset:]Trigger/Pcre/Flags` virtav evaluates (through libpcre2, natively). */
export interface PcreSub {
  trigger: string;
  pattern: string;
  flags: string;
  /** Absent: at any offset. */
  offset?: PcreOffset;
}

/** The flags clamscan takes (cli_pcre_addoptions, then g r e). */
const PCRE_FLAGS = /^[ismxAEUgre]*$/;

/**
 * clamscan's cli_ldbtokenize: `s` split at `delim`, except between unescaped `/` (a `/` not
 * after `\` toggles "inside a PCRE" from token `skip` on, across tokens), into at most `max`
 * tokens (what follows the last one's delimiter is dropped).
 */
export function ldbTokenize(s: string, delim: string, max: number, skip: number): string[] {
  const out: string[] = [];
  let inside = false, i = 0;
  while (out.length < max) {
    const start = i;
    for (; i < s.length; i++) {
      const c = s[i];
      if (!inside && c === delim) break;
      if (out.length + 1 > skip && i > 0 && s[i - 1] !== "\\" && c === "/") inside = !inside;
    }
    out.push(s.slice(start, i));
    if (i >= s.length) return out;
    i++;
  }
  return out;
}

/** C's atoi on a string of digits (clamscan's offsets), kept in 32 bits as clamscan stores it. */
function atoi32(digits: string): number {
  if (!digits) return 0;
  const v = BigInt(digits);
  const long = v > 0x7fffffffffffffffn ? 0x7fffffffffffffffn : v;
  return Number(long & 0xffffffffn);
}

/**
 * A PCRE subsignature's offset as cli_caloff reads it for target `target`: a
 * {@linkcode PcreOffset}, or a string when virtav does not evaluate it (a macro `$n$`, or the
 * executable-relative and version forms clamscan takes on targets 1/6/9); throws
 * {@linkcode SignatureError} for what clamscan refuses.
 */
function pcreOffset(text: string, target: number, index: number): PcreOffset | string {
  const bad = (why: string) =>
    new SignatureError(`subsignature ${index}: PCRE offset "${text}": ${why}`);
  if (text === "*") return { kind: "any" };
  if (text.length > 64) throw bad("longer than 64 characters");
  let main = text, shift = 0;
  const comma = text.indexOf(",");
  if (comma >= 0) {
    if (!isNumber(text.slice(comma + 1))) throw bad("the shift is not a number");
    shift = atoi32(text.slice(comma + 1));
    main = text.slice(0, comma);
  }
  let exec: string | null = null;
  if (main.startsWith("EP+") || main.startsWith("EP-")) {
    if (!isNumber(main.slice(3))) throw bad("not a number");
    exec = "EP";
  } else if (main[0] === "S") {
    if (main[1] === "E") {
      if (!isNumber(main.slice(2))) throw bad("not a section number");
    } else if (
      !text.startsWith("SL+") &&
      !/^S[ \t\n\v\f\r]*[+-]?[0-9]+\+[ \t\n\v\f\r]*[+-]?[0-9]+/.test(main)
    ) {
      throw bad("not an offset");
    } else if (text.startsWith("SL+") && !isNumber(main.slice(3))) throw bad("not a number");
    exec = "section";
  } else if (main.startsWith("EOF-")) {
    if (!isNumber(main.slice(4))) throw bad("not a number");
    return { kind: "eof", n: atoi32(main.slice(4)), shift };
  } else if (main.startsWith("VI")) {
    exec = "VI";
  } else if (main.includes("$")) {
    const m = /^\$[ \t\n\v\f\r]*[+-]?([0-9]+)/.exec(main);
    if (!m) throw bad("not a macro group");
    if (Number(m[1]) >= 32) throw bad("macro group above 31");
    return "PCRE subsignature with a macro offset";
  } else {
    if (!isNumber(main)) throw bad("not a number");
    return { kind: "abs", n: atoi32(main), shift };
  }
  if (!EXEC_TARGETS.has(target)) throw bad(`not valid for target ${target}`);
  return `PCRE subsignature with an offset ${exec}`;
}

/**
 * PCRE subsignature `index` of a target-`target` line, split as clamscan's
 * readdb_load_regex_subsignature splits it (at `:` outside slashes: with two fields the first is
 * the offset, otherwise the first field is the PCRE and the rest is ignored; then the trigger up
 * to the first `/`, the pattern to the last, flags after) and checked as cli_pcre_addpatt and
 * cli_pcre_build check it ({@linkcode SignatureError}, which refuses the database: one `/`, an
 * empty trigger or pattern, a trigger that is no logical expression or names this subsignature
 * or a later one, an offset cli_caloff refuses, a flag it does not know, a pattern libpcre2 does
 * not compile); a string when virtav does not evaluate it (see {@linkcode pcreOffset}).
 */
export function parsePcreSub(text: string, index: number, target = 0): PcreSub | string {
  const fields = ldbTokenize(text, ":", 5, 0);
  const sig = fields.length === 2 ? fields[1] : fields[0];
  const start = sig.indexOf("/"), end = sig.lastIndexOf("/");
  if (start === end) throw new SignatureError(`subsignature ${index}: PCRE with one "/"`);
  if (text[0] === "/") throw new SignatureError(`subsignature ${index}: PCRE without a trigger`);
  const sub: PcreSub = {
    trigger: sig.slice(0, start),
    pattern: sig.slice(start + 1, end),
    flags: sig.slice(end + 1),
  };
  if (!sub.trigger || !sub.pattern) {
    throw new SignatureError(`subsignature ${index}: PCRE with an empty trigger or pattern`);
  }
  let highest: number;
  try {
    highest = checkLogic(sub.trigger);
  } catch {
    throw new SignatureError(
      `subsignature ${index}: PCRE trigger "${sub.trigger}" is no expression`,
    );
  }
  if (highest >= index) {
    throw new SignatureError(`subsignature ${index}: PCRE trigger names subsignature ${highest}`);
  }
  const offset = pcreOffset(fields.length === 2 ? fields[0] : "*", target, index);
  if (!PCRE_FLAGS.test(sub.flags)) throw new SignatureError(`subsignature ${index}: PCRE flag`);
  // clamscan compiles the pattern as a C string: it ends at a NUL
  const pat = new TextEncoder().encode(sub.pattern.split("\0")[0]);
  const flags = [...sub.flags].reduce((f, c) => f | (PCRE_FLAG_BITS[c] ?? 0), 0);
  const rc = native().vav_pcre_count(
    pat,
    BigInt(pat.length),
    flags,
    new Uint8Array(0),
    0n,
    0n,
    null,
  );
  if (rc < 0) {
    throw new SignatureError(`subsignature ${index}: PCRE /${sub.pattern}/ does not compile`);
  }
  if (typeof offset === "string") return offset;
  if (offset.kind !== "any") sub.offset = offset;
  return sub;
}

/** The flags as native/virtav_pcre.c takes them (r and e are applied by the caller). */
export const PCRE_FLAG_BITS: Record<string, number> = {
  i: 1,
  s: 2,
  m: 4,
  x: 8,
  A: 16,
  E: 32,
  U: 64,
  g: 128,
};

const toHex = (s: string) =>
  [...new TextEncoder().encode(s)].map((b) => b.toString(16).padStart(2, "0")).join("");

/** A PCRE subsignature as one "form" in a compiled name: `/` then its parts in hex (no `,`). */
export function pcreForm(p: PcreSub): string {
  const o = p.offset;
  const off = !o || o.kind === "any" ? "" : `${o.kind}.${o.n}.${o.shift}`;
  return `/${toHex(p.trigger)}/${toHex(p.pattern)}/${p.flags}/${off}`;
}

/** The PCRE subsignature a form holds, or null for a form of fixed bytes. */
export function parsePcreForm(form: string): PcreSub | null {
  if (!form.startsWith("/")) return null;
  const [, t, p, flags, off] = form.split("/");
  const text = (h: string) =>
    new TextDecoder().decode(Uint8Array.from((h.match(/../g) ?? []).map((x) => parseInt(x, 16))));
  const sub: PcreSub = { trigger: text(t), pattern: text(p), flags };
  if (off) {
    const [kind, n, shift] = off.split(".");
    sub.offset = { kind: kind === "eof" ? "eof" : "abs", n: Number(n), shift: Number(shift) };
  }
  return sub;
}

/** A subsignature of fixed bytes at any offset (with the modifiers a, i, w). */
const FIXED_SUB = /^([0-9a-fA-F]{2})+(::[aiw]*)?$/;

/**
 * The subsignature ids whose number of matches, not only whether they matched, can change what
 * `expr` evaluates to (as {@linkcode evalLogic} reads it): a leaf with a modifier (`0>2`) and
 * every leaf inside a block with one (`(0|1)=3`).
 */
export function countedIds(expr: string, into = new Set<number>(), all = false): Set<number> {
  const sp = splitLogic(expr, false);
  if (sp.leaf) {
    if (expr[0] === "(") return countedIds(expr.slice(1, expr.length - 1), into, all);
    if (all || sp.mod) into.add(scanUint(expr)!);
    return into;
  }
  const inner = all || !!sp.blkmod;
  countedIds(expr.slice(sp.lstart, sp.opoff), into, inner);
  countedIds(expr.slice(sp.opoff + 1, sp.rend), into, inner);
  return into;
}

/**
 * Why a loaded logical signature is not evaluated by virtav, or null when it is. `presence`:
 * the subsignatures whose matches the body matcher reports (only whether they matched counts),
 * the rest are counted from the unit's bytes; null when the expression has no PCRE (then
 * counts need every subsignature fixed bytes at any offset).
 */
function notEvaluable(
  tdb: Tdb,
  logic: string,
  subs: string[],
  presence: Set<number> | null,
): string | null {
  if (tdb.others.length) return `TDB attribute ${tdb.others[0]}`;
  if (tdb.target !== 0) return `target type ${tdb.target}`;
  // counts need clamscan's count of a pattern's matches (distinct starts in the order its
  // Aho-Corasick finds them): virtav counts them only for fixed bytes at any offset, where that
  // is the number of places they occur
  if (!presence && /[<>=]/.test(logic) && !subs.every((x) => FIXED_SUB.test(x))) {
    return "a count in the expression over a subsignature that is not fixed bytes at any offset";
  }
  for (const sub of subs) {
    let t = sub.split(":");
    if (t.length === 3 || t.length === 4) {
      const opts = t[t.length - 1], hex = t[t.length - 3];
      // `a` (the default) and, on fixed bytes, `w` (each byte then 00, as clamscan widens)
      if (!/^[aiw]*$/.test(opts)) return "subsignature modifier f";
      if (/[iw]/.test(opts) && !/^([0-9a-fA-F]{2})+$/.test(hex)) {
        return "subsignature modifier i or w on more than fixed bytes";
      }
      if (opts.includes("i") && opts.includes("w")) return "subsignature modifiers i and w";
      if (opts.includes("i") && caseForms(hex).length > MAX_NOCASE_FORMS) {
        return `subsignature modifier i on more than ${Math.log2(MAX_NOCASE_FORMS)} letters`;
      }
      t = t.slice(0, t.length - 2);
    }
    // offsets as `.ndb` reads them (clamscan also loads empty numbers: `EOF-`, `,4`)
    if (t.length === 2 && !/^(\*|(EOF-)?[0-9]+(,[0-9]+)?)$/.test(t[0])) {
      return `subsignature offset "${t[0]}"`;
    }
  }
  return null;
}

/** clamscan's LDB_TOKENS + 1: the most `;` fields of an `.ldb` line it reads. */
const LDB_MAX_TOKENS = 68;

/**
 * Parses one `.ldb` line as clamscan 1.4.6 loads it. Throws {@linkcode SignatureError} for a line
 * clamscan refuses and {@linkcode UnsupportedSignature} for one it skips or virtav cannot
 * evaluate (counted by reason); returns the signatures virtav evaluates (docs/virtav.md).
 */
export function parseLdbLine(line: string): LogicalSignature {
  // clamscan's tokenizer keeps `;` inside a PCRE's slashes (from the expression on)
  const tokens = ldbTokenize(line, ";", LDB_MAX_TOKENS, 2);
  if (tokens.length < 4) {
    throw new SignatureError(`expected at least 4 fields separated by ";", got ${tokens.length}`);
  }
  const [name, tdbText, logic] = tokens;
  const subsigs = checkLogic(logic) + 1;
  if (subsigs !== tokens.length - 3) {
    throw new SignatureError(
      `the expression names ${subsigs} subsignatures, the line has ${tokens.length - 3}`,
    );
  }
  if (subsigs > MAX_LDB_SUBSIGS) {
    throw new SignatureError(`more than ${MAX_LDB_SUBSIGS} subsignatures`);
  }
  const tdb = parseTdb(tdbText);
  const target = tdb.target!;
  const texts = tokens.slice(3);
  const pcres = texts.map((t, j) => isPcreText(t) ? parsePcreSub(t, j, target) : null);
  let why: string | null = null;
  texts.forEach((s, j) => {
    if (!pcres[j]) why = checkSubsig(s, target) ?? why;
  });
  const pcreWhy = pcres.find((p) => typeof p === "string") as string | undefined;
  if (pcreWhy) why = pcreWhy;
  if (why) throw new UnsupportedSignature(`logical signatures (.ldb): ${why}`);
  // With a PCRE, subsignatures whose count matters (a modifier over them in the expression or a
  // trigger) are counted in the unit's bytes, which needs fixed bytes at any offset; the others
  // are taken from the body matcher's hits (whether they matched), which costs no pass.
  let presence: Set<number> | null = null;
  if (pcres.some((p) => p)) {
    const counted = countedIds(logic);
    for (const p of pcres) if (p && typeof p !== "string") countedIds(p.trigger, counted);
    presence = new Set();
    for (const [j, t] of texts.entries()) {
      if (pcres[j] || (counted.has(j) && FIXED_SUB.test(t))) continue;
      if (counted.has(j)) {
        throw new UnsupportedSignature(
          "logical signatures (.ldb): a count over a subsignature that is not fixed bytes at any offset, beside a PCRE",
        );
      }
      presence.add(j);
    }
  }
  const skip = notEvaluable(tdb, logic, texts.map((t, j) => pcres[j] ? "00" : t), presence);
  if (skip) throw new UnsupportedSignature(`logical signatures (.ldb): ${skip}`);
  const formsOf: string[][] = [];
  const sig: LogicalSignature = {
    name,
    logic,
    subsigs: texts.map((sub, j) => subsignature(name, sub, pcres[j], formsOf, presence?.has(j))),
  };
  if (/[<>=]/.test(logic) || presence) sig.countForms = formsOf;
  return sig;
}

/** Whether clamscan reads a subsignature as PCRE (a `/`, and not a macro, which it tries first). */
function isPcreText(t: string): boolean {
  return t.includes("/") && t[0] !== "$";
}

/** The form of a subsignature whose hits the body matcher reports (only whether it matched). */
export const PRESENCE_FORM = "?";

/**
 * One subsignature as the body matcher takes it (a PCRE's bytes are matched natively; it
 * stands here with no variants), its spellings to count appended to `formsOf`.
 */
function subsignature(
  name: string,
  sub: string,
  pcre: ReturnType<typeof parsePcreSub> | null,
  formsOf: string[][],
  presence = false,
): BodySignature {
  if (pcre && typeof pcre !== "string") {
    formsOf.push([pcreForm(pcre)]);
    return { name, target: 0, offset: { kind: "any", base: 0, range: 0 }, variants: [], hex: sub };
  }
  let t = sub.split(":"), opts = "";
  if (t.length >= 3) {
    opts = t[t.length - 1];
    t = t.slice(0, t.length - 2);
  }
  const hex = t[t.length - 1];
  const forms = opts.includes("w")
    ? [...(opts.includes("a") ? [hex] : []), hex.replace(/(..)/g, "$100")]
    : opts.includes("i")
    ? caseForms(hex)
    : [hex];
  formsOf.push(presence ? [PRESENCE_FORM] : forms);
  return {
    name,
    target: 0,
    offset: t.length === 2 ? parseOffset(t[0]) : { kind: "any", base: 0, range: 0 },
    variants: forms.flatMap((h) => parseHexSignature(h, { prefilter: true })),
    hex,
  } as BodySignature;
}

/**
 * The name a subsignature carries in the compiled database: a NUL first (no `.ndb`/`.hdb` name
 * holds one), then the expression, its index, the subsignature count, the spellings to count
 * (expressions with counts) and the signature's name last (so a suffix such as `.UNOFFICIAL` lands on the name).
 */
export function subsigName(sig: LogicalSignature, j: number): string {
  const forms = sig.countForms?.[j].join(",") ?? "";
  return `\0${sig.logic}\0${j}\0${sig.subsigs.length}\0${forms}\0${sig.name}`;
}

/** A subsignature's parts from its compiled name, or null for a body signature's name. */
export function parseSubsigName(
  name: string,
): { logic: string; index: number; count: number; forms: string[]; name: string } | null {
  if (!name.startsWith("\0")) return null;
  const [, logic, j, k, forms, ...rest] = name.split("\0");
  return {
    logic,
    index: Number(j),
    count: Number(k),
    forms: forms ? forms.split(",") : [],
    name: rest.join("\0"),
  };
}

/** What an evaluation adds up: matches counted and the ids that took part (clamscan's cnt/ids). */
interface LogicAcc {
  cnt: number;
  ids: Set<number>;
}

function evalInto(expr: string, counts: readonly number[], acc: LogicAcc): boolean {
  const sp = splitLogic(expr, false);
  if (sp.leaf) {
    if (expr[0] === "(") return evalInto(expr.slice(1, expr.length - 1), counts, acc);
    const id = scanUint(expr)!;
    const val = counts[id] ?? 0;
    const { mod } = sp;
    if (mod) {
      const m = scanUint(expr.slice(sp.modoff + 1))!;
      if (mod === "=" ? val !== m : mod === "<" ? val >= m : mod === ">" ? val <= m : true) {
        return false;
      }
      acc.cnt += val;
      acc.ids.add(id);
      return true;
    }
    if (!val) return false;
    acc.cnt += val;
    acc.ids.add(id);
    return true;
  }
  const { op, opoff, lstart, rend, blkmod, modval1, modval2 } = sp;
  const l: LogicAcc = { cnt: 0, ids: new Set() }, r: LogicAcc = { cnt: 0, ids: new Set() };
  const lval = evalInto(expr.slice(lstart, opoff), counts, l);
  const rval = evalInto(expr.slice(opoff + 1, rend), counts, r);
  const ret = op === "&" ? lval && rval : lval || rval;
  if (!blkmod) {
    if (ret) {
      acc.cnt += l.cnt + r.cnt;
      for (const id of [...l.ids, ...r.ids]) acc.ids.add(id);
    }
    return ret;
  }
  const tcnt = ret ? l.cnt + r.cnt : 0;
  const tids = ret ? new Set([...l.ids, ...r.ids]) : new Set<number>();
  if (
    blkmod === "=" ? tcnt !== modval1 : blkmod === "<" ? tcnt >= modval1 : tcnt <= modval1
  ) return false;
  if (modval2 && tids.size < modval2) return false;
  acc.cnt += tcnt;
  return true;
}

/**
 * Evaluates a logical expression (already checked by {@linkcode checkLogic}) over the number of
 * matches of each subsignature, as clamscan's `cli_ac_chklsig` does at the end of a scan, with
 * its quirks: the first operator outside parentheses splits the expression (`0&1|2` is
 * `0&(1|2)`), a block's `,m` counts distinct subsignatures, a leaf's only its first number.
 */
export function evalLogic(expr: string, counts: readonly number[]): boolean {
  return evalInto(expr, counts, { cnt: 0, ids: new Set() });
}
