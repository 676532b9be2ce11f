/**
 * A seeded generator over clamscan 1.4.6's whole body-signature grammar, for the differential
 * test against clamscan: every wildcard (`??`, nibbles, `{n}`, `{-n}`, `{n-}`, `{n-m}`, `{0}`,
 * reversed gaps, `*`), alternatives (one-byte, multi-byte, different lengths, nested, with `??`,
 * nibbles and `{n}` inside, one member, an empty last member, negated), `aa[x-y]`/`[x-y]bb`/
 * `aa[n]`, `(B)`/`(L)`/`(W)` at part edges and inside parts, negated too, offsets `*`, `n`, `n,m`,
 * `EOF-n`, `EOF-n,m`; hash lines (`.hdb`/`.hsb`, size or `*`); and files with planted matches
 * and near misses (one byte off, one byte short at the end of the file, across clamscan's
 * 128 KiB scan windows), some of 5 bytes or less.
 *
 * Only signatures clamscan loads are generated (each part starts with two fixed bytes, no
 * class at a part's start other than a left edge), and each part's fixed bytes are random, so
 * no two signatures share a pattern (clamscan merges equal patterns and applies one's edge
 * checks to all: docs/virtav.md).
 *
 * @module
 */
import { createHash } from "node:crypto";
import { drawOffset, type Draws, draws, prng, type SigOffset } from "./generate.ts";
import { CLASS_SETS, isAlnum } from "./hex_signature.ts";
import { checkLogic } from "./ldb.ts";

type Rand = () => number;

/** One element of a signature, able to print itself and to make bytes that satisfy it. */
type El =
  | { k: "fixed"; bytes: number[] }
  | { k: "any" }
  | { k: "hi"; v: number }
  | { k: "lo"; v: number }
  | { k: "skip"; n: number }
  | { k: "alt"; members: El[][]; negate: boolean; emptyLast: boolean }
  | { k: "gap"; text: string; min: number; max: number }
  | { k: "range"; min: number; max: number; single: boolean }
  | { k: "cls"; c: "B" | "W" | "L"; negate: boolean; edge: boolean };

const h2 = (b: number) => b.toString(16).padStart(2, "0");

function text(e: El): string {
  switch (e.k) {
    case "fixed":
      return e.bytes.map(h2).join("");
    case "any":
      return "??";
    case "hi":
      return h2(e.v)[0] + "?";
    case "lo":
      return "?" + h2(e.v)[1];
    case "skip":
      return `{${e.n}}`;
    case "alt":
      return (e.negate ? "!(" : "(") + e.members.map((m) => m.map(text).join("")).join("|") +
        (e.emptyLast ? "|" : "") + ")";
    case "gap":
      return e.text;
    case "range":
      return e.single ? `[${e.min}]` : `[${e.min}-${e.max}]`;
    case "cls":
      return (e.negate ? "!(" : "(") + e.c + ")";
  }
}

/** Bytes of a filler: half uniform, half from separators and letters (so classes meet both). */
function filler(rand: Rand): number {
  const seps = [0x20, 0x0a, 0x0d, 0x09, 0x2e, 0x2d, 0x5f, 0x2f, 0x3d, 0x22, 0x27, 0x40, 0x3c];
  const r = rand();
  if (r < 0.5) return Math.floor(rand() * 256);
  if (r < 0.8) return seps[Math.floor(rand() * seps.length)];
  return 0x61 + Math.floor(rand() * 26);
}

function pick(set: Set<number>, want: boolean, rand: Rand): number {
  for (;;) {
    const b = Math.floor(rand() * 256);
    if (set.has(b) === want) return b;
  }
}

