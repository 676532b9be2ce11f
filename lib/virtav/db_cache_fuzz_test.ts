/**
 * The compiled-database cache under damage (issue 15): random corruptions of a cache file
 * (bytes flipped, runs overwritten, truncated, extended, counts in the blob's header changed)
 * must give either a clean rebuild from the source database or a clear error, never a crash,
 * a wrong answer or an out-of-bounds access (the native loader validates every structure).
 * fast-check, bounded number of cases, seed printed.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { cacheChecksum, loadCompiled, openCompiled, SUM_AT } from "./db_cache.ts";
import { Matcher } from "./matcher.ts";
import { native } from "../ffi/ffi.ts";

const NDB = [
  "Fz.A:0:*:41424344{2-6}45464748",
  "Fz.B:0:*:5051(52|53|5455)56*5758",
  "Fz.C:0:10,20:6162636465",
  "Fz.D:0:*:(B)7071727374(W)",
  "Fz.E:0:EOF-35:8081??8283",
].join("\n") + "\n";
const HDB = "0cc175b9c0f1b6a831c399e269772661:1:Fz.H\n";
const TEXT = Uint8Array.from(
  [
    ..."..........ABCDxxEFGH....abcde....PQTUVxxxxxxWX... pqrst ..........\x80\x81z\x82\x83",
    ...".".repeat(30),
  ].map((c) => c.charCodeAt(0)),
);

Deno.test("db_cache: a corrupted cache file is rebuilt or refused, never trusted (fuzz)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "virtav-cache-fuzz-" });
  try {
    await Deno.writeTextFile(`${dir}/f.ndb`, NDB);
    await Deno.writeTextFile(`${dir}/f.hdb`, HDB);
    const paths = [`${dir}/f.ndb`, `${dir}/f.hdb`];
    const cacheDir = `${dir}/cache`;
    const fresh = await loadCompiled(paths, { eicar: false, cacheDir: null });
    const want = scanNames(fresh.compiled);
    assert.equal(want.length, 5, `the reference scan finds ${want}`);
    await loadCompiled(paths, { eicar: false, cacheDir }); // writes the cache file
    const [name] = [...Deno.readDirSync(cacheDir)].map((e) => e.name);
    const file = `${cacheDir}/${name}`;
    const good = await Deno.readFile(file);
    const seed = Number(Deno.env.get("VIRTAV_FUZZ_SEED") ?? Date.now() % 2 ** 31);
    console.log(`db_cache fuzz seed: ${seed} (replay: VIRTAV_FUZZ_SEED=${seed})`);
    const damage = fc.oneof(
      fc.record({
        kind: fc.constant("flip" as const),
        at: fc.nat(),
        bits: fc.integer({ min: 1, max: 255 }),
      }),
      fc.record({
        kind: fc.constant("run" as const),
        at: fc.nat(),
        bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }),
      }),
      fc.record({ kind: fc.constant("cut" as const), at: fc.nat() }),
      fc.record({ kind: fc.constant("grow" as const), bytes: fc.uint8Array({ maxLength: 64 }) }),
      fc.record({
        // a section length in the header (four u64 from byte 40): absurd, off by a little, or
        // at the top of the 64-bit range
        kind: fc.constant("len" as const),
        which: fc.integer({ min: 0, max: 3 }),
        value: fc.oneof(
          fc.constantFrom(0n, 2n ** 64n - 1n, 2n ** 63n, 2n ** 53n, 2n ** 32n),
          fc.bigInt({ min: 2n ** 64n - 2n ** 20n, max: 2n ** 64n - 1n }),
          fc.bigInt({ min: 0n, max: 2n ** 24n }),
        ),
      }),
      fc.record({
        kind: fc.constant("word" as const),
        at: fc.nat(),
        value: fc.oneof(
          fc.constantFrom(0, 1, 0x7fffffff, 0xffffffff, 0x80000000),
          fc.integer({ min: 0, max: 0xffffffff }),
        ),
      }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(damage, { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        async (ds, forge) => {
          const bytes = good.slice();
          let b: Uint8Array = bytes;
          for (const d of ds) {
            if (d.kind === "flip") b[d.at % b.length] ^= d.bits;
            else if (d.kind === "run") {
              b.set(d.bytes.subarray(0, b.length), Math.max(0, (d.at % b.length) - d.bytes.length));
            } else if (d.kind === "cut") b = b.slice(0, d.at % b.length);
            else if (d.kind === "grow") b = new Uint8Array([...b, ...d.bytes]);
            else if (d.kind === "len") {
              if (b.length >= 72) {
                new DataView(b.buffer, b.byteOffset).setBigUint64(40 + 8 * d.which, d.value, true);
              }
            } else if (b.length >= 4) {
              // a 32-bit word, aligned, anywhere (counts and offsets of the blob included)
              const at = (d.at % Math.floor(b.length / 4)) * 4;
              new DataView(b.buffer, b.byteOffset).setUint32(at, d.value, true);
            }
          }
          if (forge && b.length >= 128) {
            // a crafted file: the damage, then a checksum that matches it (the checksum sits in
            // the file; only the structural checks stand between such a file and the scanner)
            new DataView(b.buffer, b.byteOffset).setBigUint64(SUM_AT, cacheChecksum(b), true);
          }
          await Deno.writeFile(file, b);
          let r;
          try {
            r = await loadCompiled(paths, { eicar: false, cacheDir });
          } catch (e) {
            // a clear, one-line error is acceptable; a crash is not (it would end the process)
            assert.match((e as Error).message, /cache|database|compiled/i);
            return;
          }
          if (!forge || !r.cached) {
            // a damaged file is never used: what loads is a rebuild, and scans like the source
            assert.deepEqual(scanNames(r.compiled), want);
            assert.equal(r.summary.hashes.length, 1);
            return;
          }
          // a crafted file that passed every check is a structurally valid database: it loads
          // and scans without a fault (what it detects is what its author wrote)
          try {
            scanNames(r.compiled);
          } catch (e) {
            assert.match((e as Error).message, /database|Invalid argument/i);
          }
        },
      ),
      { seed, numRuns: 300 },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

function scanNames(c: { blob: Uint8Array; names: string[] }): string[] {
  const m = Matcher.load(c);
  try {
    return m.scanBuffer(TEXT, { allMatch: true }).map((h) => `${h.name}@${h.offset}`).sort();
  } finally {
    m.close();
  }
}

/** Where the prefilter section lies in a cache file (the fourth; sections at multiples of 64). */
function prefilterSection(b: Uint8Array): { at: number; len: number } {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const lens = [0, 1, 2, 3].map((i) => Number(dv.getBigUint64(40 + 8 * i, true)));
  const align = (n: number) => Math.ceil(n / 64) * 64;
  let at = 128;
  for (let i = 0; i < 3; i++) at = align(at + lens[i]);
  return { at, len: lens[3] };
}

