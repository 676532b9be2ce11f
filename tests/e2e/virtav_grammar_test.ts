/**
 * One fixed case per construct of clamscan 1.4.6's signature grammar and loading rules that
 * virtav once refused or got wrong (issue 14), each checked against clamscan itself: the same
 * load decision (exit 2 or not) and the same unique (file, signature) pairs.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  bytesOf,
  CLAMSCAN,
  clamscanSide,
  hexOf,
  pairDiff,
  run,
  virtavSide,
} from "./virtav_oracle.ts";

const BIN = new URL("../../bin/virtav", import.meta.url).pathname;
if (!CLAMSCAN) console.log("virtav_grammar_test: skipped, clamscan is not installed");

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "virtav-grammar-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Lines clamscan loads (each alone), and lines it refuses, with what each shows. */
const LOADED: [string, string][] = [
  ["4142(c6c7|)4344", "empty last member: ignored"],
  ["4142(c6c7||d0)4344", "empty middle member: ignored"],
  ["4142(c6)4344", "one-member alternative"],
  ["4142(7a{2}50|25c1)4344", "{n} inside a member"],
  ["4142(7a??(01|45)02|ff)50", "nested alternative with ?? in a member"],
  ["4142(4?|50)4344", "nibble in a member"],
  ["2e[2]41424344", "aa[n] single-number anchor"],
  ["41424344[1]2e", "[n]bb"],
  ["4142{10-5}4344", "reversed gap: loaded, never matches"],
  ["6f6f(L)62", "(L) inside a part"],
  ["(B)41424344", "(B) at the left edge"],
  ["!(B)41424344", "!(B) at the start: a byte, not an edge"],
  ["41424344!(W)", "!(W) at the right edge"],
  ["(4142|4344)4546", "a part starting with a multi-byte alternative"],
  ["!(4142|4344)4546", "negated fixed alternative"],
  ["4142(B)43", "(B) inside, two bytes before it"],
  ["41424344{5}4546{3-4}4748{200}494a", "{n} inlined, then parts"],
  ["41424344{0}4546", "{0} is *"],
];
const REFUSED: [string, string][] = [
  ["4142(|c6c7)4344", "empty first member"],
  ["4142()4344", "empty block"],
  ["!(c6|)41424344", "negated alternative with an empty member"],
  ["4142!(c6??|d0d1)4344", "negated alternative with ??"],
  ["4142(7a{1-2}50|25c1)4344", "ranged gap inside an alternative"],
  ["4142(7a*50|25c1)4344", "* inside an alternative"],
  ["4142{3-4}4344(7a{2}50|25c1)", "{n} in an alternative after a ranged gap"],
  ["4142{10-5}", "a part of one byte"],
  ["6f(L)6261", "prefilter: one byte before (L)"],
  ["41(4243|44)4546", "no two fixed bytes in a row"],
  ["41(B)4243", "prefilter: one byte before (B)"],
  ["41[40]4243", "[n] above 32"],
  ["41[3-2]424344", "reversed [x-y]"],
];