/** Bytes that satisfy `e` (a random choice among the ways it can match). */
function make(e: El, rand: Rand, out: number[]): void {
  const rb = () => Math.floor(rand() * 256);
  switch (e.k) {
    case "fixed":
      out.push(...e.bytes);
      return;
    case "any":
      out.push(filler(rand));
      return;
    case "hi":
      out.push((e.v & 0xf0) | (rb() & 0x0f));
      return;
    case "lo":
      out.push((rb() & 0xf0) | (e.v & 0x0f));
      return;
    case "skip":
      for (let i = 0; i < e.n; i++) out.push(filler(rand));
      return;
    case "alt": {
      if (!e.negate) {
        for (const x of e.members[Math.floor(rand() * e.members.length)]) make(x, rand, out);
        return;
      }
      const w = (e.members[0][0] as { bytes: number[] }).bytes.length;
      for (;;) {
        const cand = Array.from({ length: w }, rb);
        if (
          !e.members.some((m) => (m[0] as { bytes: number[] }).bytes.every((b, i) => b === cand[i]))
        ) {
          out.push(...cand);
          return;
        }
      }
    }
    case "gap": {
      const max = e.max < 0 ? e.min + 24 : Math.max(e.max, e.min);
      const n = e.min + Math.floor(rand() * (max - e.min + 1));
      for (let i = 0; i < n; i++) out.push(filler(rand));
      return;
    }
    case "range": {
      const n = e.min + Math.floor(rand() * (e.max - e.min + 1));
      for (let i = 0; i < n; i++) out.push(filler(rand));
      return;
    }
    case "cls":
      if (e.edge) return; // zero width: the bytes around decide
      if (e.c === "L" && e.negate) {
        for (;;) {
          const b = rb();
          if (b !== 0x0a && b !== 0x0d) {
            out.push(b);
            return;
          }
        }
      } else if (e.c === "L") out.push(...(rand() < 0.5 ? [0x0a] : [0x0d, 0x0a]));
      else if (e.c === "B") {
        out.push(
          e.negate ? pick(CLASS_SETS.OLD_B, false, rand) : pick(CLASS_SETS.MID_B, true, rand),
        );
      } else {
        for (;;) {
          const b = rb();
          if (isAlnum(b) === e.negate) {
            out.push(b);
            return;
          }
        }
      }
  }
}

/** A generated signature: its `.ndb` line and makers of matching and near-miss bytes. */
export interface GrammarSig {
  name: string;
  line: string;
  offset: SigOffset;
  /** Bytes of one match; `core` is where the first part's core starts in them. */
  instance(rand: Rand): { bytes: Uint8Array; core: number };
  /** A match with one fixed byte changed (usually no longer a match). */
  nearMiss(rand: Rand): { bytes: Uint8Array; core: number };
}

/**
 * Generates `n` signatures drawn from the whole grammar (deterministic per seed).
 *
 * @example
 * ```ts
 * import { generateGrammarSignatures } from "./grammar_gen.ts";
 * for (const s of generateGrammarSignatures(5, 1)) console.log(s.line);
 * ```
 */
export function generateGrammarSignatures(n: number, seed: number): GrammarSig[] {
  const d = draws(prng(seed));
  const sigs: GrammarSig[] = [];
  for (let i = 0; i < n; i++) {
    const els = drawElements(d);
    const hex = els.map(text).join("");
    const name = `Gram.S${i}`;
    const { offset, text: offText } = drawOffset(d, {
      abs: [0, 3000, 200],
      eof: [300, 1000, 100],
    });
    sigs.push({
      name,
      line: `${name}:0:${offText}:${hex}`,
      offset,
      instance: (rnd) => buildMatch(els, rnd, false),
      nearMiss: (rnd) => buildMatch(els, rnd, true),
    });
  }
  return sigs;
}

/** A piece of `lo` to `hi` random fixed bytes. */
function fixed(d: Draws, lo: number, hi: number): El {
  return { k: "fixed", bytes: d.bytes(lo, hi) };
}

/** One signature's elements: one to three parts, gaps between them. */
function drawElements(d: Draws): El[] {
  // `{n}` separates parts only once a ranged `{...}` came before (else it is n `??`)
  const state = { inlineBraces: true };
  const els: El[] = [];
  const nparts = d.chance(0.55) ? 1 : d.ri(2, 3);
  for (let p = 0; p < nparts; p++) {
    if (p > 0) {
      const gap = drawGap(d, state.inlineBraces);
      // any `{...}` between parts ends clamscan's rewriting of `{n}` as `??` (readdb.c)
      if (gap.text !== "*") state.inlineBraces = false;
      els.push(gap);
    }
    drawPart(d, state.inlineBraces, els);
  }
  // clamscan's Boyer-Moore matcher takes all-fixed signatures and refuses those under 3 bytes
  if (els.length === 1) (els[0] as { bytes: number[] }).bytes.push(d.rb());
  return els;
}

