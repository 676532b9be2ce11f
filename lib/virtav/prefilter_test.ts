/**
 * The Hyperscan prefilter (native/virtav_prefilter.c) against the key loop alone: the same
 * detections (signature and offset) on generated signatures of the whole grammar and planted
 * inputs, with every window size down to one byte (matches across Hyperscan calls), at the
 * buffer's start and end, in first-match mode, and the serialised form's round trip and refusals.
 */
import assert from "node:assert/strict";
import { Matcher } from "./matcher.ts";
import { compileSignatures } from "./compile.ts";
import { parseNdbLine } from "./ndb.ts";
import type { BodySignature } from "./ndb.ts";
import { generateGrammarFiles, generateGrammarSignatures } from "./grammar_gen.ts";
import { generateCorpus, generateSignatures, prng } from "./generate.ts";
import { native } from "../ffi/ffi.ts";
import { fromOtherHyperscan } from "./prefilter_fixtures.ts";

const enc = new TextEncoder();
const hex = (s: string) => [...enc.encode(s)].map((b) => b.toString(16).padStart(2, "0")).join("");

function parsed(lines: string[]): BodySignature[] {
  const out: BodySignature[] = [];
  for (const l of lines) {
    try {
      out.push(parseNdbLine(l));
    } catch { /* a line the body parser leaves out is not this test's business */ }
  }
  return out;
}

const hits = (m: Matcher, buf: Uint8Array, allMatch: boolean) =>
  m.scanBuffer(buf, { allMatch }).map((h) => `${h.name}@${h.offset}`).sort();

/**
 * Scans every buffer with and without the prefilter at each window, with and without the sampler
 * of long literals (native/virtav_prefilter.c `sample`); asserts equal answers.
 */
function assertSame(sigs: BodySignature[], bufs: Uint8Array[], windows: number[], what: string) {
  for (const sampler of [0, 1]) {
    native().vav_pf_sampler(sampler);
    const c = compileSignatures(sigs);
    const on = Matcher.load(c, { prefilter: true }), off = Matcher.load(c, { prefilter: false });
    try {
      assert.equal(on.prefilterInfo().state, "compiled", on.prefilterNote ?? "");
      assert.equal(off.prefilterInfo().state, "off");
      let found = 0;
      for (const w of windows) {
        native().vav_pf_window(BigInt(w));
        bufs.forEach((buf, i) => {
          const want = hits(off, buf, true);
          found += want.length;
          const at = `${what}: buffer ${i}, window ${w}, sampler ${sampler}`;
          assert.deepEqual(hits(on, buf, true), want, at);
          assert.deepEqual(hits(on, buf, false), hits(off, buf, false), `first match, ${at}`);
        });
      }
      assert.ok(found > 0, `${what}: the inputs must hold detections`);
    } finally {
      native().vav_pf_window(0n);
      native().vav_pf_sampler(0);
      on.close();
      off.close();
    }
  }
}

Deno.test("prefilter: same detections as the key loop on generated signatures of the whole grammar", () => {
  const seed = 20261205;
  console.log(`seed ${seed}`);
  const gs = generateGrammarSignatures(300, seed);
  const sigs = parsed(gs.map((s) => s.line));
  const files = generateGrammarFiles(gs, seed + 1, 24).map((f) => f.data);
  const c = compileSignatures(sigs);
  const m = Matcher.load(c);
  const info = m.prefilterInfo();
  m.close();
  // the grammar has parts with only two or three fixed bytes: both paths are exercised
  assert.ok(info.sigsPrefiltered > 0 && info.sigsKeyLoop > 0, JSON.stringify(info));
  assertSame(sigs, files, [0, 1, 7, 4096], "grammar");
});