Deno.test({
  name: "virtav loads exactly the .ndb lines clamscan loads, one construct at a time",
  ignore: !CLAMSCAN,
  async fn() {
    await withDir(async (dir) => {
      await Deno.writeFile(`${dir}/target`, bytesOf("....ABCD...."));
      const wrong: string[] = [];
      const loaded = [
        ...LOADED.map(([h, why]) => [`S:0:*:${h}`, why] as const),
        ["S:0:*:zz:999", "MinFL above 216: skipped before parsing"] as const,
        ["S:0:*:41424344:216", "MinFL 216"] as const,
        ["S:0:*:41424344::215", "MaxFL 215: skipped"] as const,
        ["S:*:*:41424344", "TargetType *"] as const,
        ["S:20:*:zz", "target 20: skipped"] as const,
      ];
      // all loadable lines in one database: both load it
      await Deno.writeTextFile(`${dir}/all.ndb`, loaded.map(([l]) => l).join("\n") + "\n");
      const ca = await clamscanSide([`${dir}/all.ndb`], [`${dir}/target`]);
      const va = await virtavSide([`${dir}/all.ndb`], [`${dir}/target`]);
      assert.notEqual(ca.code, 2, ca.err);
      assert.notEqual(va.code, 2, va.err);
      // each refused line alone: both refuse it
      const refused = [
        ...REFUSED.map(([h, why]) => [`S:0:*:${h}`, why] as const),
        ["S:0:*:41424344:abc", "MinFL not a number"] as const,
      ];
      for (const [line, why] of refused) {
        await Deno.writeTextFile(`${dir}/one.ndb`, `${loaded[2][0]}\n${line}\n`);
        const c = await clamscanSide([`${dir}/one.ndb`], [`${dir}/target`]);
        const v = await virtavSide([`${dir}/one.ndb`], [`${dir}/target`]);
        if (c.code !== 2) wrong.push(`clamscan loads ${line} (${why}) now`);
        if (v.code !== 2) wrong.push(`virtav loads ${line} (${why}): ${v.code}`);
      }
      assert.deepEqual(wrong, []);
    });
  },
});

/**
 * Every construct inside text where each signature has its own word: clamscan merges patterns
 * whose bytes are equal and applies one's edge checks to all (see docs/virtav.md), so no two
 * signatures here share a core.
 */
function wordCase(): { sigs: string[]; text: string } {
  const h = hexOf;
  const sigs = [
    "(B)" + h("alpha"),
    h("beta") + "(B)",
    "(B)" + h("gamma") + "(B)",
    "!(B)" + h("delta"),
    h("epsilon") + "!(B)",
    h("ze") + "(B)" + h("ta"),
    h("eta") + "!(B)" + h("theta"),
    "(L)" + h("epsilon"),
    h("iota") + "(L)",
    "(W)" + h("kappa"),
    h("lambda") + "(W)",
    h("mu") + "(W)" + h("nu"),
    h("xi") + "!(W)" + h("omi"),
    "(L)" + h("pi") + "(L)",
    h("rho") + "(B)" + h("sigma"),
    "(W)(B)" + h("tau"),
    h("upsilon") + "{2-5}(B)" + h("phi"),
    h("chi") + "(B){1-5}" + h("psi"),
    "(L)" + h("one") + "*(W)" + h("two") + "(B)",
    h("e") + "[1-2](B)" + h("three"),
    h("four") + "(W)[1-2]" + h("v"),
    h("six") + "!(L)",
    h("seven") + "!(W)",
    h("eight") + "(W)",
    h("nine") + "!(W)",
    "(B)" + h("ten"),
    h("eleven") + "!(B)",
    h("twelve") + "(L)",
    h("omega") + "(B)",
    "(W)" + h("psi"),
  ];
  const text = "QQ alpha.beta gamma-delta\nepsilon\r\nzeta_eta theta;iota kappa lambda\tmu nu\r" +
    'xi omicron/pi rho=sigma tau>upsilon phi<chi psi@omega one\x0btwo three\x0cfour five"six ' +
    "seven'eight nine(ten eleven)twelve\n";
  return { sigs, text };
}

/** Alternatives of every accepted kind, with bytes around each case. */
function altCase(): { sigs: string[]; files: string[] } {
  const sigs = [
    "5051(c6c7||d0)5253",
    "5152(c6|d0|)5354",
    "5253(c6c7|)5455",
    "5354(7a{2}50|25c1)5556",
    "5455(7a??(01|45)02|ff)50",
    "5556(57)5859",
    "5657(4?|60)5859",
    "2e[2]61626364",
    "61626364[1]2e",
    "6162{10-5}6364",
    "(6465|6667)6869",
    "!(6a6b|6c6d)6e6f",
    "7071!(72|73)7475",
  ];
  const p = "\x2e\x2e\x2e\x2e\x2e\x2e\x2e\x2e";
  const cases = [
    "PQ\xc6\xc7RS",
    "PQ\xd0RS",
    "PQRS",
    "QR\xc6ST",
    "QR\xd0ST",
    "RS\xc6\xc7TU",
    "RSTU",
    "ST\x7a\x11\x22\x50UV",
    "ST\x25\xc1UV",
    "TU\x7a\x99\x45\x02\x50",
    "TU\x7a\x99\x46\x02\x50",
    "TU\xff\x50",
    "UVWXY",
    "VW\x4fXY",
    "VW\x60XY",
    "VW\x5fXY",
    ".\x2e\x2eabcd",
    "abcd\x2e",
    "ab" + ".".repeat(7) + "cd",
    "dehi",
    "fghi",
    "jkno",
    "xyno",
    "pq\x72tu",
    "pq\x74tu",
  ];
  return { sigs, files: cases.map((c) => p + c + p) };
}