/** A gap between two parts: `*`, `{-n}`, `{n-}`, `{n-m}`, `{0}`, reversed, long or `{n}`. */
function drawGap(d: Draws, inlineBraces: boolean): El & { k: "gap" } {
  const g = d.ri(0, 9);
  if (g === 0) return { k: "gap", text: "*", min: 0, max: -1 };
  if (g === 1) {
    const m = d.ri(1, 30);
    return { k: "gap", text: `{-${m}}`, min: 0, max: m };
  }
  if (g === 2) {
    const m = d.ri(1, 20);
    return { k: "gap", text: `{${m}-}`, min: m, max: -1 };
  }
  if (g === 3 || g === 4) {
    const a = d.ri(0, 12), b = a + d.ri(0, 20);
    return { k: "gap", text: `{${a}-${b}}`, min: a, max: b === 0 ? -1 : b };
  }
  if (g === 5) return { k: "gap", text: ["{0}", "{0-0}", "{-0}"][d.ri(0, 2)], min: 0, max: -1 };
  if (g === 6) {
    const a = d.ri(6, 20), b = d.ri(1, a - 1);
    return { k: "gap", text: `{${a}-${b}}`, min: a, max: b }; // reversed: never matches
  }
  if (g === 7) {
    const m = d.ri(128, 160);
    return { k: "gap", text: `{${m}}`, min: m, max: m };
  }
  const m = d.ri(1, 12);
  return { k: "gap", text: inlineBraces ? `{${m}-${m}}` : `{${m}}`, min: m, max: m };
}

/**
 * One part: an optional side byte and range before, an optional edge class, its fixed core,
 * up to three middle elements, an optional edge class and an optional range and side byte after.
 */
function drawPart(d: Draws, inlineBraces: boolean, els: El[]): void {
  const lead = d.chance(0.12);
  if (lead) {
    const a = d.ri(0, 6), single = d.chance(0.3);
    els.push({ k: "fixed", bytes: [d.rb()] }, {
      k: "range",
      min: a,
      max: single ? a : a + d.ri(0, 6),
      single,
    });
  }
  if (d.chance(0.15)) {
    els.push({ k: "cls", c: (["B", "W", "L"] as const)[d.ri(0, 2)], negate: false, edge: true });
  }
  const mids = d.ri(0, 3);
  // a class within a part's first three bytes is judged differently by clamscan (its
  // Aho-Corasick depth): keep them further in (docs/virtav.md)
  els.push(fixed(d, mids ? 3 : 2, 5));
  for (let m = 0; m < mids; m++) {
    els.push(drawMiddle(d, inlineBraces));
    if (d.chance(0.5)) els.push(fixed(d, 1, 3));
  }
  if (d.chance(0.15)) {
    const c = (["B", "W", "L"] as const)[d.ri(0, 2)];
    els.push({ k: "cls", c, negate: d.chance(0.4), edge: true });
  }
  if (!lead && d.chance(0.1)) {
    const a = d.ri(0, 6), single = d.chance(0.3);
    els.push({ k: "range", min: a, max: single ? a : a + d.ri(0, 6), single }, {
      k: "fixed",
      bytes: [d.rb()],
    });
  }
}

/** An element inside a part: a wildcard, a skip, an alternative (of every kind) or a class. */
function drawMiddle(d: Draws, inlineBraces: boolean): El {
  const kind = d.ri(0, 15);
  const alt = (members: El[][], negate = false, emptyLast = false): El => ({
    k: "alt",
    members,
    negate,
    emptyLast,
  });
  const ofBytes = (runs: number[][]) => runs.map((b): El[] => [{ k: "fixed", bytes: b }]);
  if (kind === 0) return { k: "any" };
  if (kind === 1) return { k: "hi", v: d.rb() };
  if (kind === 2) return { k: "lo", v: d.rb() };
  if (kind === 3 && inlineBraces) return { k: "skip", n: d.ri(1, 8) };
  if (kind === 4) {
    const ms = ofBytes(d.distinct(d.ri(2, 5), 1));
    return alt(ms, d.chance(0.3));
  }
  if (kind === 5) {
    const ms = ofBytes(d.distinct(d.ri(2, 4), d.ri(2, 3)));
    return alt(ms, d.chance(0.3));
  }
  if (kind === 6) {
    const ms: El[][] = [[fixed(d, 1, 1)], [fixed(d, 2, 2)], [fixed(d, 3, 3)]];
    return alt(ms, false, d.chance(0.4));
  }
  if (kind === 7) {
    // nested, with ?? and a nibble inside members
    const inner = alt(ofBytes(d.distinct(2, 1)));
    return alt([[fixed(d, 1, 1), { k: "any" }, inner, fixed(d, 1, 1)], [fixed(d, 1, 2)], [
      { k: "hi", v: d.rb() },
      fixed(d, 1, 1),
    ]]);
  }
  if (kind === 8 && inlineBraces) {
    return alt([[fixed(d, 1, 1), { k: "skip", n: d.ri(1, 3) }, fixed(d, 1, 1)], [fixed(d, 2, 2)]]);
  }
  if (kind === 9) return alt([[fixed(d, 1, 2)]]);
  if (kind === 10) {
    const c = (["B", "W", "L"] as const)[d.ri(0, 2)];
    return { k: "cls", c, negate: d.chance(0.4), edge: false };
  }
  return fixed(d, 1, 3);
}

