/**
 * virtav against clamscan (the oracle): the same generated database of every wildcard and
 * offset form, the same generated corpus (and clamav-testfiles), unique (file, signature)
 * pairs must be identical. clamscan runs with every parser and heuristic off
 * (FIELD-NOTES.md, "clamscan as the oracle for virtav").
 */
import assert from "node:assert/strict";
import { generateCorpus, generateSignatures } from "../../lib/virtav/generate.ts";
import { findOnPath } from "../../lib/cli/doctor.ts";
import { clamscanOracleArgs, parseClamscanFound } from "../../lib/virtav/clamscan_oracle.ts";

const CLAMSCAN = findOnPath("clamscan");
const TESTFILES = "/usr/share/clamav-testfiles";
const BIN = new URL("../../bin/virtav", import.meta.url).pathname;

/** clamscan as the oracle over `targets`: its unique (file, signature) pairs. */
async function clamscanPairs(dbs: string[], targets: string[]): Promise<Set<string>> {
  const c = await run(CLAMSCAN!, clamscanOracleArgs(dbs, targets));
  assert.ok(
    c.code === 0 || c.code === 1,
    `clamscan refused: ${c.err.split("\n").slice(0, 3).join(" ")}`,
  );
  return new Set(parseClamscanFound(c.out).map((f) => `${f.path}\t${f.signature}`));
}

async function run(
  cmd: string,
  args: string[],
): Promise<{ code: number; out: string; err: string }> {
  const r = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const d = new TextDecoder();
  return { code: r.code, out: d.decode(r.stdout), err: d.decode(r.stderr) };
}

async function virtavPairs(args: string[]): Promise<Set<string>> {
  const r = await run(BIN, [
    "scan",
    "--no-db",
    "--no-eicar",
    "--no-cache",
    "--all-matches",
    "-i",
    "--output",
    "json",
    "-q",
    ...args,
  ]);
  assert.ok(r.code === 0 || r.code === 1, `virtav failed: ${r.err}`);
  const out = new Set<string>();
  for (const line of r.out.split("\n")) {
    if (!line) continue;
    const o = JSON.parse(line);
    if (o.status === "FOUND") out.add(`${o.path}\t${o.signature}`);
  }
  return out;
}

function diff(a: Set<string>, b: Set<string>): string[] {
  return [...a].filter((x) => !b.has(x)).slice(0, 10);
}

if (!CLAMSCAN) console.log("virtav_clamscan_test: skipped, clamscan is not installed");

