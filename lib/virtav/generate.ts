/**
 * Generated signature sets and corpora for comparing virtav with clamscan: every hex-signature
 * wildcard form and every offset form, each part holding at least four fixed bytes so that
 * clamscan accepts the whole set. Each signature can make a random instance of itself, which
 * the corpus plants (plus near misses with one fixed byte changed). Deterministic per seed.
 *
 * @module
 */

/** A small, fast, seeded PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Random draws from one seeded stream, shared by the signature generators. */
export interface Draws {
  rand: () => number;
  /** A whole number from `lo` to `hi`, both included. */
  ri(lo: number, hi: number): number;
  /** A random byte. */
  rb(): number;
  chance(p: number): boolean;
  pick<T>(a: readonly T[]): T;
  /** `lo` to `hi` random bytes. */
  bytes(lo: number, hi: number): number[];
  /** `count` different runs of `w` random bytes each. */
  distinct(count: number, w: number): number[][];
}

/** The draws over `rand` (each call takes from the stream in the order it is made). */
export function draws(rand: () => number): Draws {
  const ri = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const rb = () => Math.floor(rand() * 256);
  return {
    rand,
    ri,
    rb,
    chance: (p) => rand() < p,
    pick: (a) => a[Math.floor(rand() * a.length)],
    bytes: (lo, hi) => Array.from({ length: ri(lo, hi) }, rb),
    distinct: (count, w) => {
      const seen = new Set<string>();
      const out: number[][] = [];
      while (out.length < count) {
        const a = Array.from({ length: w }, rb);
        if (!seen.has(a.join())) {
          seen.add(a.join());
          out.push(a);
        }
      }
      return out;
    },
  };
}

/** An offset form of a signature. */
export type SigOffset = { kind: "any" } | { kind: "abs" | "eof"; base: number; range: number };

/**
 * One in five signatures gets an offset other than `*`: `n`, `n,m`, `EOF-n`, `EOF-n,m` in equal
 * parts, `n` from `abs`, `EOF-n` from `eof`, each range `m` from 1 to its bound.
 */
export function drawOffset(
  d: Draws,
  bounds: { abs: [number, number, number]; eof: [number, number, number] },
): { offset: SigOffset; text: string } {
  const r = d.rand();
  if (r >= 0.2) return { offset: { kind: "any" }, text: "*" };
  const kind = r < 0.1 ? "abs" : "eof";
  const [lo, hi, rangeMax] = bounds[kind];
  const base = d.ri(lo, hi);
  const range = (r >= 0.05 && r < 0.1) || r >= 0.15 ? d.ri(1, rangeMax) : 0;
  const at = kind === "abs" ? `${base}` : `EOF-${base}`;
  return { offset: { kind, base, range }, text: range ? `${at},${range}` : at };
}

type Piece =
  | { k: "fixed"; bytes: number[] }
  | { k: "any" }
  | { k: "hi"; v: number }
  | { k: "lo"; v: number }
  | { k: "alt"; alts: number[][] }
  | { k: "nalt"; alts: number[][] }
  | { k: "gap"; min: number; max: number; text: string };

/** A generated signature: its `.ndb` line and a maker of matching bytes. */
export interface GeneratedSig {
  name: string;
  line: string;
  /** Offset form: where an instance must be planted. */
  offset: SigOffset;
  instance(rand: () => number): Uint8Array;
  /** An instance with one fixed byte changed (must not match this signature). */
  nearMiss(rand: () => number): Uint8Array;
}

const h2 = (b: number) => b.toString(16).padStart(2, "0");

function pieceText(p: Piece): string {
  switch (p.k) {
    case "fixed":
      return p.bytes.map(h2).join("");
    case "any":
      return "??";
    case "hi":
      return h2(p.v)[0] + "?";
    case "lo":
      return "?" + h2(p.v)[1];
    case "alt":
      return "(" + p.alts.map((a) => a.map(h2).join("")).join("|") + ")";
    case "nalt":
      return "!(" + p.alts.map((a) => a.map(h2).join("")).join("|") + ")";
    case "gap":
      return p.text;
  }
}