Deno.test("prefilter: same detections on planted instances, at the buffer's start and end", () => {
  const gen = generateSignatures(400, 77);
  const sigs = parsed(gen.map((s) => s.line));
  const corpus = generateCorpus(gen, { files: 6, size: 96 * 1024, seed: 78 }).map((f) => f.data);
  const rand = prng(79);
  const anywhere = gen.filter((s) => s.offset.kind === "any");
  for (let k = 0; k < 8; k++) {
    const a = anywhere[k].instance(rand), b = anywhere[k + 8].instance(rand);
    const buf = new Uint8Array(a.length + 300 + b.length).fill(0x2e);
    buf.set(a, 0); // at the very start
    buf.set(b, buf.length - b.length); // ending at the very end
    corpus.push(buf);
  }
  assertSame(sigs, corpus, [0, 1, 33, 1 << 16], "planted");
});

Deno.test("prefilter: signatures without a four-byte literal stay on the key loop and still match", () => {
  const lines = [
    `Short:0:*:4142??4344`, // two-byte runs only
    `Three:0:*:58595a{2}575657`, // three-byte runs
    `Long:0:*:${hex("LONGLITERAL")}`,
  ];
  const c = compileSignatures(parsed(lines));
  const m = Matcher.load(c);
  try {
    const info = m.prefilterInfo();
    assert.equal(info.state, "compiled");
    assert.equal(info.sigsPrefiltered, 1);
    assert.equal(info.sigsKeyLoop, 2);
    assert.equal(info.programsKeyLoop, 2);
    const buf = enc.encode("..AB.CD..XYZ..WVW..LONGLITERAL..");
    assert.deepEqual(hits(m, buf, true), ["Long@19", "Short@2", "Three@9"]);
    // first-match: the earliest detection, whichever path finds it
    assert.deepEqual(hits(m, buf, false), ["Short@2"]);
    assert.deepEqual(hits(m, enc.encode("LONGLITERAL..AB.CD"), false), ["Long@0"]);
  } finally {
    m.close();
  }
});

Deno.test("prefilter: the serialised form attaches to its own database only, and is checked", () => {
  const gen = generateSignatures(200, 5);
  const c = compileSignatures(parsed(gen.map((s) => s.line)));
  const m = Matcher.load(c);
  const ser = m.serializePrefilter();
  assert.ok(ser && ser.length > 100);
  const corpus = generateCorpus(gen, { files: 2, size: 64 * 1024, seed: 6 }).map((f) => f.data);
  const back = Matcher.load({ ...c, prefilter: ser });
  try {
    assert.equal(back.prefilterInfo().state, "attached");
    for (const buf of corpus) assert.deepEqual(hits(back, buf, true), hits(m, buf, true));
  } finally {
    back.close();
    m.close();
  }
  const refused = (pf: Uint8Array, blob = c.blob) =>
    assert.throws(() => Matcher.load({ ...c, blob, prefilter: pf }), /cached prefilter/);
  refused(ser.slice(0, ser.length - 1)); // truncated
  refused(ser.slice(0, 20));
  for (const at of [0, 4, 8, 12, 16, 24, 32, 40, 100, ser.length - 1]) {
    const bad = ser.slice();
    bad[at] ^= 1; // header, literal count, checksums, length, Hyperscan's bytes
    refused(bad);
  }
  // with the sampler: its split of the literals is part of what the copy is checked against
  native().vav_pf_sampler(1);
  try {
    const ms = Matcher.load(c);
    const sers = ms.serializePrefilter()!;
    const backs = Matcher.load({ ...c, prefilter: sers });
    for (const buf of corpus) assert.deepEqual(hits(backs, buf, true), hits(ms, buf, true));
    backs.close();
    ms.close();
    native().vav_pf_sampler(0);
    refused(sers); // made with the sampler, attached without
  } finally {
    native().vav_pf_sampler(0);
  }
  // another database's prefilter
  const other = compileSignatures(parsed(generateSignatures(200, 6).map((s) => s.line)));
  refused(ser, other.blob);
  // null: a database known to have none loads without it
  const none = Matcher.load({ ...c, prefilter: null, prefilterNote: "why" });
  assert.equal(none.prefilterInfo().state, "off");
  assert.equal(none.prefilterNote, "why");
  none.close();
});