Deno.test({
  name: "virtav scan equals clamscan --allmatch on a generated corpus with every wildcard form",
  ignore: !CLAMSCAN,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "virtav-cmp-" });
    try {
      const sigs = generateSignatures(1200, 7);
      await Deno.writeTextFile(`${dir}/gen.ndb`, sigs.map((s) => s.line).join("\n") + "\n");
      const files = generateCorpus(sigs, { files: 16, size: 192 * 1024, seed: 11 });
      await Deno.mkdir(`${dir}/corpus`);
      for (const f of files) await Deno.writeFile(`${dir}/corpus/${f.name}`, f.data);
      // A hash signature for one whole file.
      const { createHash } = await import("node:crypto");
      const md5 = createHash("md5").update(files[3].data).digest("hex");
      await Deno.writeTextFile(`${dir}/gen.hdb`, `${md5}:${files[3].data.length}:Gen.Hash.F3\n`);

      const want = await clamscanPairs([`${dir}/gen.ndb`, `${dir}/gen.hdb`], [`${dir}/corpus`]);
      const got = await virtavPairs([
        "-d",
        `${dir}/gen.ndb`,
        "-d",
        `${dir}/gen.hdb`,
        `${dir}/corpus`,
      ]);
      assert.ok(
        want.size > 100,
        `clamscan found only ${want.size} pairs: the corpus is not exercising much`,
      );
      assert.ok(want.has(`${dir}/corpus/${files[3].name}\tGen.Hash.F3`));
      assert.deepEqual(
        { missing: diff(want, got), extra: diff(got, want) },
        { missing: [], extra: [] },
      );
      assert.equal(got.size, want.size);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "virtav scan equals clamscan --allmatch on clamav-testfiles",
  ignore: !CLAMSCAN,
  async fn() {
    let present = true;
    try {
      await Deno.stat(TESTFILES);
    } catch {
      present = false;
    }
    if (!present) {
      console.log(`skipped: ${TESTFILES} is absent (Debian package clamav-testfiles)`);
      return;
    }
    const dir = await Deno.makeTempDir({ prefix: "virtav-cmp-" });
    try {
      // Signatures taken from the test files' own bytes: the ClamAV test marker, MZ/PE
      // fragments and archive magic, so the raw (parser-off) matches are exercised.
      const lines = [
        "Tf.ClamTest:0:*:436c616d4156{-40}5465737446696c65",
        "Tf.MZ:0:0:4d5a??00",
        "Tf.PE:0:*:50450000(4c01|6486)",
        "Tf.Zip:0:0:504b0304",
        "Tf.Rar:0:*:52617221",
        "Tf.Cab:0:0:4d534346",
        "Tf.Ole:0:0:d0cf11e0a1b11ae1",
        "Tf.Pdf:0:*:255044462d312e",
        "Tf.Gz:0:0:1f8b08",
        "Tf.Upx:0:*:55505830*55505831",
        "Tf.Html:0:*:3c68(74|54)(6d|4d)(6c|4c)",
        "Tf.Eof:0:EOF-4,4000:0000(00|01)00",
        "Tf.Nib:0:*:4c01??00(0?|1?)0000",
        "Tf.Neg:0:*:4c69627261!(72|73)79",
      ];
      await Deno.writeTextFile(`${dir}/tf.ndb`, lines.join("\n") + "\n");
      const want = await clamscanPairs([`${dir}/tf.ndb`], [TESTFILES]);
      const got = await virtavPairs(["-d", `${dir}/tf.ndb`, TESTFILES]);
      assert.ok(want.size > 10, `clamscan found only ${want.size} pairs`);
      assert.deepEqual({ missing: diff(want, got), extra: diff(got, want) }, {
        missing: [],
        extra: [],
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "virtav scan equals clamscan on [x-y] at every position and on gaps whose maximum is 0",
  ignore: !CLAMSCAN,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "virtav-cmp-" });
    try {
      // "XX" aa "QQ" "ABCD" "YY" bb "Z"x10, and "XX" "P" aa "Q" "ABCD" "Y" bb "R" "ZZ": the side
      // byte and the core sit at different distances from the other parts.
      const enc = (s: string) => [...s].map((c) => c.charCodeAt(0));
      await Deno.writeFile(
        `${dir}/f1`,
        new Uint8Array([...enc("XX"), 0xaa, ...enc("QQABCDYY"), 0xbb, ...enc("Z".repeat(10))]),
      );
      await Deno.writeFile(
        `${dir}/f2`,
        new Uint8Array([...enc("XXP"), 0xaa, ...enc("QABCDY"), 0xbb, ...enc("RZZ")]),
      );
      const core = "41424344";
      const lines = [
        // offsets: aa[x-y]CORE starts at CORE; CORE[x-y]bb at CORE
        ...[2, 3, 4, 5].map((o) => `Lead.O${o}:0:${o}:aa[1-3]${core}`),
        ...[2, 5, 6].map((o) => `Trail.O${o}:0:${o}:${core}[1-3]bb`),
        `Lead.Eof:0:EOF-17,2:aa[1-3]${core}`,
        // gaps before a leading side byte and after a trailing one
        ...["0-1", "1-1", "1-2", "0-2", "0-3", "2-4", "3-3", "4-9", "3-"].map((g) =>
          `Gap.Before.${g}:0:0:5858{${g}}aa[1-3]${core}`
        ),
        ...["0-1", "1-1", "1-2", "2-3", "3-3", "3-4", "4-", "-3"].map((g) =>
          `Gap.After.${g}:0:*:${core}[1-3]bb{${g}}5a5a`
        ),
        `Both:0:*:aa[1-3]${core}[1-3]bb`,
        // (clamscan merges patterns that differ only in their [x-y] distances and applies one
        // pattern's distances to all: keep every core/side-byte pair here distinct.)
        `Both.Far:0:*:aa[2-3]${core}59[0-2]bb*5a5a`,
        `Mid:0:*:5858*aa[0-3]${core}{0-4}5a5a`,
        // {0}, {0-0} and {-0} are `*`
        "Zero.A:0:*:5858{0-0}5a5a",
        "Zero.B:0:*:5858{0}5a5a",
        "Zero.C:0:*:5858{-0}5a5a",
        `Zero.D:0:0:5858{0}aa[1-3]${core}`,
        `Zero.E:0:0:5859{0-0}aa[1-3]${core}`,
      ];
      await Deno.writeTextFile(`${dir}/r.ndb`, lines.join("\n") + "\n");
      const want = await clamscanPairs([`${dir}/r.ndb`], [dir]);
      assert.ok(want.size >= 10, `clamscan found only ${want.size} pairs`);
      const got = await virtavPairs(["-d", `${dir}/r.ndb`, `${dir}/f1`, `${dir}/f2`]);
      assert.deepEqual([...got].sort(), [...want].sort());
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