Deno.test({
  name: "virtav finds what clamscan finds for alternatives, anchors and (B)/(L)/(W)",
  ignore: !CLAMSCAN,
  async fn() {
    await withDir(async (dir) => {
      const w = wordCase(), a = altCase();
      const lines = [
        ...w.sigs.map((s, i) => `Word.${i}:0:*:${s}`),
        ...a.sigs.map((s, i) => `Alt.${i}:0:*:${s}`),
      ];
      await Deno.writeTextFile(`${dir}/g.ndb`, lines.join("\n") + "\n");
      await Deno.mkdir(`${dir}/files`);
      await Deno.writeFile(`${dir}/files/words`, bytesOf(w.text));
      // the same text with separators changed, so each edge check is met and missed somewhere
      const seps = " \n\r\t.-_;/=<>@\"'()abcxyz019\x0b\x0c";
      let seed = 7;
      const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
      for (let k = 0; k < 8; k++) {
        const b = bytesOf(w.text);
        for (let j = 0; j < 16; j++) b[rnd(b.length)] = seps.charCodeAt(rnd(seps.length));
        await Deno.writeFile(`${dir}/files/words${k}`, b);
      }
      for (const [i, f] of a.files.entries()) {
        await Deno.writeFile(`${dir}/files/alt${i}`, bytesOf(f));
      }
      const c = await clamscanSide([`${dir}/g.ndb`], [`${dir}/files`]);
      const v = await virtavSide([`${dir}/g.ndb`], [`${dir}/files`]);
      assert.equal(c.code, 1, c.err);
      assert.ok(c.pairs.size > 60, `clamscan found only ${c.pairs.size}`);
      assert.deepEqual(pairDiff(c.pairs, v.pairs), { onlyClamscan: [], onlyVirtav: [] });
    });
  },
});

