/**
 * ClamAV body signatures (the `HexSignature` field of `.ndb` lines) parsed into a form the
 * native matcher runs: every wildcard in docs.clamav.net "Body-based Signature Content Format":
 * `??`, nibbles `a?`/`?a`, `*`, `{n}`, `{-n}`, `{n-}`, `{n-m}`, `(aa|bb)`, `!(aa|bb)`, `[x-y]`.
 *
 * A signature becomes one or more *variants* (alternatives of different lengths and `[x-y]`
 * ranges are expanded, so every part has a fixed width), each a list of *parts* joined by
 * gaps (`*`, `{n-m}`, ...). Each part needs two consecutive fixed bytes (ClamAV's own rule),
 * which the matcher uses as its anchor.
 *
 * @module
 */

/** A malformed signature (clamscan refuses the whole database for one of these). */
export class SignatureError extends Error {
  override name = "SignatureError";
}

/** A well-formed signature using a feature virtav cannot apply (counted, not dropped silently). */
export class UnsupportedSignature extends Error {
  override name = "UnsupportedSignature";
  constructor(readonly reason: string) {
    super(reason);
  }
}

/** Fixed bytes with masks: `mask` 0xff exact, 0xf0/0x0f a nibble, 0 any byte. */
export interface BytesAtom {
  kind: "bytes";
  vals: number[];
  masks: number[];
  /** Set on the bytes of one member of an alternative of several lengths (never cut short). */
  grp?: number;
}

/** `(aa|bb)` or `!(aa|bb)`: alternatives of one width (each with masks). */
export interface AltAtom {
  kind: "alt";
  negate: boolean;
  width: number;
  alts: { vals: number[]; masks: number[] }[];
}

/** One element of a part: a fixed width of bytes. */
export type Atom = BytesAtom | AltAtom;

/** A fixed-width run of atoms, preceded by a gap from the previous part's end. */
export interface Part {
  atoms: Atom[];
  width: number;
  /** Bytes between the previous part's end and this part's start (first part: 0). */
  gapMin: number;
  /** Upper bound of that gap; -1 is unbounded (`*`, `{n-}`). */
  gapMax: number;
  /** Offset and length of the longest run of exact bytes (the matcher's anchor). */
  anchorOff: number;
  anchorLen: number;
  /** Offset (in the part) and length (2 or 4) of the key the prefilter looks for. */
  keyOff: number;
  keyLen: number;
  /**
   * Bytes before the part's core: `aa[x-y]CORE` puts `aa` and its distance here. ClamAV
   * measures the offset and the gaps from the core, not from the side byte (checked against
   * clamscan), so the matcher takes the core as the part's extent.
   */
  lead: number;
  /** Bytes after the core: `CORE[x-y]bb`. */
  trail: number;
  /**
   * `(B)`/`(L)`/`(W)` at the core's edges, checked on the byte before (low 4 bits) and after
   * (high 4 bits) the core: {@linkcode edgeCode}, 0 for none.
   */
  edges: number;
  /**
   * clamscan reports a match of a signature's last part whose end lies past the end of the
   * scanned buffer when its first `head` bytes (up to its Aho-Corasick entry point) are in it
   * and what is there matches (docs/virtav.md); 0: never.
   */
  head: number;
  /** With `head`: the bytes from the part's start clamscan needs in the buffer (its shortest). */
  minEnd: number;
  /**
   * The un-expanded part, for clamscan's own search at its Aho-Corasick entry (shared by every
   * variant of this part), when its variants can end or start at different places; see
   * {@linkcode ClamPart}.
   */
  clam?: ClamPart;
  /** Offset from the part's start (side bytes included) of clamscan's entry point. */
  trigOff: number;
}

/**
 * One element of a part as clamscan's matcher holds it: a byte (with mask) or a "special":
 * an alternative of fixed members of one length (`alt`, may be negated), of generic members
 * (`gen`, in clamscan's order, each flagged unique when no other member is a prefix of it or
 * it of another, matcher-ac.c ac_uicmp), or a class inside the part.
 */
export type ClamUnit =
  | { k: "byte"; val: number; mask: number }
  | { k: "alt"; negate: boolean; members: Member[] }
  | { k: "gen"; members: (Member & { unique: boolean })[] }
  | { k: "cls"; cls: CharClass; negate: boolean };

/**
 * A part as clamscan matches it from an Aho-Corasick entry (matcher-ac.c `ac_findmatch`): the
 * core's units, the entry unit `ppos` and the trie depth, the shortest lengths it checks fit
 * (`len1` from the entry, `plen1` before it), the edge classes and the `[x-y]` side bytes.
 * clamscan keeps only the first way through a part its depth-first search finds at an entry;
 * the native matcher runs that search where a part's variants can differ in extent.
 */
export interface ClamPart {
  units: ClamUnit[];
  ppos: number;
  depth: number;
  len1: number;
  plen1: number;
  /** As {@linkcode Part.edges}. */
  edges: number;
  lch: { val: number; mask: number; min: number; max: number } | null;
  rch: { val: number; mask: number; min: number; max: number } | null;
}

/** One way the signature can match: parts in order. */
export interface Variant {
  parts: Part[];
  /**
   * Where the signature "starts" for its offset, from the first part's start: ClamAV
   * anchors `aa[x-y]HEXSIG` at HEXSIG, so its offset check skips the byte and the range
   * (the first part's `lead`).
   */
  startShift: number;
}

