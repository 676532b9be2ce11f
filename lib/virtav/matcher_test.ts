import assert from "node:assert/strict";
import { Matcher } from "./matcher.ts";
import { compileSignatures } from "./compile.ts";
import { parseNdbLine } from "./ndb.ts";
import { parseLdbLine, subsigName } from "./ldb.ts";
import { MappedFile } from "./mapped_file.ts";

const enc = new TextEncoder();
const hex = (s: string) => [...enc.encode(s)].map((b) => b.toString(16).padStart(2, "0")).join("");

function names(lines: string[], text: string | Uint8Array, allMatch = true): string[] {
  const m = Matcher.load(compileSignatures(lines.map(parseNdbLine)));
  try {
    const buf = typeof text === "string" ? enc.encode(text) : text;
    return m.scanBuffer(buf, { allMatch }).map((h) => `${h.name}@${h.offset}`).sort();
  } finally {
    m.close();
  }
}

const TEXT = "hello world this is a test of the signature engine ABCDEFGH\n";

Deno.test("matcher: each wildcard form agrees with clamscan's answers on a known text", () => {
  // Expected results were taken from clamscan 1.4 --allmatch on the same text.
  const cases: [string, boolean][] = [
    ["68656c6c6f", true],
    ["68??6c6c6f", true],
    ["68656c{1}6f", true],
    ["6865[1-2]6c", true],
    ["68[1-2]6c6c", true],
    ["6865{1-2}6c6c", false],
    ["6865*6c6c", true],
    ["??6865", true],
    ["(68|69)656c", true],
    ["6865(6c6c|6f6f)6f", true],
    ["6865(6c|6f6f)6c", true],
    ["6865(6c|6f6f)6f", false],
    ["6865(6?|6f6f)6c6f", true],
    ["6865!(6c6c|6f6f)6f20", false],
    ["(68|6966)6c6c", false],
    ["!(68|69)656c", false],
    ["6?656c", true],
    ["6865{-3}6c6c", true],
    ["6865{3-}6c6c", false],
    ["68656c6c{-2}206f", false],
    ["6865{0-2}6c6c", true],
    ["6865{2}6f20{100}", false],
    ["68656c6c[1-2]77", true],
    ["68[1-3]6c6c6f", true],
  ];
  for (const [sig, want] of cases) {
    const got = names([`S:0:*:${sig}`], TEXT).length > 0;
    assert.equal(got, want, sig);
  }
});

Deno.test("matcher: offsets n, n,m, EOF-n, EOF-n,m", () => {
  assert.deepEqual(names(["A:0:0:68656c"], TEXT), ["A@0"]);
  assert.deepEqual(names(["A:0:1:68656c"], TEXT), []);
  assert.deepEqual(names(["A:0:2,3:6c6c6f"], TEXT), ["A@2"]);
  assert.deepEqual(names(["A:0:3,3:6c6c6f"], TEXT), []);
  assert.deepEqual(names(["A:0:EOF-10:4445464748"], TEXT), []);
  assert.deepEqual(names(["A:0:EOF-6:4445464748"], TEXT), [`A@${TEXT.length - 6}`]);
  assert.deepEqual(names(["A:0:EOF-10,4:43444546"], TEXT), [`A@${TEXT.length - 7}`]);
});

Deno.test("matcher: bounded gaps need the right predecessor, not just the latest", () => {
  // part1 occurs at 0 and 30; part2 at 40: gap {5-12} only fits the second occurrence.
  const buf = new Uint8Array(64);
  buf.set([1, 2, 3, 4], 0);
  buf.set([1, 2, 3, 4], 30);
  buf.set([9, 8, 7, 6], 40);
  assert.deepEqual(names(["G:0:*:01020304{5-12}09080706"], buf), ["G@30"]);
  assert.deepEqual(names(["G:0:*:01020304{13-}09080706"], buf), ["G@0"]);
  assert.deepEqual(names(["G:0:*:01020304{-5}09080706"], buf), []);
  assert.deepEqual(names(["G:0:*:09080706*01020304"], buf), []);
});

Deno.test("matcher: without all-matches it stops at the first detection", () => {
  const text = `${"x".repeat(10)}AAAA${"y".repeat(10)}BBBB`;
  assert.deepEqual(names([`A:0:*:${hex("AAAA")}`, `B:0:*:${hex("BBBB")}`], text), ["A@10", "B@24"]);
  assert.deepEqual(names([`A:0:*:${hex("AAAA")}`, `B:0:*:${hex("BBBB")}`], text, false), ["A@10"]);
});

