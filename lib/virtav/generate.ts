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
  offset: { kind: "any" } | { kind: "abs"; base: number; range: number } | {
    kind: "eof";
    base: number;
    range: number;
  };
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
  const rand = prng(seed);
  const rb = () => Math.floor(rand() * 256);
  const ri = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const fixed = (lo = 4, hi = 8): Piece => ({
    k: "fixed",
    bytes: Array.from({ length: ri(lo, hi) }, rb),
  });
  const distinct = (k: number, w: number) => {
    const seen = new Set<string>();
    const alts: number[][] = [];
    while (alts.length < k) {
      const a = Array.from({ length: w }, rb);
      if (!seen.has(a.join())) {
        seen.add(a.join());
        alts.push(a);
      }
    }
    return alts;
  };
  const forms: (() => Piece[])[] = [
    () => [fixed(6, 16)],
    () => [fixed(), { k: "any" }, { k: "any" }, fixed()],
    () => [fixed(), { k: "hi", v: rb() }, fixed(), { k: "lo", v: rb() }, fixed(2, 2)],
    () => [fixed(), { k: "gap", min: 0, max: -1, text: "*" }, fixed()],
    () => {
      const m = ri(1, 12);
      return [fixed(), { k: "gap", min: m, max: m, text: `{${m}}` }, fixed()];
    },
    () => {
      const m = ri(1, 30);
      return [fixed(), { k: "gap", min: 0, max: m, text: `{-${m}}` }, fixed()];
    },
    () => {
      const m = ri(1, 30);
      return [fixed(), { k: "gap", min: m, max: -1, text: `{${m}-}` }, fixed()];
    },
    () => {
      const a = ri(0, 20), b = a + ri(1, 40);
      return [fixed(), { k: "gap", min: a, max: b, text: `{${a}-${b}}` }, fixed()];
    },
    () => [fixed(), { k: "alt", alts: distinct(ri(2, 4), 1) }, fixed()],
    () => [fixed(), { k: "alt", alts: distinct(ri(2, 3), 2) }, fixed()],
    () => [fixed(), { k: "alt", alts: [[rb()], [rb(), rb()], [rb(), rb(), rb()]] }, fixed()],
    () => [fixed(), { k: "nalt", alts: distinct(ri(1, 3), 1) }, fixed()],
    () => [fixed(), { k: "nalt", alts: distinct(2, 2) }, fixed()],
    () => {
      const a = ri(0, 8), b = a + ri(1, 8);
      return [fixed(), { k: "gap", min: a, max: b, text: `[${a}-${b}]` }, {
        k: "fixed",
        bytes: [rb()],
      }];
    },
    () => {
      const a = ri(0, 8), b = a + ri(1, 8);
      return [
        { k: "fixed", bytes: [rb()] },
        { k: "gap", min: a, max: b, text: `[${a}-${b}]` },
        fixed(),
      ];
    },
    // `[x-y]` after a bounded gap, before one, and on both sides of a part: ClamAV measures
    // offsets and gaps from the part's core, not from the side byte.
    () => {
      const a = ri(0, 6), b = a + ri(0, 6), x = ri(0, 4), y = x + ri(0, 4);
      return [
        fixed(),
        { k: "gap", min: a, max: b, text: `{${a}-${b}}` },
        { k: "fixed", bytes: [rb()] },
        { k: "gap", min: x, max: y, text: `[${x}-${y}]` },
        fixed(),
      ];
    },
    () => {
      const a = ri(0, 6), b = a + ri(0, 6), x = ri(0, 4), y = x + ri(0, 4);
      return [
        fixed(),
        { k: "gap", min: x, max: y, text: `[${x}-${y}]` },
        { k: "fixed", bytes: [rb()] },
        { k: "gap", min: a, max: b, text: `{${a}-${b}}` },
        fixed(),
      ];
    },
    () => {
      const x = ri(0, 4), y = x + ri(0, 4);
      return [
        { k: "fixed", bytes: [rb()] },
        { k: "gap", min: x, max: y, text: `[${x}-${y}]` },
        fixed(),
        { k: "gap", min: y, max: y + 2, text: `[${y}-${y + 2}]` },
        { k: "fixed", bytes: [rb()] },
      ];
    },
    // A gap whose maximum is 0 is `*` to ClamAV.
    () => {
      const text = ["{0}", "{0-0}", "{-0}"][ri(0, 2)];
      return [fixed(), { k: "gap", min: 0, max: 0, text }, fixed()];
    },
    () => [
      fixed(),
      { k: "any" },
      fixed(),
      { k: "gap", min: 2, max: 9, text: "{2-9}" },
      fixed(),
      { k: "alt", alts: distinct(2, 1) },
      fixed(),
      { k: "gap", min: 0, max: -1, text: "*" },
      fixed(),
    ],
  ];
  const sigs: GeneratedSig[] = [];
  for (let i = 0; i < n; i++) {
    const pieces = forms[i % forms.length]();
    const hex = pieces.map(pieceText).join("");
    const name = `Gen.F${i % forms.length}.S${i}`;
    // One in five signatures gets an offset other than "*"; instances fit in 64 bytes+gaps.
    let offset: GeneratedSig["offset"] = { kind: "any" };
    let offText = "*";
    const r = rand();
    if (r < 0.05) {
      const base = ri(0, 4000);
      offset = { kind: "abs", base, range: 0 };
      offText = `${base}`;
    } else if (r < 0.1) {
      const base = ri(0, 4000), range = ri(1, 300);
      offset = { kind: "abs", base, range };
      offText = `${base},${range}`;
    } else if (r < 0.15) {
      const base = ri(400, 1200);
      offset = { kind: "eof", base, range: 0 };
      offText = `EOF-${base}`;
    } else if (r < 0.2) {
      const base = ri(400, 1200), range = ri(1, 200);
      offset = { kind: "eof", base, range };
      offText = `EOF-${base},${range}`;
    }
    sigs.push({
      name,
      line: `${name}:0:${offText}:${hex}`,
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