/** Bytes that match the elements (with one fixed byte changed: `miss`); where the core starts. */
function buildMatch(els: El[], rnd: Rand, miss: boolean): { bytes: Uint8Array; core: number } {
  const out: number[] = [];
  let core = -1;
  const fixedAt: number[] = [];
  for (const [j, e] of els.entries()) {
    // the first part's core starts after its side byte and range
    if (core < 0 && e.k !== "range" && !(j === 0 && els[1]?.k === "range")) core = out.length;
    const before = out.length;
    make(e, rnd, out);
    if (e.k === "fixed" && e.bytes.length >= 2) {
      for (let b = before; b < out.length; b++) fixedAt.push(b);
    }
  }
  if (miss && fixedAt.length) out[fixedAt[Math.floor(rnd() * fixedAt.length)]] ^= 0x5a;
  return { bytes: new Uint8Array(out), core: Math.max(core, 0) };
}

/** A generated file. */
export interface GrammarFile {
  name: string;
  data: Uint8Array;
}

/** clamscan scans a file in windows of this many bytes (SCANBUFF). */
const WINDOW = 128 * 1024;

/**
 * Files for a differential run: a few of 0-8 bytes, many of a few KiB with planted matches and
 * near misses, one longer than two scan windows with matches across their edges, and one whose
 * last match is one byte short.
 */
export function generateGrammarFiles(sigs: GrammarSig[], seed: number, count = 24): GrammarFile[] {
  const rand = prng(seed);
  const ri = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const files: GrammarFile[] = [];
  const sizes = [
    0,
    3,
    5,
    6,
    8,
    ...Array.from({ length: count }, () => ri(512, 12 * 1024)),
    2 * WINDOW + 4096,
  ];
  for (const [f, size] of sizes.entries()) {
    const data = new Uint8Array(size);
    for (let i = 0; i < size; i++) data[i] = filler(rand);
    if (size >= 4) data.set([0x2e, 0x2e, 0x2e, 0x2e], 0); // no file-type magic at the start
    const plant = (inst: { bytes: Uint8Array; core: number }, at: number) => {
      if (at >= 4 && at + inst.bytes.length <= size) data.set(inst.bytes, at);
    };
    if (size > 64) {
      for (let k = 0; k < Math.max(1, size / 400); k++) {
        const s = sigs[Math.floor(rand() * sigs.length)];
        const inst = rand() < 0.75 ? s.instance(rand) : s.nearMiss(rand);
        const o = s.offset;
        if (o.kind === "any") plant(inst, ri(4, size - 1));
        else {
          const start = (o.kind === "abs" ? o.base : size - o.base) + ri(0, o.range);
          plant(inst, start - inst.core);
        }
      }
      // across a scan window's edge, and at the very end (whole, and one byte short)
      const s = sigs[Math.floor(rand() * sigs.length)];
      const inst = s.instance(rand);
      if (size > WINDOW) {
        for (const edge of [WINDOW, 2 * WINDOW]) {
          plant(s.instance(rand), edge - ri(1, Math.max(1, inst.bytes.length - 1)));
        }
      }
      if (rand() < 0.5) plant(inst, size - inst.bytes.length);
      else data.set(inst.bytes.subarray(0, inst.bytes.length - 1), size - inst.bytes.length + 1);
    } else if (size > 0) {
      const inst = sigs[Math.floor(rand() * sigs.length)].instance(rand).bytes;
      data.set(inst.subarray(0, size));
    }
    files.push({ name: `g${String(f).padStart(3, "0")}.bin`, data });
  }
  return files;
}

/**
 * Hash lines for some of the files (MD5/SHA1/SHA256, exact size or `*` with MinFL 73) and near
 * misses (a wrong size), as `.hdb` and `.hsb` texts.
 */
export function grammarHashLines(files: GrammarFile[], seed: number): { hdb: string; hsb: string } {
  const rand = prng(seed);
  const hdb: string[] = [], hsb: string[] = [];
  for (const [i, f] of files.entries()) {
    if (f.data.length === 0 || rand() < 0.6) continue;
    const algo = (["md5", "sha1", "sha256"] as const)[Math.floor(rand() * 3)];
    const digest = createHash(algo).update(f.data).digest("hex");
    const r = rand();
    const size = r < 0.5 ? `${f.data.length}` : r < 0.8 ? "*" : `${f.data.length + 1}`;
    const line = `${digest}:${size}:Gram.H${i}${size === "*" ? ":73" : ""}`;
    (algo === "md5" ? hdb : hsb).push(line);
  }
  return { hdb: hdb.join("\n") + "\n", hsb: hsb.join("\n") + "\n" };
}