Deno.test("matcher: a zero-filled megabyte with a two-byte anchored gap signature terminates", () => {
  const buf = new Uint8Array(1 << 20);
  assert.deepEqual(names(["Z:0:*:0000{1-100000}0101"], buf), []);
  buf[(1 << 20) - 2] = 1;
  buf[(1 << 20) - 1] = 1;
  // The reported start is the newest first part that still fits the gap (older ones are
  // dropped as dominated, which bounds the partial matches kept).
  assert.deepEqual(names(["Z:0:*:0000{1-100000}0101"], buf), [`Z@${(1 << 20) - 2 - 1 - 2}`]);
});

Deno.test("matcher: more partial matches than a tracker holds fall back to the exact scan", () => {
  // Zeros: `0000` matches at every position, so the first part leaves an end at every byte.
  // With a gap of exactly 1.1M bytes (above the 2^20 ends a tracker keeps), the only first
  // part that fits is the oldest one: dropping the oldest end would miss the match.
  const gap = 1_100_000;
  const sig = `Z:0:*:0000{${gap}-${gap}}0101`;
  const m = Matcher.load(compileSignatures([parseNdbLine(sig)]));
  try {
    const buf = new Uint8Array(2 + gap + 2 + 16);
    buf.set([1, 1], 2 + gap);
    assert.deepEqual(m.scanBuffer(buf, { allMatch: true }).map((h) => h.offset), [0]);
    assert.ok(m.stats.exactFallbacks >= 1, "the exact scan decided it");
    // No second part where the gap allows one: nothing, from the exact scan too.
    const none = new Uint8Array(2 + gap + 2 + 16);
    none.set([1, 1], 1000);
    const before = m.stats.exactFallbacks;
    assert.deepEqual(m.scanBuffer(none, { allMatch: true }), []);
    assert.ok(m.stats.exactFallbacks > before);
  } finally {
    m.close();
  }
  // A wide gap whose minimum is 0 keeps few ends (older ones are dominated): no fallback.
  const w = Matcher.load(compileSignatures([parseNdbLine("W:0:*:0000{0-3000000}0101")]));
  try {
    const buf = new Uint8Array(4 << 20);
    buf.set([1, 1], (4 << 20) - 4);
    assert.equal(w.scanBuffer(buf, { allMatch: true }).length, 1);
    assert.equal(w.stats.exactFallbacks, 0);
  } finally {
    w.close();
  }
});

Deno.test("matcher: .ldb PCRE and count signatures in gathered guest pages", async () => {
  const sig = parseLdbLine("P.1;Target:0;0&1>1;41424344;4:0/xy[0-9]/g");
  const c = compileSignatures(sig.subsigs.map((s, j) => ({ ...s, name: subsigName(sig, j) })));
  const dir = await Deno.makeTempDir({ prefix: "virtav-matcher-" });
  const f0 = (() => {
    const data = new Uint8Array(3 * 4096).fill(0x2e);
    // page 0 ends in "ABCD"; page 2 starts with "xy1xy2" (4 bytes into the gathered unit)
    data.set(new TextEncoder().encode("ABCD"), 4096 - 4);
    data.set(new TextEncoder().encode("xy1xy2"), 2 * 4096);
    return data;
  })();
  await Deno.writeFile(`${dir}/ram`, f0);
  const f = MappedFile.open(`${dir}/ram`);
  const m = Matcher.load(c);
  try {
    const segs = new BigUint64Array([0n, 0n, BigInt(f0.length)]);
    const chunk = (pa: number) => new BigUint64Array([BigInt(pa), 4n, 8192n, 4096n]);
    // the unit is "ABCD" then page 2: the PCRE at offset 4 finds xy1, xy2 (2 > 1)
    assert.deepEqual(m.scanChunks(f, segs, chunk(4092), { allMatch: true }).map((h) => h.name), [
      "P.1",
    ]);
    // without ABCD first, the trigger does not hold
    assert.deepEqual(m.scanChunks(f, segs, chunk(100), { allMatch: true }), []);
  } finally {
    m.close();
    f.close();
    await Deno.remove(dir, { recursive: true });
  }
});