function makeBytes(pieces: Piece[], rand: () => number, miss: boolean): Uint8Array {
  const out: number[] = [];
  const rb = () => Math.floor(rand() * 256);
  const fixedIdx: number[] = [];
  for (const p of pieces) {
    switch (p.k) {
      case "fixed":
        for (const b of p.bytes) {
          fixedIdx.push(out.length);
          out.push(b);
        }
        break;
      case "any":
        out.push(rb());
        break;
      case "hi":
        out.push((p.v & 0xf0) | (rb() & 0x0f));
        break;
      case "lo":
        out.push((rb() & 0xf0) | (p.v & 0x0f));
        break;
      case "alt":
        out.push(...p.alts[Math.floor(rand() * p.alts.length)]);
        break;
      case "nalt": {
        const w = p.alts[0].length;
        for (;;) {
          const cand = Array.from({ length: w }, rb);
          if (!p.alts.some((a) => a.every((b, i) => b === cand[i]))) {
            out.push(...cand);
            break;
          }
        }
        break;
      }
      case "gap": {
        const max = p.max < 0 ? p.min + 40 : p.max;
        const n = p.min + Math.floor(rand() * (max - p.min + 1));
        for (let i = 0; i < n; i++) out.push(rb());
      }
    }
  }
  if (miss) {
    // Changing every fixed byte guarantees the instance cannot match (random bytes could).
    for (const i of fixedIdx) out[i] ^= 0x5a;
  }
  return new Uint8Array(out);
}

/**
 * The signature forms, one per wildcard form (and a few mixes), each drawing its pieces; the
 * n-th signature takes form n modulo their number.
 */
const FORMS: ((d: Draws) => Piece[])[] = [
  (d) => [fixed(d, 6, 16)],
  (d) => [fixed(d), { k: "any" }, { k: "any" }, fixed(d)],
  (d) => [fixed(d), { k: "hi", v: d.rb() }, fixed(d), { k: "lo", v: d.rb() }, fixed(d, 2, 2)],
  (d) => [fixed(d), { k: "gap", min: 0, max: -1, text: "*" }, fixed(d)],
  (d) => {
    const m = d.ri(1, 12);
    return [fixed(d), { k: "gap", min: m, max: m, text: `{${m}}` }, fixed(d)];
  },
  (d) => {
    const m = d.ri(1, 30);
    return [fixed(d), { k: "gap", min: 0, max: m, text: `{-${m}}` }, fixed(d)];
  },
  (d) => {
    const m = d.ri(1, 30);
    return [fixed(d), { k: "gap", min: m, max: -1, text: `{${m}-}` }, fixed(d)];
  },
  (d) => {
    const a = d.ri(0, 20), b = a + d.ri(1, 40);
    return [fixed(d), { k: "gap", min: a, max: b, text: `{${a}-${b}}` }, fixed(d)];
  },
  (d) => [fixed(d), { k: "alt", alts: d.distinct(d.ri(2, 4), 1) }, fixed(d)],
  (d) => [fixed(d), { k: "alt", alts: d.distinct(d.ri(2, 3), 2) }, fixed(d)],
  (
    d,
  ) => [
    fixed(d),
    { k: "alt", alts: [[d.rb()], [d.rb(), d.rb()], [d.rb(), d.rb(), d.rb()]] },
    fixed(d),
  ],
  (d) => [fixed(d), { k: "nalt", alts: d.distinct(d.ri(1, 3), 1) }, fixed(d)],
  (d) => [fixed(d), { k: "nalt", alts: d.distinct(2, 2) }, fixed(d)],
  (d) => {
    const a = d.ri(0, 8), b = a + d.ri(1, 8);
    return [fixed(d), { k: "gap", min: a, max: b, text: `[${a}-${b}]` }, {
      k: "fixed",
      bytes: [d.rb()],
    }];
  },
  (d) => {
    const a = d.ri(0, 8), b = a + d.ri(1, 8);
    return [
      { k: "fixed", bytes: [d.rb()] },
      { k: "gap", min: a, max: b, text: `[${a}-${b}]` },
      fixed(d),
    ];
  },
  // `[x-y]` after a bounded gap, before one, and on both sides of a part: ClamAV measures
  // offsets and gaps from the part's core, not from the side byte.
  (d) => {
    const a = d.ri(0, 6), b = a + d.ri(0, 6), x = d.ri(0, 4), y = x + d.ri(0, 4);
    return [
      fixed(d),
      { k: "gap", min: a, max: b, text: `{${a}-${b}}` },
      { k: "fixed", bytes: [d.rb()] },
      { k: "gap", min: x, max: y, text: `[${x}-${y}]` },
      fixed(d),
    ];
  },
  (d) => {
    const a = d.ri(0, 6), b = a + d.ri(0, 6), x = d.ri(0, 4), y = x + d.ri(0, 4);
    return [
      fixed(d),
      { k: "gap", min: x, max: y, text: `[${x}-${y}]` },
      { k: "fixed", bytes: [d.rb()] },
      { k: "gap", min: a, max: b, text: `{${a}-${b}}` },
      fixed(d),
    ];
  },
  (d) => {
    const x = d.ri(0, 4), y = x + d.ri(0, 4);
    return [
      { k: "fixed", bytes: [d.rb()] },
      { k: "gap", min: x, max: y, text: `[${x}-${y}]` },
      fixed(d),
      { k: "gap", min: y, max: y + 2, text: `[${y}-${y + 2}]` },
      { k: "fixed", bytes: [d.rb()] },
    ];
  },
  // A gap whose maximum is 0 is `*` to ClamAV.
  (d) => {
    const text = ["{0}", "{0-0}", "{-0}"][d.ri(0, 2)];
    return [fixed(d), { k: "gap", min: 0, max: 0, text }, fixed(d)];
  },
  (d) => [
    fixed(d),
    { k: "any" },
    fixed(d),
    { k: "gap", min: 2, max: 9, text: "{2-9}" },
    fixed(d),
    { k: "alt", alts: d.distinct(2, 1) },
    fixed(d),
    { k: "gap", min: 0, max: -1, text: "*" },
    fixed(d),
  ],
];