/**
 * `.ldb` lines for the loading differential test: well-formed ones (TDBs with Target/Engine/
 * FileSize/EntryPoint/IconGroup, expressions with `& | ( )` and counts, subsignatures with
 * offsets and options, hex drawn from the grammar above) and the same with one piece broken
 * (a bad attribute, a mutated expression, a subsignature too many or too few, bad hex, offset
 * or option), and PCRE subsignatures well-formed or not. Byte-compare, macro and container-type
 * pieces, and `w`/`f` options on anything but fixed bytes, are left out: virtav does not check
 * those (docs/virtav.md).
 */
export function generateLdbLoadLines(n: number, seed: number): string[] {
  const rand = prng(seed);
  const { ri, pick: pickOf, chance } = draws(rand);
  const hexes = generateGrammarSignatures(n * 4, seed + 7).map((s) => s.line.split(":")[3]);
  const badHex = ["zz", "41", "4142(|c6)4344", "41(B)4243", "41[40]4243", "4142()4344", ""];
  const targets = ["Target:0", "Target:0", "Target:", "Target:7", "Target:1", "Target:3"];
  const badTargets = ["Target:x", "Target:20", "Target", "Tar:0", ""];
  const engines = ["Engine:51-255", "Engine:81-216", "Engine:216-216", "Engine:0-300"];
  const badEngines = ["Engine:300-400", "Engine:51-215", "Engine:51", "Engine:5a-255", "Engine:-"];
  const extras = ["FileSize:1-100", "EntryPoint:1-5", "NumberOfSections:1-3", "IconGroup1:x"];
  const badExtras = ["FileSize:100", "FileSize:a-b", "Foo:1", "FileSize"];
  const offsets = ["*", "4", "0", "EOF-15", "4,8", "EOF-20,10"];
  const badOffsets = ["x", "EP+0", "EOF-", "S1+0", "4,x", "-4"];
  const opts = ["i", "iw", "fa", "a", "w", "f", "wa"];
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const broken = chance(0.6) ? ri(0, 8) : -1;
    const k = ri(1, 4);
    const ids = Array.from({ length: k }, (_, j) => j);
    let logic = ldbExpression(k, rand);
    if (broken === 0) {
      const at = ri(0, logic.length);
      logic = chance(0.5)
        ? logic.slice(0, at) + pickOf(["(", ")", "&", "|", ">", "=", ",", " ", "a", "9"]) +
          logic.slice(at)
        : logic.slice(0, at) + logic.slice(at + 1);
    }
    const tdb: string[] = [];
    const engine = broken === 1 ? pickOf(badEngines) : chance(0.5) ? pickOf(engines) : "";
    if (engine) tdb.push(engine);
    tdb.push(broken === 2 ? pickOf(badTargets) : pickOf(targets));
    if (broken === 3) tdb.push(pickOf(badExtras));
    else if (engine && chance(0.2)) tdb.push(pickOf(extras));
    if (broken === 4 && chance(0.5)) tdb.reverse();
    const subs = ids.map(() => {
      let s = pickOf(hexes);
      if (chance(0.4)) s = `${pickOf(offsets)}:${s}`;
      // virtav does not check the hex of a `w`/`f` subsignature: those get fixed bytes only
      const o = pickOf(opts);
      if (chance(0.3) && (!/[wf]/.test(o) || /^([0-9]+:)?[0-9a-f]+$/.test(s))) s = `${s}::${o}`;
      return s;
    });
    const j = ri(0, k - 1);
    if (broken === 5) subs[j] = pickOf(badHex);
    if (broken === 6) subs[j] = `${pickOf(badOffsets)}:${pickOf(hexes)}`;
    if (broken === 7) {
      if (chance(0.5)) subs.push(pickOf(hexes));
      else if (k > 1) subs.pop();
      else subs[j] = `${pickOf(hexes)}::${pickOf(["q", "x", "I"])}`;
    }
    if (broken === 8) subs[j] = pcrePiece(j, ri, pickOf);
    out.push(`Ldb.L${i};${tdb.join(",")};${logic};${subs.join(";")}`);
  }
  return out;
}

/**
 * A PCRE subsignature for the loading differential, at place `j`: well-formed ones (every flag,
 * an offset before one) and the ones clamscan refuses (one `/`, no trigger, an empty pattern, a
 * trigger naming itself or a later subsignature or no expression, an unknown flag, a pattern that
 * does not compile).
 */