Deno.test({
  name: "virtav loads and applies hash databases as clamscan: levels, size 0, *, small files",
  ignore: !CLAMSCAN,
  async fn() {
    await withDir(async (dir) => {
      const files: Record<string, string> = {
        f6: "abcdef",
        f5: "abcde",
        f40: "x".repeat(40),
        f41: "y".repeat(41),
      };
      for (const [n, t] of Object.entries(files)) await Deno.writeFile(`${dir}/${n}`, bytesOf(t));
      await Deno.writeFile(`${dir}/empty`, new Uint8Array());
      const md5 = (t: string) => createHash("md5").update(bytesOf(t)).digest("hex");
      const sha256 = (t: string) => createHash("sha256").update(bytesOf(t)).digest("hex");
      await Deno.writeTextFile(
        `${dir}/h.hdb`,
        [
          `${md5("abcdef")}:6:H.Six`,
          `${md5("abcde")}:5:H.Five`,
          `${md5("")}:*:H.Empty:73`,
          `${md5("x".repeat(40))}:40:H.Fl216:216`,
          `${md5("x".repeat(40))}:40:H.Fl217:217`,
          `${md5("y".repeat(41))}:41:H.Max215:1:215`,
          `${md5("y".repeat(41))}:41:H.Max216:1:216`,
          `${md5("y".repeat(41))}:0:H.SizeZeroButSkipped:999`,
        ].join("\n") + "\n",
      );
      await Deno.writeTextFile(
        `${dir}/h.hsb`,
        `${sha256("abcdef")}:*:S.Six:73\n${sha256("abcdef")}:6:S.SixFl:300\n`,
      );
      await Deno.writeTextFile(`${dir}/s.mdb`, `4096:${md5("section")}:M.Sect:216\n`);
      const dbs = [`${dir}/h.hdb`, `${dir}/h.hsb`, `${dir}/s.mdb`];
      const targets = [...Object.keys(files), "empty"].map((n) => `${dir}/${n}`);
      const c = await clamscanSide(dbs, targets);
      const v = await virtavSide(dbs, targets);
      assert.equal(c.code, 1, c.err);
      assert.deepEqual(pairDiff(c.pairs, v.pairs), { onlyClamscan: [], onlyVirtav: [] });
      assert.ok(c.pairs.has(`${dir}/f6\tH.Six`) && c.pairs.has(`${dir}/f41\tH.Max216`));
      // refused like clamscan: a size of 0, `*` without MinFL >= 73, a malformed .mdb line
      for (const bad of [`${md5("a")}:0:Z`, `${md5("a")}:*:Z:72`, `${md5("a")}:*:Z`]) {
        await Deno.writeTextFile(`${dir}/bad.hdb`, bad + "\n");
        const cb = await clamscanSide([`${dir}/bad.hdb`], [`${dir}/f6`]);
        const vb = await virtavSide([`${dir}/bad.hdb`], [`${dir}/f6`]);
        assert.equal(cb.code, 2, bad);
        assert.equal(vb.code, 2, `${bad}: ${vb.err}`);
      }
      await Deno.writeTextFile(`${dir}/bad.mdb`, "x:y:Z\n");
      assert.equal((await virtavSide([`${dir}/bad.mdb`], [`${dir}/f6`])).code, 2);
      assert.equal((await clamscanSide([`${dir}/bad.mdb`], [`${dir}/f6`])).code, 2);
    });
  },
});

Deno.test({
  name: "virtav's exit codes, messages and database handling follow clamscan's",
  ignore: !CLAMSCAN,
  async fn() {
    await withDir(async (dir) => {
      const eicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
      await Deno.writeFile(`${dir}/eicar.com`, bytesOf(eicar));
      await Deno.writeFile(`${dir}/clean`, bytesOf("nothing to see here"));
      await Deno.writeFile(`${dir}/empty`, new Uint8Array());
      await Deno.writeTextFile(`${dir}/s.ndb`, `T.Nothing:0:*:${hexOf("to see")}\n`);
      await Deno.writeFile(`${dir}/empty.ndb`, new Uint8Array());
      await Deno.writeTextFile(`${dir}/comments.ndb`, "# only a comment\n");
      await Deno.mkdir(`${dir}/nodb`);
      await Deno.writeTextFile(`${dir}/nodb/readme.txt`, "not a database\n");
      await Deno.mkdir(`${dir}/dbdir`);
      await Deno.writeTextFile(`${dir}/dbdir/a.ndb`, `T.Dir:0:*:${hexOf("nothing")}\n`);
      await Deno.symlink(`${dir}/gone.ndb`, `${dir}/dbdir/broken.ndb`);
      await Deno.mkdir(`${dir}/scan`);
      await Deno.writeFile(`${dir}/scan/clean`, bytesOf("nothing to see here"));
      await Deno.symlink(`${dir}/gone`, `${dir}/scan/broken`);
      const both = async (args: string[]) => {
        const c = await run(CLAMSCAN!, ["--no-summary", ...args]);
        const v = await run(BIN, ["scan", "--no-db", "--no-cache", ...args]);
        return { c, v };
      };
      const cases: [string[], number, string][] = [
        [["-d", `${dir}/s.ndb`, `${dir}/clean`], 1, "found"],
        [["-d", `${dir}/s.ndb`, `${dir}/empty`], 0, "empty file"],
        [["-d", `${dir}/s.ndb`, `${dir}/eicar.com`], 0, "no built-in EICAR with -d"],
        [["-d", `${dir}/s.ndb`, `${dir}/missing`], 2, "missing path"],
        [["-d", `${dir}/s.ndb`, `${dir}/missing`, `${dir}/clean`], 1, "found and missing"],
        [["-d", `${dir}/empty.ndb`, `${dir}/clean`], 2, "empty database file"],
        [["-d", `${dir}/comments.ndb`, `${dir}/clean`], 0, "comments only: loads"],
        [["-d", `${dir}/nodb`, `${dir}/clean`], 2, "directory without databases"],
        [["-d", `${dir}/dbdir`, `${dir}/clean`], 1, "broken symlink in a database directory"],
        [["-d", `${dir}/s.ndb`, `${dir}/scan`], 1, "broken symlink in a scanned directory"],
      ];
      for (const [args, want, why] of cases) {
        const { c, v } = await both(args);
        assert.equal(c.code, want, `clamscan, ${why}: ${c.err}`);
        assert.equal(v.code, want, `virtav, ${why}: ${v.err}`);
      }
      const { c, v } = await both(["-d", `${dir}/s.ndb`, `${dir}/empty`, `${dir}/scan`]);
      for (const line of [`${dir}/empty: Empty file`, `${dir}/scan/broken: Symbolic link`]) {
        assert.ok(c.out.includes(line), c.out);
        assert.ok(v.out.includes(line), v.out);
      }
      // without -d, the built-in EICAR (said on stderr)
      const r = await run(BIN, ["scan", "--no-db", "--no-cache", `${dir}/eicar.com`]);
      assert.equal(r.code, 1);
      assert.match(r.out, /eicar\.com: Eicar-Test-Signature FOUND/);
      assert.match(r.err, /built-in EICAR/);
    });
  },
});