/** ClamAV inlines `{n}` as n `??` when 0 < n < 128 (and no ranged `{` came before). */
const MAX_INLINE_SKIP = 127;
/** Expansion limit for `[x-y]`, alternatives of different lengths and `(L)`. */
const MAX_VARIANTS = 4096;
/** ClamAV's `[x-y]` maximum (AC_CH_MAXDIST). */
const MAX_SIDE_RANGE = 32;
/** Nesting limit of alternatives (ClamAV's ACPATT_ALTN_MAXNEST). */
const MAX_ALT_NEST = 15;

/** One member of an alternative: bytes with masks (`??` and nibbles allowed). */
export type Member = { vals: number[]; masks: number[] };

/** `(B)`, `(L)`, `(W)`: word boundary, line boundary, non-alphanumeric. */
export type CharClass = "B" | "L" | "W";

type Tok =
  | { t: "byte"; val: number; mask: number; grp?: number; entry?: boolean }
  | { t: "gap"; min: number; max: number }
  | { t: "skip"; n: number; fromRange?: boolean }
  | {
    t: "alt";
    negate: boolean;
    alts: Member[];
    fixed?: boolean;
    hasEmpty?: boolean;
    /** Every member in the signature's order, empty ones in place (clamscan's list). */
    ordered?: Member[];
  }
  | { t: "range"; min: number; max: number }
  | { t: "cls"; cls: CharClass; negate: boolean; back?: boolean };

/** The bytes of a set given as numbers and inclusive `[lo, hi]` ranges. */
function byteSet(...items: (number | [number, number])[]): Set<number> {
  const out = new Set<number>();
  for (const it of items) {
    if (typeof it === "number") out.add(it);
    else for (let b = it[0]; b <= it[1]; b++) out.add(b);
  }
  return out;
}

/**
 * What `(B)` accepts, clamscan's boundary table (matcher-ac.c), checked against clamscan 1.4.6
 * with signatures of distinct bytes: inside a part `(B)` takes one byte of `MID_B`, `!(B)` one
 * outside `OLD_B`; at a core's left edge `(B)` needs the byte before in `LEFT_B` (or the buffer
 * start), at its right edge the byte after in `RIGHT_B` (or the end), `!(B)` there a byte after
 * outside `OLD_RIGHT_B`. `PUNCT_W` is kept for reference (ASCII space and punctuation).
 */
export const CLASS_SETS = {
  MID_B: byteSet(10, 13, 32, 34, 39, [45, 47], [60, 62], 64, 95),
  OLD_B: byteSet(10, 13, 32, 34, 39, [45, 47], [60, 62], 64, 95),
  LEFT_B: byteSet(32, [45, 47], 60, 64, 95),
  RIGHT_B: byteSet(10, 13, 32, 34, 39, 45, 47, 61, 62, 95),
  OLD_RIGHT_B: byteSet(10, 13, 32, 34, 39, 45, 47, 61, 62, 95),
  PUNCT_W: byteSet([9, 13], [32, 47], [58, 64], [91, 96], [123, 127]),
};

/** C's isalnum in the "C" locale. */
export function isAlnum(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
}

function hexNibble(c: string): number {
  const v = parseInt(c, 16);
  return Number.isNaN(v) || !/^[0-9a-fA-F]$/.test(c) ? -1 : v;
}

/** Parses one hex pair (`4d`, `??`, `4?`, `?d`) into value and mask. */
function parseHexPair(a: string, b: string): { val: number; mask: number } | null {
  if (a === "?" && b === "?") return { val: 0, mask: 0 };
  if (b === "?") {
    const h = hexNibble(a);
    return h < 0 ? null : { val: h << 4, mask: 0xf0 };
  }
  if (a === "?") {
    const l = hexNibble(b);
    return l < 0 ? null : { val: l, mask: 0x0f };
  }
  const h = hexNibble(a), l = hexNibble(b);
  return h < 0 || l < 0 ? null : { val: (h << 4) | l, mask: 0xff };
}

/** A decimal field as C's atoi reads it after ClamAV's cli_isnumber (digits only). */
function parseUint(s: string, what: string): number {
  if (!/^[0-9]+$/.test(s)) throw new SignatureError(`${what}: not a number: "${s}"`);
  const n = Number(s);
  if (n > 0x7fffffff) throw new SignatureError(`${what}: too large: ${s}`);
  return n;
}

/** Index of the `)` closing the `(` at `open`, or -1. */
function closingParen(sig: string, open: number): number {
  let depth = 0;
  for (let i = open; i < sig.length; i++) {
    if (sig[i] === "(") depth++;
    else if (sig[i] === ")" && --depth === 0) return i;
  }
  return -1;
}