Deno.test("prefilter: one built by another Hyperscan version or for another platform is refused, saying why", () => {
  const c = compileSignatures(parsed(generateSignatures(50, 9).map((s) => s.line)));
  const m = Matcher.load(c);
  const ser = m.serializePrefilter()!;
  m.close();
  assert.throws(
    () => Matcher.load({ ...c, prefilter: fromOtherHyperscan(ser, "version") }),
    /built by another Hyperscan version \(this one is 5\.4/,
  );
  assert.throws(
    () => Matcher.load({ ...c, prefilter: fromOtherHyperscan(ser, "platform") }),
    /does not fit this Hyperscan \(Version: 5\.4\.0/,
  );
  // the untouched copy still attaches (the change above is the only difference)
  const ok = Matcher.load({ ...c, prefilter: ser });
  assert.equal(ok.prefilterInfo().state, "attached");
  ok.close();
});

Deno.test("prefilter: one literal per segment, the other parts found backwards and forwards around it", () => {
  // The literal is each segment's longest run: in the last part, the middle one, the first.
  const lines = [
    `Back:0:*:${hex("abcd")}{2-5}${hex("LONGLITERAL")}`,
    `Mid:0:*:${hex("mnop")}{0-3}${hex("MIDDLELITERAL")}{1-2}${hex("qrst")}`,
    `Fwd:0:*:${hex("FIRSTLITERAL")}{4}${hex("wxyz")}??${hex("uv")}`,
    `Star:0:*:${hex("aaaa")}{1-2}${hex("STARLEFTSIDE")}*${hex("STARRIGHTSIDE")}{-3}${hex("zz99")}`,
    `Eof:0:EOF-40,30:${hex("eeee")}{1-9}${hex("EOFLITERALX")}`,
    `Abs:0:3:${hex("ab12")}{0-2}${hex("ABSLITERAL")}`,
    `Tiny:0:*:${hex("qq")}{1-3}${hex("QQQQ")}`, // a short literal: with it the sampler can take the rest
  ];
  const sigs = parsed(lines);
  const c = compileSignatures(sigs);
  const m = Matcher.load(c);
  const info = m.prefilterInfo();
  m.close();
  assert.equal(info.sigsPrefiltered, lines.length, JSON.stringify(info));
  // one literal per segment: Star has two segments
  assert.equal(info.literals, lines.length + 1, JSON.stringify(info));
  const ins = [
    "abcd..LONGLITERAL",
    "abcd.....LONGLITERAL",
    "mnopMIDDLELITERAL.qrst",
    "mnop...MIDDLELITERAL..qrst",
    "FIRSTLITERAL....wxyz.uv",
    "aaaa.STARLEFTSIDE" + ".".repeat(5000) + "STARRIGHTSIDE..zz99",
    "aaaa..STARLEFTSIDESTARRIGHTSIDEzz99",
    "eeee.EOFLITERALX",
    "...ab12ABSLITERAL",
    "qq..QQQQ",
  ];
  const misses = [
    "abcd......LONGLITERAL", // gap 6
    "abcd.LONGLITERAL", // gap 1
    "mnop....MIDDLELITERAL.qrst",
    "mnopMIDDLELITERAL...qrst",
    "FIRSTLITERAL...wxyz.uv",
    "aaaa...STARLEFTSIDE.STARRIGHTSIDE..zz99",
    "STARRIGHTSIDE..zz99 aaaa.STARLEFTSIDE",
    "....ab12ABSLITERAL",
  ];
  const bufs: Uint8Array[] = [];
  const pad = (n: number) => ".".repeat(n);
  for (const s of [...ins, ...misses]) {
    bufs.push(enc.encode(s)); // at both edges of the buffer
    bufs.push(enc.encode(pad(40) + s)); // Eof: ends 40 before... or not
    bufs.push(enc.encode(pad(3000) + s + pad(3000)));
    bufs.push(enc.encode(s + pad(17) + s + pad(5)));
  }
  assertSame(sigs, bufs, [0, 1, 2, 5, 16, 100], "segments");
  const on = Matcher.load(c, { prefilter: true });
  try {
    for (const s of ins.slice(0, 5)) assert.equal(hits(on, enc.encode(s), true).length, 1, s);
    for (const s of misses.slice(0, 6)) assert.deepEqual(hits(on, enc.encode(s), true), [], s);
  } finally {
    on.close();
  }
});