Deno.test({
  name: "virtav takes, per entry point, the way through a part clamscan's search takes first",
  ignore: !CLAMSCAN,
  async fn() {
    await withDir(async (dir) => {
      // each a difference the differential tests once found, or a neighbour of one
      const sigs = [
        // the first member that completes the part wins, so the {1-1} gap after it fails
        "dc[4-7]14382aa2c?(52|5246|66f68c){1-1}15405f71{1}b3a14a(63|45|65)",
        "14382aa2c?(52|5246|66f68c){1-1}15405f71",
        "24382aa2c?(5246|52|66f68c){1-1}25405f71",
        "34382aa2c?(52|5246|66f68c){0-1}35405f71",
        // before the entry point: a unique member is taken as soon as its bytes match
        "(a0|e0a0)b1b2b3b4",
        "c0c9(a1|e1a1)c1c2c3c4",
        // a non-unique member at the part's very start never matches backwards
        "(d0|d0e0)d1d2d3d4",
        "f0f1(a5|a5e5)f2f3f4f5",
        // !(L) inside a part: any byte but \n and the \r of \r\n
        "717273!(L)74",
        // (L) before the entry, checked backwards: on "\r\n" it takes the "\r" and the byte before
        "a1a2(L)0ab1b2b3",
      ];
      await Deno.writeTextFile(
        `${dir}/o.ndb`,
        sigs.map((s, i) => `Order.${i}:0:*:${s}`).join("\n") + "\n",
      );
      const files = [
        "dc472f5f202f14382aa2c75246641540 5f717db3a14a63",
        "14382aa2c75246641540 5f71",
        "24382aa2c75246642540 5f71",
        "34382aa2c752463540 5f71",
        "e0a0b1b2b3b4",
        "a0b1b2b3b4",
        "c0c9e1a1c1c2c3c4",
        "c0c9a1c1c2c3c4",
        "d0e0d1d2d3d4",
        "d0d1d2d3d4",
        "f0f1a5e5f2f3f4f5",
        "f0f1a5f2f3f4f5",
        "7172730a74",
        "7172730d74",
        "7172730d0a74",
        "7172732074",
        "a1a2770d0ab1b2b3",
        "a1a20d0a0ab1b2b3",
        "a1a20a0ab1b2b3",
      ];
      await Deno.mkdir(`${dir}/f`);
      const pad = "2e".repeat(8);
      for (const [i, h] of files.entries()) {
        const bytes = (pad + h.replaceAll(" ", "") + pad).match(/../g)!.map((x) => parseInt(x, 16));
        await Deno.writeFile(`${dir}/f/o${i}`, Uint8Array.from(bytes));
      }
      const c = await clamscanSide([`${dir}/o.ndb`], [`${dir}/f`]);
      const v = await virtavSide([`${dir}/o.ndb`], [`${dir}/f`]);
      assert.ok(c.pairs.size >= 6, `clamscan found only ${c.pairs.size}: ${c.err}`);
      assert.deepEqual(pairDiff(c.pairs, v.pairs), { onlyClamscan: [], onlyVirtav: [] });
    });
  },
});

