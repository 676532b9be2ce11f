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

/** Skips of up to this many bytes stay inside a part; longer `{n}` become gaps. */
const MAX_INLINE_SKIP = 4096;
/** Expansion limit for `[x-y]` and alternatives of different lengths. */
const MAX_VARIANTS = 4096;

type Tok =
  | { t: "byte"; val: number; mask: number }
  | { t: "gap"; min: number; max: number }
  | { t: "skip"; n: number; fromRange?: boolean }
  | { t: "alt"; negate: boolean; alts: { vals: number[]; masks: number[] }[] }
  | { t: "range"; min: number; max: number };

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

function parseUint(s: string, what: string): number {
  if (!/^[0-9]+$/.test(s)) throw new SignatureError(`${what}: not a number: "${s}"`);
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw new SignatureError(`${what}: too large: ${s}`);
  return n;
}

function tokenize(sig: string): Tok[] {
  const toks: Tok[] = [];
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
      const dash = body.indexOf("-");
      // ClamAV reads a gap whose maximum is 0 ({0}, {0-0}, {-0}) as no limit at all, i.e.
      // `*` (checked against clamscan 1.4: `5858{0-0}5a5a` matches 5858 ... 5a5a far apart).
      if (/^-?0+(-0+)?$/.test(body)) toks.push({ t: "gap", min: 0, max: -1 });
      else if (dash < 0) toks.push({ t: "skip", n: parseUint(body, what) });
      else if (dash === 0) toks.push({ t: "gap", min: 0, max: parseUint(body.slice(1), what) });
      else if (dash === body.length - 1) {
        toks.push({ t: "gap", min: parseUint(body.slice(0, -1), what), max: -1 });
      } else {
        const min = parseUint(body.slice(0, dash), what);
        const max = parseUint(body.slice(dash + 1), what);
        if (min > max) throw new SignatureError(`${what}: minimum above maximum`);
        toks.push({ t: "gap", min, max });
      }
      i = end + 1;
    } else if (c === "[") {
      const end = sig.indexOf("]", i);
      if (end < 0) throw new SignatureError(`unclosed "[" at ${i}`);
      const body = sig.slice(i + 1, end);
      const what = `[${body}] at ${i}`;
      const m = /^([0-9]+)-([0-9]+)$/.exec(body);
      if (!m) throw new SignatureError(`${what}: expected [x-y]`);
      const min = parseUint(m[1], what), max = parseUint(m[2], what);
      if (min > max) throw new SignatureError(`${what}: minimum above maximum`);
      if (max > 32) throw new SignatureError(`${what}: ClamAV allows at most 32`);
      toks.push({ t: "range", min, max });
      i = end + 1;
    } else if (c === "(" || (c === "!" && sig[i + 1] === "(")) {
      const negate = c === "!";
      const open = negate ? i + 1 : i;
      const end = sig.indexOf(")", open);
      if (end < 0) throw new SignatureError(`unclosed "(" at ${open}`);
      const body = sig.slice(open + 1, end);
      if (body === "B" || body === "L" || body === "W") {
        throw new UnsupportedSignature(`(${body}) boundary anchors`);
      }
      const alts = body.split("|").map((a) => {
        if (a.length === 0 || a.length % 2 !== 0) {
          throw new SignatureError(`alternative "${a}" at ${open}: not whole hex bytes`);
        }
        const vals: number[] = [], masks: number[] = [];
        for (let k = 0; k < a.length; k += 2) {
          const p = parseHexPair(a[k], a[k + 1]);
          if (!p) throw new SignatureError(`alternative "${a}" at ${open}: not hex`);
          vals.push(p.val);
          masks.push(p.mask);
        }
        return { vals, masks };
      });
      if (alts.length < 2 && !negate) {
        throw new SignatureError(`alternatives at ${open}: need at least two`);
      }
      if (negate && alts.some((a) => a.vals.length !== alts[0].vals.length)) {
        throw new SignatureError(`!(...) at ${i}: negated alternatives must have one length`);
      }
      toks.push({ t: "alt", negate, alts });
      i = end + 1;
    } else {
      if (i + 1 >= sig.length) throw new SignatureError(`odd number of hex digits at ${i}`);
      const p = parseHexPair(c, sig[i + 1]);
      if (!p) throw new SignatureError(`not a hex byte: "${c}${sig[i + 1]}" at ${i}`);
      toks.push({ t: "byte", ...p });
      i += 2;
    }
  }
  checkRanges(toks);
  return toks;
}