/** Every way through a member (nested alternatives multiply out), as byte lists. */
function parseMember(text: string, where: string, inlineBraces: () => boolean): Member[] {
  let out: Member[] = [{ vals: [], masks: [] }];
  const push = (vals: number[], masks: number[]) => {
    for (const m of out) {
      m.vals.push(...vals);
      m.masks.push(...masks);
    }
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === "(") {
      if (i > 0 && text[i - 1] === "!") {
        throw new SignatureError(`${where}: negation inside an alternative`);
      }
      const end = closingParen(text, i);
      if (end < 0) throw new SignatureError(`${where}: unclosed "("`);
      const inner = parseAltBody(text.slice(i + 1, end), where, inlineBraces).members;
      const next: Member[] = [];
      for (const m of out) {
        for (const n of inner) {
          next.push({ vals: [...m.vals, ...n.vals], masks: [...m.masks, ...n.masks] });
        }
      }
      if (next.length > MAX_VARIANTS) {
        throw new UnsupportedSignature(`more than ${MAX_VARIANTS} alternatives after expansion`);
      }
      out = next;
      i = end + 1;
    } else if (c === "{") {
      const end = text.indexOf("}", i);
      const m = end < 0 ? null : /^([0-9]+)$/.exec(text.slice(i + 1, end));
      const n = m ? Number(m[1]) : 0;
      if (!m || n === 0 || n > MAX_INLINE_SKIP || !inlineBraces()) {
        throw new SignatureError(`${where}: alternative contains a ranged wildcard`);
      }
      push(new Array(n).fill(0), new Array(n).fill(0));
      i = end + 1;
    } else if (c === "*") {
      throw new SignatureError(`${where}: alternative contains an unbounded wildcard`);
    } else {
      const p = i + 1 < text.length ? parseHexPair(c, text[i + 1]) : null;
      if (!p) throw new SignatureError(`${where}: not hex: "${text.slice(i, i + 2)}"`);
      push([p.val], [p.mask]);
      i += 2;
    }
  }
  return out;
}

/**
 * The body of `( ... )`: members split at top-level `|`. ClamAV refuses an empty first member
 * and ignores later empty ones (an empty member never matches the empty string). `fixed` is
 * ClamAV's "fixed" alternative (one length, no `?`, no nesting, no empty member): only those
 * may be negated.
 */