Deno.test("db_cache: a damaged prefilter section (its tables) is compiled again, never trusted (fuzz)", async () => {
  // long literals and the sampler forced on: the tables then hold every part (claims,
  // segments, grouping, the sampler's entries)
  const ndb = NDB + "Fz.F:0:*:6a6b6c6d6e6f7071727374\nFz.G:0:*:7a7b7c7d{1-3}7e7f7c7b7a79\n";
  const text = Uint8Array.from(
    [...TEXT, ..."..jklmnopqrst..z{|}..~\x7f|{zy..".split("").map((c) => c.charCodeAt(0))],
  );
  const dir = await Deno.makeTempDir({ prefix: "virtav-pf-fuzz-" });
  native().vav_pf_sampler(1);
  try {
    await Deno.writeTextFile(`${dir}/f.ndb`, ndb);
    const paths = [`${dir}/f.ndb`], cacheDir = `${dir}/cache`;
    const scan = (m: Matcher) =>
      m.scanBuffer(text, { allMatch: true }).map((h) => `${h.name}@${h.offset}`).sort();
    const ref = await openCompiled(paths, { eicar: false, cacheDir, prefilter: true });
    const want = scan(ref.matcher);
    ref.matcher.close();
    assert.equal(want.length, 6, `the reference scan finds ${want}`); // Fz.E (EOF-35) not here
    const again = await openCompiled(paths, { eicar: false, cacheDir, prefilter: true });
    assert.ok(again.cached && !again.cacheNote, "the cache file is used as written");
    assert.equal(again.matcher.prefilterInfo().state, "attached");
    again.matcher.close();
    const file = `${cacheDir}/${
      [...Deno.readDirSync(cacheDir)].find((e) => e.name.endsWith(".vdb"))!.name
    }`;
    const good = await Deno.readFile(file);
    const pf = prefilterSection(good);
    assert.ok(pf.len > 48, "the database has a prefilter");
    const hsLen = Number(new DataView(good.buffer, pf.at + 24).getBigUint64(0, true));
    const tabAt = pf.at + 48 + hsLen;
    const seed = Number(Deno.env.get("VIRTAV_FUZZ_SEED") ?? Date.now() % 2 ** 31);
    console.log(`db_cache prefilter fuzz seed: ${seed} (replay: VIRTAV_FUZZ_SEED=${seed})`);
    const top = fc.oneof(
      fc.constantFrom(2n ** 64n - 1n, 2n ** 63n, 2n ** 63n - 1n, 2n ** 32n, 2n ** 32n - 1n, 0n),
      fc.bigInt({ min: 2n ** 64n - 2n ** 20n, max: 2n ** 64n - 1n }),
    );
    const damage = fc.oneof(
      fc.record({ kind: fc.constant("cut" as const), at: fc.nat() }),
      fc.record({
        kind: fc.constant("flip" as const),
        at: fc.nat(),
        bits: fc.integer({ min: 1, max: 255 }),
      }),
      // a u64 of the tables (their scalars first: counts, lengths, reaches) at the top of 64 bits
      fc.record({
        kind: fc.constant("u64" as const),
        at: fc.nat(),
        value: top,
        scalar: fc.boolean(),
      }),
      // the length of Hyperscan's bytes (what tells where the tables start)
      fc.record({ kind: fc.constant("hslen" as const), value: top }),
    );
    await fc.assert(
      fc.asyncProperty(damage, fc.boolean(), async (d, forge) => {
        let b = good.slice();
        const tabLen = () => b.length - tabAt;
        if (d.kind === "cut") b = b.slice(0, pf.at + (d.at % pf.len));
        else if (d.kind === "flip") b[tabAt + (d.at % (good.length - tabAt))] ^= d.bits;
        else if (d.kind === "u64") {
          const at = d.scalar ? (d.at % 19) * 8 : (d.at % Math.floor(tabLen() / 8)) * 8;
          new DataView(b.buffer, tabAt + at).setBigUint64(0, d.value, true);
        } else new DataView(b.buffer, pf.at + 24).setBigUint64(0, d.value, true);
        if (forge) {
          // crafted: the section's length, the tables' hash and the file's checksum made to
          // match the damage (only the bounds checks stand between these tables and the scan)
          const dv = new DataView(b.buffer);
          dv.setBigUint64(40 + 24, BigInt(b.length - pf.at), true);
          if (b.length >= tabAt) {
            const tabs = b.subarray(tabAt);
            const h = native().vav_hash64(tabs, BigInt(tabs.length), 0n) as bigint;
            dv.setBigUint64(pf.at + 40, BigInt.asUintN(64, BigInt(h)), true);
          }
          dv.setBigUint64(SUM_AT, cacheChecksum(b), true);
        }
        await Deno.writeFile(file, b);
        const r = await openCompiled(paths, { eicar: false, cacheDir, prefilter: true });
        try {
          const got = scan(r.matcher);
          if (r.cacheNote || !r.cached) {
            // refused: compiled again (the one-line note), scans like the source
            assert.deepEqual(got, want);
            assert.ok(!r.cached || /compiled again/.test(r.cacheNote ?? ""));
          }
        } finally {
          r.matcher.close();
        }
        // (a u64 set to the value it had is no damage: the file is then used as written)
        const same = b.length === good.length && b.every((x, i) => x === good[i]);
        if (!forge && !same) {
          assert.ok(!r.cached || r.cacheNote, "a damaged file is never used as it is");
        }
      }),
      { seed, numRuns: 200 },
    );
  } finally {
    native().vav_pf_sampler(0);
    await Deno.remove(dir, { recursive: true });
  }
});