function pcrePiece(
  j: number,
  ri: (lo: number, hi: number) => number,
  pickOf: <T>(xs: T[]) => T,
): string {
  const t = j > 0 ? `${ri(0, j - 1)}` : "0";
  return pickOf([
    `${t}/ab[0-9]+c/`,
    `${t}/x(y|z)/gi`,
    `${t}/^q.r$/msE`,
    `${t}/a b/xU`,
    `${t}/k/Agre`,
    `10:${t}/kk/`,
    // offsets as cli_caloff reads them, `:` and `;` inside slashes, odd slashes, extra fields
    `${
      pickOf([
        "EOF-5",
        "4,8",
        "EOF-20,3",
        "",
        "EOF-",
        "5,",
        "*",
        "x",
        "1,x",
        "VI",
        "EP+0",
        "S1+2",
        "$3$",
        "4294967295",
      ])
    }:${t}/kk/${pickOf(["", "r", "e", "g"])}`,
    `${t}/a;b/`,
    `${t}/a:b/i`,
    `7:${t}/a:b/`,
    `${t}/a/b/`,
    `${t}/a\\/b/`,
    `${t}/ab/::i`,
    `${t}/ab/i:5`,
    `1:2:${t}/ab/`,
    `${t}/(*UTF)ab/`,
    `${t}/ab`,
    `/ab/`,
    `${t}//`,
    `${t}/ab/q`,
    `${j}/ab/`,
    `${j + 1}/ab/`,
    `${t}&/ab/`,
    `${t}/(ab/`,
    `${t}/a[/`,
  ]);
}

/**
 * A random logical expression over subsignatures `0..k-1` (the highest, k-1, always named): `&`, `|`,
 * blocks in parentheses, counts on ids and blocks (`=n`, `>n`, `<n`, `,m`).
 */
export function ldbExpression(k: number, rand: Rand, counts = true): string {
  const { ri, pick: pickOf, chance } = draws(rand);
  const expr = (ids: number[], depth: number): string => {
    if (ids.length === 1 || depth > 2 || chance(0.2)) {
      const id = pickOf(ids);
      if (!counts || !chance(0.25)) return `${id}`;
      return `${id}${pickOf(["=", ">", "<"])}${ri(0, 3)}${chance(0.3) ? `,${ri(0, 3)}` : ""}`;
    }
    const cut = ri(1, ids.length - 1);
    const l = expr(ids.slice(0, cut), depth + 1), r = expr(ids.slice(cut), depth + 1);
    const e = `${l}${pickOf(["&", "|"])}${r}`;
    if (!chance(0.5)) return e;
    const count = counts && chance(0.4)
      ? `${pickOf(["=", ">", "<"])}${ri(0, 3)}${chance(0.4) ? `,${ri(0, 3)}` : ""}`
      : "";
    return `(${e})${count}`;
  };
  let logic = expr(Array.from({ length: k }, (_, j) => j), 0);
  // clamscan takes the highest id it reads (the first number of each leaf) + 1 as the count
  if (checkLogic(logic) !== k - 1) logic += `${chance(0.5) ? "|" : "&"}${k - 1}`;
  return logic;
}

/** A generated logical signature and the grammar signatures its subsignatures are. */
export interface LdbSig {
  name: string;
  line: string;
  subs: GrammarSig[];
}

/**
 * `n` logical signatures virtav evaluates (target 0, no counts), each of 1 to 4 subsignatures
 * drawn from the body grammar above (with its offsets; all distinct bytes), for the matching
 * differential test; files for them come from {@linkcode generateGrammarFiles} over every
 * subsignature, plus files holding all (or all but one) of one signature's subsignatures.
 */