/** A piece of `lo` to `hi` random fixed bytes. */
function fixed(d: Draws, lo = 4, hi = 8): Piece {
  return { k: "fixed", bytes: d.bytes(lo, hi) };
}

/**
 * Generates `n` signatures cycling through every wildcard and offset form.
 *
 * @example
 * ```ts
 * import { generateSignatures, prng } from "./generate.ts";
 * const sigs = generateSignatures(100, 1);
 * console.log(sigs[0].line, sigs[0].instance(prng(2)));
 * ```
 */
export function generateSignatures(n: number, seed: number): GeneratedSig[] {
  const d = draws(prng(seed));
  const sigs: GeneratedSig[] = [];
  for (let i = 0; i < n; i++) {
    const pieces = FORMS[i % FORMS.length](d);
    const hex = pieces.map(pieceText).join("");
    const name = `Gen.F${i % FORMS.length}.S${i}`;
    // Instances fit in 64 bytes+gaps.
    const { offset, text } = drawOffset(d, { abs: [0, 4000, 300], eof: [400, 1200, 200] });
    sigs.push({
      name,
      line: `${name}:0:${text}:${hex}`,
      offset,
      instance: (rnd) => makeBytes(pieces, rnd, false),
      nearMiss: (rnd) => makeBytes(pieces, rnd, true),
    });
  }
  return sigs;
}

/** A generated file. */
export interface CorpusFile {
  name: string;
  data: Uint8Array;
}

/**
 * Random files with planted instances and near misses of random signatures (about one plant
 * per `spacing` bytes), abs/EOF signatures planted where their offsets say.
 */
export function generateCorpus(
  sigs: GeneratedSig[],
  opts: { files: number; size: number; spacing?: number; seed: number },
): CorpusFile[] {
  const rand = prng(opts.seed);
  const spacing = opts.spacing ?? 2048;
  const out: CorpusFile[] = [];
  const anywhere = sigs.filter((s) => s.offset.kind === "any");
  const placed = sigs.filter((s) => s.offset.kind !== "any");
  for (let f = 0; f < opts.files; f++) {
    const data = new Uint8Array(opts.size);
    for (let i = 0; i < data.length; i += 4) {
      const v = Math.floor(rand() * 2 ** 32);
      data[i] = v;
      data[i + 1] = v >>> 8;
      data[i + 2] = v >>> 16;
      data[i + 3] = v >>> 24;
    }
    // Keep the first bytes plain so no file looks like MZ/ELF/archive magic.
    data.set([0x2e, 0x2e, 0x2e, 0x2e], 0);
    for (let slot = 8192; slot + spacing <= opts.size - 8192; slot += spacing) {
      const s = anywhere[Math.floor(rand() * anywhere.length)];
      const inst = rand() < 0.8 ? s.instance(rand) : s.nearMiss(rand);
      if (inst.length < spacing) {
        data.set(inst, slot + Math.floor(rand() * (spacing - inst.length)));
      }
    }
    for (let k = 0; k < 3; k++) {
      const s = placed[Math.floor(rand() * placed.length)];
      if (!s) break;
      const inst = s.instance(rand);
      const o = s.offset as { kind: "abs" | "eof"; base: number; range: number };
      const shift = Math.floor(rand() * (o.range + 1));
      const at = o.kind === "abs" ? o.base + shift : opts.size - o.base + shift;
      if (at >= 4 && at + inst.length <= opts.size) data.set(inst, at);
    }
    out.push({ name: `f${String(f).padStart(3, "0")}.bin`, data });
  }
  return out;
}