/** ClamAV's rule for `[x-y]`: exactly one byte on one side (up to a gap or either end). */
function checkRanges(toks: Tok[]): void {
  const isGap = (t: Tok | undefined) => !t || t.t === "gap" || t.t === "range";
  toks.forEach((t, i) => {
    if (t.t !== "range") return;
    const leftOne = toks[i - 1]?.t === "byte" && isGap(toks[i - 2]);
    const rightOne = toks[i + 1]?.t === "byte" && isGap(toks[i + 2]);
    if (!leftOne && !rightOne) {
      throw new SignatureError(
        `[${t.min}-${t.max}]: needs a single byte on one side (aa[x-y]HEXSIG)`,
      );
    }
  });
}

/** Expands tokens whose width varies into one token list per choice. */
function expand(toks: Tok[]): Tok[][] {
  let out: Tok[][] = [[]];
  for (const tok of toks) {
    let choices: Tok[][];
    if (tok.t === "range") {
      choices = [];
      for (let n = tok.min; n <= tok.max; n++) choices.push([{ t: "skip", n, fromRange: true }]);
    } else if (tok.t === "alt" && tok.alts.some((a) => a.vals.length !== tok.alts[0].vals.length)) {
      choices = tok.alts.map((a) =>
        a.vals.map((v, k) => ({ t: "byte", val: v, mask: a.masks[k] }))
      );
    } else {
      choices = [[tok]];
    }
    if (out.length * choices.length > MAX_VARIANTS) {
      throw new UnsupportedSignature(`more than ${MAX_VARIANTS} variants after expansion`);
    }
    const next: Tok[][] = [];
    for (const prefix of out) for (const c of choices) next.push([...prefix, ...c]);
    out = next;
  }
  return out;
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
): Part {
  // Merge neighbouring byte atoms so exact runs are contiguous.
  const merged: Atom[] = [];
  for (const a of atoms) {
    const last = merged[merged.length - 1];
    if (a.kind === "bytes" && last?.kind === "bytes") {
      last.vals.push(...a.vals);
      last.masks.push(...a.masks);
    } else merged.push(a.kind === "bytes" ? { ...a, vals: [...a.vals], masks: [...a.masks] } : a);
  }
  let width = 0, anchorOff = -1, anchorLen = 0;
  const coreEnd = merged.reduce((w, a) => w + (a.kind === "bytes" ? a.vals.length : a.width), 0) -
    trail;
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
    } else width += a.width;
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
  };
}

/** The exact bytes of a part from `off` for `len` bytes (they lie in byte atoms). */
export function exactBytes(atoms: Atom[], off: number, len: number): number[] {
  const out: number[] = [];
  let pos = 0;
  for (const a of atoms) {
    const w = a.kind === "bytes" ? a.vals.length : a.width;
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
function sideBytes(ptoks: Tok[]): { lead: number; trail: number } {
  const isRange = (t: Tok | undefined) => t?.t === "skip" && t.fromRange === true;
  const n = ptoks.length;
  const lead = ptoks[0]?.t === "byte" && isRange(ptoks[1]) ? 1 + (ptoks[1] as { n: number }).n : 0;
  // `aa[x-y]bb` alone: the leading form wins (one range is one side byte).
  const trail = n >= 3 && ptoks[n - 1].t === "byte" && isRange(ptoks[n - 2]) && !(lead && n === 3)
    ? 1 + (ptoks[n - 2] as { n: number }).n
    : 0;
  return { lead, trail };
}

function buildVariant(toks: Tok[]): Variant {
  const parts: Part[] = [];
  let atoms: Atom[] = [];
  let ptoks: Tok[] = [];
  let gapMin = 0, gapMax = 0;
  const closePart = (where: string) => {
    if (atoms.length === 0) throw new SignatureError(`empty part ${where}`);
    const { lead, trail } = sideBytes(ptoks);
    parts.push(finishPart(atoms, gapMin, gapMax, lead, trail));
    atoms = [];
    ptoks = [];
  };
  for (const tok of toks) {
    if (tok.t !== "gap" && !(tok.t === "skip" && tok.n > MAX_INLINE_SKIP)) ptoks.push(tok);
    if (tok.t === "byte") atoms.push({ kind: "bytes", vals: [tok.val], masks: [tok.mask] });
    else if (tok.t === "skip" && tok.n <= MAX_INLINE_SKIP) {
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
    } else if (tok.t === "gap" || tok.t === "skip") {
      const [min, max] = tok.t === "gap" ? [tok.min, tok.max] : [tok.n, tok.n];
      closePart(parts.length === 0 ? "before the first gap" : "between two gaps");
      gapMin = min;
      gapMax = max;
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
export function parseHexSignature(sig: string): Variant[] {
  if (sig.length === 0) throw new SignatureError("empty signature");
  const toks = tokenize(sig);
  return expand(toks).map(buildVariant);
}