export function generateLdbSignatures(n: number, seed: number): LdbSig[] {
  const rand = prng(seed);
  const pool = generateGrammarSignatures(n * 4, seed + 3);
  const out: LdbSig[] = [];
  for (let i = 0; i < n && pool.length; i++) {
    const k = Math.min(pool.length, 1 + Math.floor(rand() * 4));
    const subs = pool.splice(0, k);
    const texts = subs.map(subsigText);
    // some subsignatures of fixed bytes with the modifiers virtav applies: w, wa, a
    for (let j = 0; j < k; j++) {
      if (rand() >= 0.25) continue;
      const opts = ["w", "wa", "a", "aw", "i", "ia"][Math.floor(rand() * 6)];
      subs[j] = fixedSig(rand, opts.includes("w"), opts.includes("a") || !opts.includes("w"));
      if (opts.includes("i")) subs[j] = nocaseSig(rand);
      texts[j] = `${subs[j].line.split(":")[3]}::${opts}`;
    }
    // a third: every subsignature fixed bytes at any offset, with counts in the expression
    const counted = rand() < 0.33;
    if (counted) {
      for (let j = 0; j < k; j++) {
        const opts = ["", "a", "i", "w", "wa"][Math.floor(rand() * 5)];
        subs[j] = opts === "i" ? nocaseSig(rand) : fixedSig(rand, opts.includes("w"), opts !== "w");
        texts[j] = subs[j].line.split(":")[3] + (opts ? `::${opts}` : "");
      }
      // half of them end in a PCRE subsignature triggered by the ones before it
      if (k >= 2 && rand() < 0.5) {
        ({ text: texts[k - 1], sig: subs[k - 1] } = pcreSig(rand, k - 1, true));
      }
    } else if (k >= 2 && rand() < 0.35) {
      // a PCRE beside subsignatures from the whole grammar (wildcards, alternatives, offsets)
      ({ text: texts[k - 1], sig: subs[k - 1] } = pcreSig(rand, k - 1));
    }
    const logic = ldbExpression(k, rand, counted);
    const name = `Ldb.M${i}`;
    out.push({ name, line: `${name};Target:0;${logic};${texts.join(";")}`, subs });
  }
  return out;
}

/**
 * A PCRE subsignature `j` (triggered by an earlier subsignature): three random lower-case letters
 * and a tail (digits, an alternative, an optional byte, any byte), with flags among
 * `g i s m U x`, a trigger with a count at times when `counts` (fixed subsignatures before it);
 * instances match it (letters' case changed under `i`), near misses change a letter. Half of
 * them have an offset, `n` or `EOF-n` with or without a shift `,m`, and `r` or `e` at times, some
 * with `^` (which clamscan matches at the offset); {@linkcode generateLdbFiles} plants those at
 * the offset or a few bytes after it.
 */
function pcreSig(rand: Rand, j: number, counts = false): { text: string; sig: GrammarSig } {
  const letter = () => 0x61 + Math.floor(rand() * 26);
  const lit = [letter(), letter(), letter()];
  const kind = Math.floor(rand() * 4);
  let flags = ["", "g", "i", "gi", "s", "m", "U", "gx"][Math.floor(rand() * 8)];
  let offText = "", offset: SigOffset = { kind: "any" }, caret = "";
  if (rand() < 0.5) {
    const ri = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
    const shift = rand() < 0.5 ? ri(1, 12) : 0;
    const abs = rand() < 0.6;
    const base = abs ? ri(160, 240) : ri(40, 70);
    offText = `${abs ? "" : "EOF-"}${base}${shift ? `,${shift}` : ""}:`;
    offset = { kind: abs ? "abs" : "eof", base, range: shift };
    flags += ["", "", "r", "e", "A"][Math.floor(rand() * 5)];
    if (rand() < 0.3) caret = "^";
  }
  const t = Math.floor(rand() * j);
  let trigger = rand() < 0.3 && j >= 2 ? `${t}|${(t + 1) % j}` : `${t}`;
  // beside fixed bytes at any offset (counted), the trigger may count too
  if (counts && rand() < 0.4) {
    trigger = `${t}${["=", ">", "<"][Math.floor(rand() * 3)]}${Math.floor(rand() * 3)}`;
  }
  const tail = () =>
    kind === 0
      ? [...String(Math.floor(rand() * 1000))].map((c) => c.charCodeAt(0))
      : kind === 1
      ? (rand() < 0.5 ? [0x61, 0x62] : [0x63, 0x64])
      : kind === 2
      ? (rand() < 0.5 ? [0x79] : [0x78, 0x79])
      : [0x21 + Math.floor(rand() * 90)];
  const make = (l: number[]) => {
    const head = flags.includes("i") ? l.map((c) => rand() < 0.5 ? c ^ 0x20 : c) : l;
    return { bytes: Uint8Array.from([...head, ...tail()]), core: 0 };
  };
  const pattern = caret + String.fromCharCode(...lit) +
    ["[0-9]+", "(ab|cd)", "x?y", "[^\\n]"][kind];
  return {
    text: `${offText}${trigger}/${pattern}/${flags}`,
    sig: {
      name: "pcre",
      line: `F:0:*:${lit.map(h2).join("")}`,
      offset,
      instance: () => make(lit),
      nearMiss: () => make([lit[0] ^ 0x01, lit[1], lit[2]]),
    },
  };
}

/**
 * A signature of 4 to 8 random fixed bytes whose instances are the bytes as they are (`ascii`)
 * and/or widened, each byte then 00 (`wide`), as clamscan's `::a`/`::w` match them.
 */