function parseAltBody(
  body: string,
  where: string,
  inlineBraces: () => boolean,
): { members: Member[]; fixed: boolean; hasEmpty: boolean; ordered: Member[] } {
  const texts: string[] = [];
  let depth = 0, from = 0;
  for (let i = 0; i <= body.length; i++) {
    const c = body[i];
    if (c === "(") depth++;
    else if (c === ")") depth--;
    else if ((c === "|" && depth === 0) || i === body.length) {
      texts.push(body.slice(from, i));
      from = i + 1;
    }
  }
  if (texts[0] === "") throw new SignatureError(`${where}: empty first alternative`);
  const used = texts.filter((t) => t !== "");
  if (used.length > MAX_VARIANTS) {
    throw new UnsupportedSignature(`more than ${MAX_VARIANTS} alternatives`);
  }
  const members = used.flatMap((t) => parseMember(t, where, inlineBraces));
  const fixed = used.length === texts.length && !/[?({]/.test(body) &&
    used.every((t) => t.length === used[0].length);
  const ordered = texts.flatMap((t) =>
    t === "" ? [{ vals: [], masks: [] }] : parseMember(t, where, inlineBraces)
  );
  return { members, fixed, hasEmpty: used.length !== texts.length, ordered };
}

/** ClamAV's `{...}` between parts: `{n}`, `{n-}`, `{-n}`, `{n-m}`; a maximum of 0 is none. */
function parseGap(body: string, what: string): { min: number; max: number } {
  const dash = body.indexOf("-");
  if (dash < 0) {
    const n = parseUint(body, what);
    return { min: n, max: n === 0 ? -1 : n };
  }
  const lo = body.slice(0, dash), hi = body.slice(dash + 1);
  if (hi.includes("-")) throw new SignatureError(`${what}: more than one "-"`);
  const min = lo === "" ? 0 : parseUint(lo, what);
  const max = hi === "" ? 0 : parseUint(hi, what);
  // A maximum of 0 means no maximum (clamscan: `5858{0-0}5a5a` matches far apart); a
  // maximum below the minimum is loaded and can never be met.
  return { min, max: max === 0 ? -1 : max };
}

function tokenize(
  sig: string,
  prefilter: boolean,
): { toks: Tok[]; heads: PartInfo[] } {
  const toks: Tok[] = [];
  // ClamAV rewrites `{n}` (0 < n < 128) as n `??` only until it meets the first other `{`:
  // from there every `{...}` separates parts (the same match, a different per-part rule).
  let braceRewrite = true;
  const inlineBraces = () => braceRewrite;
  let i = 0;
  while (i < sig.length) {
    const c = sig[i];
    if (c === "*") {
      toks.push({ t: "gap", min: 0, max: -1 });
      i++;
    } else if (c === "{") {
      const end = sig.indexOf("}", i);
      if (end < 0) throw new SignatureError(`unclosed "{" at ${i}`);
      const body = sig.slice(i + 1, end);
      const what = `{${body}} at ${i}`;
      const n = /^[0-9]+$/.test(body) ? Number(body) : 0;
      if (braceRewrite && n > 0 && n <= MAX_INLINE_SKIP) toks.push({ t: "skip", n });
      else {
        braceRewrite = false;
        toks.push({ t: "gap", ...parseGap(body, what) });
      }
      i = end + 1;
    } else if (c === "[") {
      const end = sig.indexOf("]", i);
      if (end < 0) throw new SignatureError(`unclosed "[" at ${i}`);
      const body = sig.slice(i + 1, end);
      const what = `[${body}] at ${i}`;
      const m = /^([0-9]+)(?:-([0-9]+))?$/.exec(body);
      if (!m) throw new SignatureError(`${what}: expected [n] or [x-y]`);
      const min = parseUint(m[1], what), max = m[2] === undefined ? min : parseUint(m[2], what);
      if (min > max) throw new SignatureError(`${what}: minimum above maximum`);
      if (max > MAX_SIDE_RANGE) {
        throw new SignatureError(`${what}: ClamAV allows at most ${MAX_SIDE_RANGE}`);
      }
      toks.push({ t: "range", min, max });
      i = end + 1;
    } else if (c === "(" || (c === "!" && sig[i + 1] === "(")) {
      const negate = c === "!";
      const open = negate ? i + 1 : i;
      const end = closingParen(sig, open);
      if (end < 0) throw new SignatureError(`unclosed "(" at ${open}`);
      const body = sig.slice(open + 1, end);
      const where = `alternative at ${open}`;
      if (body === "") throw new SignatureError(`empty "()" at ${open}`);
      let depth = 0, maxDepth = 0;
      for (const ch of body) {
        if (ch === "(") maxDepth = Math.max(maxDepth, ++depth);
        else if (ch === ")") depth--;
      }
      if (maxDepth + 1 > MAX_ALT_NEST) {
        throw new SignatureError(`${where}: nested deeper than ${MAX_ALT_NEST}`);
      }
      if (body === "B" || body === "L" || body === "W") {
        toks.push({ t: "cls", cls: body, negate });
      } else {
        const { members, fixed, hasEmpty, ordered } = parseAltBody(body, where, inlineBraces);
        if (negate && !fixed) {
          throw new SignatureError(
            `!(...) at ${i}: only alternatives of one length without ?, nesting or empty members can be negated`,
          );
        }
        toks.push({ t: "alt", negate, alts: members, fixed, hasEmpty, ordered });
      }
      i = end + 1;
    } else {
      if (i + 1 >= sig.length) throw new SignatureError(`odd number of hex digits at ${i}`);
      const p = parseHexPair(c, sig[i + 1]);
      if (!p) throw new SignatureError(`not a hex byte: "${c}${sig[i + 1]}" at ${i}`);
      toks.push({ t: "byte", ...p });
      i += 2;
    }
  }
  const heads = checkParts(toks, prefilter);
  return { toks, heads };
}

/** The tokens of each part (split at gaps), for ClamAV's per-part rules. */
function splitParts(toks: Tok[]): Tok[][] {
  const parts: Tok[][] = [[]];
  for (const t of toks) {
    if (t.t === "gap") parts.push([]);
    else parts[parts.length - 1].push(t);
  }
  return parts;
}

/** `aa[x-y]` at a part's start, `[x-y]bb` at its end: ClamAV's side byte (one hex pair). */
function sideSplit(ptoks: Tok[]): { lead: number; trail: number } {
  const ranges = ptoks.filter((t) => t.t === "range").length;
  const leadOk = ptoks[0]?.t === "byte" && ptoks[1]?.t === "range";
  const n = ptoks.length;
  const trailOk = n >= 2 && ptoks[n - 1].t === "byte" && ptoks[n - 2].t === "range" &&
    !(leadOk && n === 3);
  const lead = leadOk ? 2 : 0, trail = trailOk ? 2 : 0;
  if (ranges > (leadOk ? 1 : 0) + (trailOk ? 1 : 0)) {
    throw new SignatureError("[x-y]: needs a single byte on one side (aa[x-y]HEXSIG)");
  }
  return { lead, trail };
}

/** Leading non-negated / trailing class tokens of a core: zero-width checks, not bytes. */
function edgeSplit(core: Tok[]): { left: number; right: number } {
  const n = core.length;
  const last = core[n - 1];
  const right = last?.t === "cls" ? 1 : 0;
  const first = core[0];
  const left = n - right >= 1 && first.t === "cls" && !first.negate ? 1 : 0;
  return { left, right };
}

/**
 * ClamAV's rules for each part (between `*` / `{...}` gaps): an `[x-y]` needs one byte on
 * one side; after side bytes and edge classes, at least two units (a byte, a `??`, an
 * alternative) and two consecutive exact bytes somewhere (its Aho-Corasick entry point).
 * With `prefilter` (targets 0, 1, 4 and 7, whose matchers have clamscan's q-gram prefilter):
 * unless the part is all exact bytes, after any leading alternatives that are not one-byte
 * "fixed" ones or classes, two units must come before the next such alternative or class
 * (filtering.c: "Don't know how to create filter", and the database is refused).
 */
function checkParts(toks: Tok[], prefilter: boolean): PartInfo[] {
  const heads: PartInfo[] = [];
  for (const ptoks of splitParts(toks)) {
    const { lead, trail } = sideSplit(ptoks);
    const core0 = ptoks.slice(lead, ptoks.length - trail);
    const { left, right } = edgeSplit(core0);
    const core = core0.slice(left, core0.length - right);
    // "x": an exact byte; "w": a wildcard the prefilter can take; "s": one it stops at
    const units: string[] = [];
    const zero: boolean[] = [];
    const altAt = new Map<Tok, number>();
    for (const t of core) {
      if (t.t === "alt") altAt.set(t, units.length);
      if (t.t === "byte") units.push(t.mask === 0xff ? "x" : "w");
      else if (t.t === "skip") { for (let k = 0; k < t.n; k++) units.push("w"); }
      else if (t.t === "alt") units.push(t.fixed && t.alts[0].vals.length === 1 ? "w" : "s");
      else units.push("s");
      while (zero.length < units.length) zero.push(false);
      if (t.t === "byte" && t.mask === 0xff && t.val === 0) zero[units.length - 1] = true;
    }
    if (units.length < 2) throw new SignatureError("a part is shorter than two bytes");
    if (!units.some((u, k) => u === "x" && units[k + 1] === "x")) {
      throw new SignatureError("a part needs at least two consecutive fixed bytes");
    }
    // An empty member matches the empty string only in an alternative clamscan checks forwards
    // from its Aho-Corasick entry point; before it (checked backwards) it never matches.
    const { ppos: entry, depth } = entryPoint(units.map((u) => u === "x"), zero);
    for (const [t, at] of altAt) {
      if (t.t === "alt" && t.hasEmpty && at >= entry) t.alts.push({ vals: [], masks: [] });
    }
    const clam = clamPart(ptoks, lead, trail, left, right, entry, units);
    // clamscan's check before a match runs past the buffer's end (ac_findmatch): from its entry
    // point, the pattern's shortest length must fit. Per part: the bytes up to the entry point's
    // end (`trieEnd`) and that shortest end (`minEnd`), or null where they are not one number.
    let head: { trieEnd: number; minEnd: number } | null = { trieEnd: 0, minEnd: 0 };
    let u = 0;
    for (const t of core) {
      const n = t.t === "skip" ? t.n : 1;
      for (let k = 0; k < n && head; k++, u++) {
        let w: number, min: number;
        if (t.t === "byte" || t.t === "skip") w = min = 1;
        else if (t.t === "alt") {
          const ls = t.alts.map((a) => a.vals.length);
          w = ls.every((l) => l === ls[0]) ? ls[0] : -1;
          min = Math.min(...ls);
        } else if (t.t === "cls" && t.cls !== "L") (w = 1), (min = 0); // clamscan counts 0
        else (w = -1), (min = 0);
        if (u < entry) {
          if (w < 0) head = null;
          else head.trieEnd += w, head.minEnd += w;
        } else {
          if (u < entry + depth) head.trieEnd += 1;
          head.minEnd += min;
        }
      }
    }
    heads.push({ head, clam });
    if (prefilter && units.some((u) => u !== "x")) {
      let i = 0;
      while (units[i] === "s") i++;
      let n = 0;
      while (i + n < units.length && units[i + n] !== "s") n++;
      if (n < 2) {
        throw new SignatureError(
          "clamscan's prefilter needs two bytes before the first multi-byte alternative or class",
        );
      }
    }
  }
  return heads;
}

/** Per part: clamscan's past-the-end rule (see `Part.head`) and its search (see `ClamPart`). */
type PartInfo = { head: { trieEnd: number; minEnd: number } | null; clam: ClamPart | null };

/**
 * clamscan's ac_uicmp on two members: 0 when neither rules the other out on their common
 * length (`wild`: which side had wildcards there), non-zero otherwise (also when each side has
 * a wildcard the other lacks).
 */
function uicmp(a: Member, b: Member): { cmp: number; wild: number } {
  let side = 0;
  for (let i = 0; i < Math.min(a.vals.length, b.vals.length); i++) {
    const am = a.masks[i], bm = b.masks[i], av = a.vals[i], bv = b.vals[i];
    if (am === bm) {
      if ((av & am) !== (bv & am)) return { cmp: 1, wild: 0 };
    } else if (am === 0xff || bm === 0xff) {
      const m = am === 0xff ? bm : am;
      if (m !== 0 && (av & m) !== (bv & m)) return { cmp: 1, wild: 0 };
      side |= am === 0xff ? 2 : 1;
    } else if (am === 0 || bm === 0) side |= am === 0 ? 1 : 2;
    else side |= 3;
    if (side === 3) return { cmp: 1, wild: side };
  }
  return { cmp: 0, wild: side };
}

/**
 * A generic alternative's members as clamscan lists them (ac_addspecial_add_alt_node): in the
 * signature's order, a duplicate of an earlier member dropped, and a member unique unless it is
 * a prefix of another or another of it (one of different length that ac_uicmp does not tell
 * apart).
 */
function genMembers(ordered: Member[]): (Member & { unique: boolean })[] {
  const out: (Member & { unique: boolean })[] = [];
  next: for (const m of ordered) {
    const n = { ...m, unique: true };
    for (const ins of out) {
      const { cmp, wild } = uicmp(ins, n);
      if (cmp !== 0) continue;
      if (n.vals.length !== ins.vals.length) n.unique = ins.unique = false;
      else if (wild === 0) continue next;
    }
    out.push(n);
  }
  return out;
}

/**
 * The part as clamscan holds it ({@linkcode ClamPart}), when its variants can differ in where
 * they start or end (an alternative of members of different lengths, or `(L)` inside it) and
 * clamscan's choice among them matters; null otherwise.
 */
function clamPart(
  ptoks: Tok[],
  lead: number,
  trail: number,
  left: number,
  right: number,
  entry: number,
  kinds: string[],
): ClamPart | null {
  const core0 = ptoks.slice(lead, ptoks.length - trail);
  const core = core0.slice(left, core0.length - right);
  const units: ClamUnit[] = [];
  const mins: number[] = [];
  let varies = false;
  for (const t of core) {
    if (t.t === "byte" && units.length === entry) t.entry = true;
    if (t.t === "cls" && units.length < entry) t.back = true;
    if (t.t === "byte") units.push({ k: "byte", val: t.val, mask: t.mask }), mins.push(1);
    else if (t.t === "skip") {
      for (let k = 0; k < t.n; k++) units.push({ k: "byte", val: 0, mask: 0 }), mins.push(1);
    } else if (t.t === "alt" && t.fixed) {
      units.push({ k: "alt", negate: t.negate, members: t.alts });
      mins.push(t.alts[0].vals.length);
    } else if (t.t === "alt") {
      const members = genMembers(t.ordered ?? t.alts);
      const ls = members.map((m) => m.vals.length);
      if (ls.some((l) => l !== ls[0])) varies = true;
      units.push({ k: "gen", members });
      mins.push(Math.min(...ls));
    } else if (t.t === "cls") {
      if (t.cls === "L") varies = true;
      units.push({ k: "cls", cls: t.cls, negate: t.negate });
      mins.push(0);
    } else throw new SignatureError("unexpected element in a part");
  }
  if (!varies) return null;
  let depth = 0;
  while (depth < 3 && kinds[entry + depth] === "x") depth++;
  const side = (b: Tok, r: Tok) =>
    b.t === "byte" && r.t === "range" ? { val: b.val, mask: b.mask, min: r.min, max: r.max } : null;
  const n = ptoks.length;
  const edge = (t: Tok, shift: number) => t.t === "cls" ? edgeCode(t.cls, t.negate) << shift : 0;
  return {
    units,
    ppos: entry,
    depth,
    len1: mins.slice(entry).reduce((a, b) => a + b, 0),
    plen1: mins.slice(0, entry).reduce((a, b) => a + b, 0),
    edges: (left ? edge(core0[0], 0) : 0) | (right ? edge(core0[core0.length - 1], 4) : 0),
    lch: lead ? side(ptoks[0], ptoks[1]) : null,
    rch: trail ? side(ptoks[n - 1], ptoks[n - 2]) : null,
  };
}

/**
 * Where clamscan's Aho-Corasick pattern of a part starts (matcher-ac.c, cli_ac_addsig with a
 * trie depth of 2 to 3): 0 unless the first three units hold a wildcard or are all zero bytes,
 * else the last longest run (up to 3) of exact units, preferring one not starting with two
 * zeros. `exact[i]`: unit i is an exact byte; `zero[i]`: it is the byte 0.
 */
function entryPoint(exact: boolean[], zero: boolean[]): { ppos: number; depth: number } {
  const n = exact.length, depth = Math.min(3, n);
  let wild = false, allZero = true;
  for (let i = 0; i < depth; i++) {
    if (!exact[i]) {
      wild = true;
      break;
    }
    if (!zero[i]) allZero = false;
  }
  if (!wild && !allZero) return { ppos: 0, depth };
  const nonZeroAt = (i: number) => !zero[i] || (n > i + 1 && !zero[i + 1]);
  let plen = 0, ppos = 0, nzplen = 0, nzpos = 0;
  for (let i = 0; i < n - 1; i++) {
    for (let j = i; j < i + 3 && j < n; j++) {
      if (!exact[j]) break;
      if (j - i + 1 >= plen) {
        plen = j - i + 1;
        ppos = i;
      }
      if (nonZeroAt(ppos)) {
        if (plen >= 3) break;
        if (plen >= 2 && plen > nzplen) {
          nzplen = plen;
          nzpos = ppos;
        }
      }
    }
    if (plen >= 3 && nonZeroAt(ppos)) break;
  }
  if (nzplen && n > ppos + 1 && zero[ppos] && zero[ppos + 1]) {
    ppos = nzpos;
    plen = nzplen;
  }
  return { ppos, depth: plen };
}

/** A class at a part's edge: a zero-width check of the byte before (left) or after (right). */
type EdgeTok = { t: "edge"; right: boolean; cls: CharClass; negate: boolean };
type VTok = Tok | EdgeTok;

/** The edge code the native matcher reads: class (1 B, 2 L, 3 W), +4 negated. */
export function edgeCode(cls: CharClass, negate: boolean): number {
  return (cls === "B" ? 1 : cls === "L" ? 2 : 3) | (negate ? 4 : 0);
}

/** Replaces the class tokens at parts' edges (see {@linkcode edgeSplit}) by edge tokens. */
function markEdges(toks: Tok[]): VTok[] {
  const out: VTok[] = [];
  let start = 0;
  const flush = (end: number) => {
    const ptoks = toks.slice(start, end);
    const { lead, trail } = sideSplit(ptoks);
    const core = ptoks.slice(lead, ptoks.length - trail);
    const { left, right } = edgeSplit(core);
    ptoks.forEach((t, k) => {
      const inCore = k - lead;
      if (t.t === "cls" && left && inCore === 0) out.push({ ...t, t: "edge", right: false });
      else if (t.t === "cls" && right && inCore === core.length - 1) {
        out.push({ ...t, t: "edge", right: true });
      } else out.push(t);
    });
  };
  toks.forEach((t, i) => {
    if (t.t === "gap") {
      flush(i);
      out.push(t);
      start = i + 1;
    }
  });
  flush(toks.length);
  return out;
}

/** The bytes a class in a part's middle stands for (one byte each; see CLASS_SETS). */
function classSet(cls: "B" | "W", negate: boolean): Member[] {
  const out: Member[] = [];
  for (let b = 0; b < 256; b++) {
    const take = cls === "B"
      ? (negate ? !CLASS_SETS.OLD_B.has(b) : CLASS_SETS.MID_B.has(b))
      : isAlnum(b) === negate;
    if (take) out.push({ vals: [b], masks: [0xff] });
  }
  return out;
}

/** Numbers the members of expanded alternatives (their bytes form one uncuttable atom). */
let memberIds = 0;

/** Expands tokens whose width varies into one token list per choice. */
function expand(toks: VTok[]): VTok[][] {
  let out: VTok[][] = [[]];
  for (const tok of toks) {
    let choices: VTok[][];
    if (tok.t === "range") {
      choices = [];
      for (let n = tok.min; n <= tok.max; n++) choices.push([{ t: "skip", n, fromRange: true }]);
    } else if (tok.t === "alt" && tok.alts.some((a) => a.vals.length !== tok.alts[0].vals.length)) {
      choices = tok.alts.map((a) => {
        const grp = ++memberIds;
        return a.vals.map((v, k) => ({ t: "byte" as const, val: v, mask: a.masks[k], grp }));
      });
    } else if (tok.t === "cls" && tok.cls === "L") {
      // `!(L)`: one byte (clamscan's search, ClamPart, tells which); `(L)`: "\n" or "\r\n", and
      // before the entry, where clamscan checks it backwards, also any byte then a "\r"
      choices = tok.negate ? [[{ t: "byte", val: 0, mask: 0 }]] : [
        [{ t: "byte", val: 0x0a, mask: 0xff }],
        [{ t: "byte", val: 0x0d, mask: 0xff }, { t: "byte", val: 0x0a, mask: 0xff }],
      ];
      if (!tok.negate && tok.back) {
        choices.push([{ t: "byte", val: 0, mask: 0 }, { t: "byte", val: 0x0d, mask: 0xff }]);
      }
    } else if (tok.t === "cls") {
      choices = [[{ t: "alt", negate: false, alts: classSet(tok.cls as "B" | "W", tok.negate) }]];
    } else {
      choices = [[tok]];
    }
    if (out.length * choices.length > MAX_VARIANTS) {
      throw new UnsupportedSignature(`more than ${MAX_VARIANTS} variants after expansion`);
    }
    const next: VTok[][] = [];
    for (const prefix of out) for (const c of choices) next.push([...prefix, ...c]);
    out = next;
  }
  return out;
}

/** The bytes an atom spans. */
export function atomWidth(a: Atom): number {
  return a.kind === "bytes" ? a.vals.length : a.width;
}

/** The rarity of a byte in code and memory, for choosing the prefilter key. */
function commonness(b: number): number {
  return b === 0x00 || b === 0xff ? 4 : b === 0xcc || b === 0x90 || b === 0x20 ? 2 : 0;
}

function finishPart(
  atoms: Atom[],
  gapMin: number,
  gapMax: number,
  lead: number,
  trail: number,
  edges: number,
): Part {
  // Merge neighbouring byte atoms so exact runs are contiguous.
  const merged: Atom[] = [];
  for (const a of atoms) {
    const last = merged[merged.length - 1];
    if (a.kind === "bytes" && last?.kind === "bytes" && !a.grp && !last.grp) {
      last.vals.push(...a.vals);
      last.masks.push(...a.masks);
    } else merged.push(a.kind === "bytes" ? { ...a, vals: [...a.vals], masks: [...a.masks] } : a);
  }
  let width = 0, anchorOff = -1, anchorLen = 0;
  const coreEnd = merged.reduce((w, a) => w + atomWidth(a), 0) - trail;
  for (const a of merged) {
    if (a.kind === "bytes") {
      let run = 0;
      for (let k = 0; k < a.masks.length; k++) {
        // The anchor (and so the key) lies in the core: keys then come in part order.
        const inCore = width + k >= lead && width + k < coreEnd;
        run = a.masks[k] === 0xff && inCore ? run + 1 : 0;
        if (run > anchorLen) {
          anchorLen = run;
          anchorOff = width + k - run + 1;
        }
      }
      width += a.vals.length;
    } else width += atomWidth(a);
  }
  if (anchorLen < 2) {
    throw new SignatureError("a part needs at least two consecutive fixed bytes");
  }
  let keyOff = anchorOff, keyLen = 2;
  if (anchorLen >= 4) {
    keyLen = 4;
    const bytes = exactBytes(merged, anchorOff, anchorLen);
    let best = Infinity;
    for (let k = 0; k + 4 <= anchorLen; k++) {
      let score = 0;
      for (let j = 0; j < 4; j++) score += commonness(bytes[k + j]);
      if (bytes[k] === bytes[k + 1] && bytes[k + 1] === bytes[k + 2]) score += 3;
      if (score < best) {
        best = score;
        keyOff = anchorOff + k;
      }
    }
  }
  return {
    atoms: merged,
    width,
    gapMin,
    gapMax,
    anchorOff,
    anchorLen,
    keyOff,
    keyLen,
    lead,
    trail,
    edges,
    head: 0,
    minEnd: 0,
    trigOff: 0,
  };
}

/** The exact bytes of a part from `off` for `len` bytes (they lie in byte atoms). */
export function exactBytes(atoms: Atom[], off: number, len: number): number[] {
  const out: number[] = [];
  let pos = 0;
  for (const a of atoms) {
    const w = atomWidth(a);
    if (a.kind === "bytes") {
      for (let k = 0; k < w; k++) {
        if (pos + k >= off && pos + k < off + len) out.push(a.vals[k]);
      }
    }
    pos += w;
  }
  return out;
}

/** `aa[x-y]` at a part's start and `[x-y]bb` at its end: the side bytes outside its core. */
function sideBytes(ptoks: VTok[]): { lead: number; trail: number } {
  const isRange = (t: VTok | undefined) => t?.t === "skip" && t.fromRange === true;
  const body = ptoks.filter((t) => t.t !== "edge");
  const n = body.length;
  const lead = body[0]?.t === "byte" && isRange(body[1]) ? 1 + (body[1] as { n: number }).n : 0;
  // `aa[x-y]bb` alone: the leading form wins (one range is one side byte).
  const trail = n >= 3 && body[n - 1].t === "byte" && isRange(body[n - 2]) && !(lead && n === 3)
    ? 1 + (body[n - 2] as { n: number }).n
    : 0;
  return { lead, trail };
}

function buildVariant(toks: VTok[], heads: PartInfo[]): Variant {
  const parts: Part[] = [];
  let atoms: Atom[] = [];
  let ptoks: VTok[] = [];
  let gapMin = 0, gapMax = 0, edges = 0, width = 0, trigOff = 0;
  const closePart = (where: string) => {
    if (atoms.length === 0) throw new SignatureError(`empty part ${where}`);
    const { lead, trail } = sideBytes(ptoks);
    const part = finishPart(atoms, gapMin, gapMax, lead, trail, edges);
    const { head: h, clam } = heads[parts.length];
    if (clam) {
      part.clam = clam;
      part.trigOff = trigOff;
    }
    // a match may run past the buffer's end only after the entry point, and not into `[x-y]bb`
    if (h && h.trieEnd >= 2 && trail === 0 && lead + h.minEnd < part.width) {
      part.head = lead + h.trieEnd;
      part.minEnd = lead + h.minEnd;
    }
    parts.push(part);
    atoms = [];
    ptoks = [];
    edges = width = trigOff = 0;
  };
  for (const tok of toks) {
    if (tok.t !== "gap") ptoks.push(tok);
    if (tok.t === "byte" && tok.entry) trigOff = width;
    width += tok.t === "byte"
      ? 1
      : tok.t === "skip"
      ? tok.n
      : tok.t === "alt"
      ? tok.alts[0].vals.length
      : 0;
    if (tok.t === "byte" && tok.grp !== undefined) {
      // a member of an alternative of several lengths: clamscan never cuts one at the end
      const last = atoms[atoms.length - 1];
      if (last?.kind === "bytes" && last.grp === tok.grp) {
        last.vals.push(tok.val);
        last.masks.push(tok.mask);
      } else atoms.push({ kind: "bytes", vals: [tok.val], masks: [tok.mask], grp: tok.grp });
    } else if (tok.t === "byte") atoms.push({ kind: "bytes", vals: [tok.val], masks: [tok.mask] });
    else if (tok.t === "skip") {
      if (tok.n > 0) {
        atoms.push({
          kind: "bytes",
          vals: new Array(tok.n).fill(0),
          masks: new Array(tok.n).fill(0),
        });
      }
    } else if (tok.t === "alt") {
      atoms.push({
        kind: "alt",
        negate: tok.negate,
        width: tok.alts[0].vals.length,
        alts: tok.alts,
      });
    } else if (tok.t === "edge") edges |= edgeCode(tok.cls, tok.negate) << (tok.right ? 4 : 0);
    else if (tok.t === "gap") {
      closePart(parts.length === 0 ? "before the first gap" : "between two gaps");
      gapMin = tok.min;
      gapMax = tok.max;
    }
  }
  closePart("after the last gap");
  return { parts, startShift: parts[0].lead };
}

/**
 * Parses a ClamAV hex signature into its variants.
 * Throws {@linkcode SignatureError} if malformed, {@linkcode UnsupportedSignature} if it uses
 * a feature virtav cannot apply.
 *
 * @example
 * ```ts
 * import { parseHexSignature } from "./hex_signature.ts";
 * const v = parseHexSignature("4d5a??90{2-8}0102*(aa|bb)0304");
 * console.log(v.length, v[0].parts.length); // 1 3
 * ```
 */
export function parseHexSignature(sig: string, o: { prefilter?: boolean } = {}): Variant[] {
  if (sig.length === 0) throw new SignatureError("empty signature");
  const { toks, heads } = tokenize(sig, o.prefilter ?? true);
  // A gap whose maximum is below its minimum (`{10-5}`): clamscan loads it; nothing matches.
  if (toks.some((t) => t.t === "gap" && t.max >= 0 && t.max < t.min)) return [];
  return expand(markEdges(toks)).map((v) => buildVariant(v, heads));
}