Deno.test({
  name: "virtav answers as clamscan where a match runs past the file's end, and for empty members",
  ignore: !CLAMSCAN,
  async fn() {
    await withDir(async (dir) => {
      // each a difference the differential test once found (docs/virtav.md)
      const sigs = [
        "a1a2a3a4??a5a6",
        "b1b2b3(c6|d0)b4b5",
        "c1c2c3c4(c6c7|d0d1)c5",
        "d1d2d3d4(B)",
        "e1e2e3e4!(B)",
        "919293(9495|96)97",
        "818283(8485|86|)8788",
        "27c53e(6c{1}7d|dd2d)aa04c3{7}da4ed2",
        "73093b!(W)0e",
        "cd23ac3e81*a3902b(c2|6578|3a9f6e)",
        "a1a2(c6|)a3a4",
        "b1b2b3(c6|)b4",
        "c1c2c3c4(c6|)c5c6",
        "d1d2d3d4(c6c7|)d5d6",
        "f1??f2f3f4(c6|)f5f6",
        // a negated alternative cut by the end matches; clamscan then moves on by one byte
        "110916be37{7-7}c98bf4(L)93(00??(11|86)0d|a6a6|6?60)!(819a|7910|1f20)",
        "a1b1c1(L)(L)!(112233|445566)dd",
        "a2b2c2(L)(L)!(112233|445566)",
        "a3b3c3(L)(L)!(112233|445566)ee",
      ];
      await Deno.writeTextFile(
        `${dir}/e.ndb`,
        sigs.map((s, i) => `End.${i}:0:*:${s}`).join("\n") + "\n",
      );
      const pad = "2e".repeat(8);
      const files = [
        "a1a2a3a4",
        "a1a2a3a4ffa5",
        "b1b2b3c6",
        "c1c2c3c4c6",
        "d1d2d3d4",
        "e1e2e3e4",
        "9192939495",
        "8182838485",
        "81828387",
        "818283",
        "27c53e6c617daa04c3685f4520022e0cda4e",
        "73093b31",
        `cd23ac3e81${pad}a3902b65`,
        `a1a2a3a4${pad}`,
        `b1b2b3b4${pad}`,
        `c1c2c3c4c5c6${pad}`,
        `d1d2d3d4d5d6${pad}`,
        `f100f2f3f4f5f6${pad}`,
        "110916be37752e2c716c78e8c98bf40d0a936360",
        "a1b1c10d0a0d0a11dd",
        "a2b2c20d0a0d0a11",
        "a3b3c30d0a0d0a11dd",
      ];
      await Deno.mkdir(`${dir}/f`);
      for (const [i, h] of files.entries()) {
        const bytes = (pad + h).match(/../g)!.map((x) => parseInt(x, 16));
        await Deno.writeFile(`${dir}/f/e${i}`, Uint8Array.from(bytes));
      }
      const c = await clamscanSide([`${dir}/e.ndb`], [`${dir}/f`]);
      const v = await virtavSide([`${dir}/e.ndb`], [`${dir}/f`]);
      assert.ok(c.pairs.size >= 8, `clamscan found only ${c.pairs.size}`);
      assert.deepEqual(pairDiff(c.pairs, v.pairs), { onlyClamscan: [], onlyVirtav: [] });
    });
  },
});