function fixedSig(rand: Rand, wide: boolean, ascii: boolean): GrammarSig {
  const bytes = Array.from({ length: 4 + Math.floor(rand() * 5) }, () => Math.floor(rand() * 256));
  const form = (b: number[]) => {
    const w = wide && (!ascii || rand() < 0.5);
    return Uint8Array.from(w ? b.flatMap((x) => [x, 0]) : b);
  };
  return {
    name: "fixed",
    line: `F:0:*:${bytes.map(h2).join("")}`,
    offset: { kind: "any" },
    instance: () => ({ bytes: form(bytes), core: 0 }),
    nearMiss: () => {
      const b = [...bytes];
      const at = Math.floor(rand() * b.length);
      if (rand() < 0.5) b[at] ^= 1 << Math.floor(rand() * 8);
      else b.length = Math.max(1, b.length - 1);
      return { bytes: form(b), core: 0 };
    },
  };
}

/** Fixed bytes, half of them ASCII letters, whose instances change the letters' case at random. */
function nocaseSig(rand: Rand): GrammarSig {
  const bytes = Array.from(
    { length: 4 + Math.floor(rand() * 5) },
    () => rand() < 0.5 ? 0x41 + Math.floor(rand() * 26) : Math.floor(rand() * 256),
  );
  const form = (b: number[]) =>
    Uint8Array.from(b.map((x) => {
      const l = x | 0x20;
      return l >= 0x61 && l <= 0x7a && rand() < 0.5 ? x ^ 0x20 : x;
    }));
  return {
    name: "nocase",
    line: `F:0:*:${bytes.map(h2).join("")}`,
    offset: { kind: "any" },
    instance: () => ({ bytes: form(bytes), core: 0 }),
    nearMiss: () => {
      const b = [...bytes];
      b[Math.floor(rand() * b.length)] ^= 1 << Math.floor(rand() * 8);
      return { bytes: form(b), core: 0 };
    },
  };
}

/** A grammar signature as a subsignature: its hex, after its offset unless that is `*`. */
function subsigText(s: GrammarSig): string {
  const [, , off, hex] = s.line.split(":");
  return off === "*" ? hex : `${off}:${hex}`;
}

/** Files holding every subsignature of a signature (or all but one), between filler bytes. */
export function generateLdbFiles(sigs: LdbSig[], seed: number): GrammarFile[] {
  const rand = prng(seed);
  const out: GrammarFile[] = [];
  sigs.forEach((sig, i) => {
    for (const drop of [-1, Math.floor(rand() * sig.subs.length)]) {
      const parts: number[] = Array.from({ length: 8 }, () => filler(rand));
      let atOffset: GrammarSig | null = null;
      sig.subs.forEach((sub, j) => {
        if (j === drop) return;
        if (sub.name === "pcre" && sub.offset.kind !== "any") {
          atOffset = sub;
          return;
        }
        // signatures with counts: each subsignature 0 to 3 times
        const times = sig.line.split(";")[2].match(/[<>=]/) ? Math.floor(rand() * 4) : 1;
        for (let t = 0; t < times; t++) {
          parts.push(...sub.instance(rand).bytes);
          for (let f = 0; f < 4 + Math.floor(rand() * 8); f++) parts.push(filler(rand));
        }
      });
      if (atOffset) plantAtOffset(parts, atOffset, rand);
      out.push({ name: `ldb${i}${drop < 0 ? "" : "-" + drop}`, data: Uint8Array.from(parts) });
    }
  });
  return out;
}

/**
 * Plants a PCRE subsignature with an offset (`n` or `EOF-n`, shift `,m`) at the offset, or up to
 * m + 3 bytes after it (half of the time exactly at it), after the bytes already in `parts`;
 * when those already reach past `n`, it is only appended (usually no match).
 */
function plantAtOffset(parts: number[], sub: GrammarSig, rand: Rand): void {
  const o = sub.offset;
  if (o.kind === "any") return;
  const inst = (rand() < 0.8 ? sub.instance(rand) : sub.nearMiss(rand)).bytes;
  const delta = rand() < 0.5 ? 0 : Math.floor(rand() * (o.range + 4));
  if (o.kind === "abs") {
    const start = o.base + delta;
    while (parts.length < start) parts.push(filler(rand));
    parts.push(...inst);
    for (let f = 0; f < 8; f++) parts.push(filler(rand));
  } else {
    // the instance starts `base - delta` bytes before the end
    parts.push(...inst);
    const tail = Math.max(0, o.base - delta - inst.length);
    for (let f = 0; f < tail; f++) parts.push(filler(rand));
  }
}
