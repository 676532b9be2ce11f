/**
 * The compiled-database cache under damage (issue 15): random corruptions of a cache file
 * (bytes flipped, runs overwritten, truncated, extended, counts in the blob's header changed)
 * must give either a clean rebuild from the source database or a clear error, never a crash,
 * a wrong answer or an out-of-bounds access (the native loader validates every structure).
 * fast-check, bounded number of cases, seed printed.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { cacheChecksum, loadCompiled, SUM_AT } from "./db_cache.ts";
import { Matcher } from "./matcher.ts";

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
