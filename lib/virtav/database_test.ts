import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { addDatabaseFile, emptyDatabase, firstError, loadDatabase } from "./database.ts";
import { readCvd } from "./cvd.ts";
import { parseHexSignature } from "./hex_signature.ts";
import { openGuestMemory } from "./guest_memory.ts";
import { prng } from "./generate.ts";

/** A ustar archive of the given files. */
function tar(files: Record<string, string>): Uint8Array {
  const parts: Uint8Array[] = [];
  const enc = new TextEncoder();
  for (const [name, text] of Object.entries(files)) {
    const data = enc.encode(text);
    const h = new Uint8Array(512);
    h.set(enc.encode(name), 0);
    h.set(enc.encode("0000644\0"), 100);
    h.set(enc.encode("0000000\0"), 108);
    h.set(enc.encode("0000000\0"), 116);
    h.set(enc.encode(data.length.toString(8).padStart(11, "0") + "\0"), 124);
    h.set(enc.encode("00000000000\0"), 136);
    h[156] = 0x30;
    h.set(enc.encode("ustar\0" + "00"), 257);
    h.fill(0x20, 148, 156);
    const sum = h.reduce((a, b) => a + b, 0);
    h.set(enc.encode(sum.toString(8).padStart(6, "0") + "\0 "), 148);
    parts.push(h, data, new Uint8Array((512 - (data.length % 512)) % 512));
  }
  parts.push(new Uint8Array(1024));
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

async function gzip(data: Uint8Array): Promise<Uint8Array> {
  const s = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new CompressionStream("gzip"),
  );
  return new Uint8Array(await new Response(s).arrayBuffer());
}

/** A .cvd: 512-byte header then tar.gz, as ClamAV builds them. */
export async function buildCvd(files: Record<string, string>): Promise<Uint8Array> {
  const body = await gzip(tar(files));
  const md5 = createHash("md5").update(body).digest("hex");
  const header = `ClamAV-VDB:01 Jan 2025 00-00 +0000:1:${
    Object.keys(files).length
  }:90:${md5}:nosig:hvkit:1735689600`;
  const out = new Uint8Array(512 + body.length).fill(0x20, 0, 512);
  out.set(new TextEncoder().encode(header), 0);
  out.set(body, 512);
  return out;
}

Deno.test("cvd: members are read, unusable kinds counted, truncation is a clear error", async () => {
  const cvd = await buildCvd({
    "test.ndb": "Cvd.A:0:*:0011223344\nCvd.B:1:EP+0:5566778899\nCvd.C:3:*:aabbccdd\n",
    "test.hdb": "44d88612fea8a8f36de82e1278abb02f:68:Cvd.Eicar.Hash\n",
    "test.ldb": "Logical;Target:3;0;aabbccdd\n",
    "test.info": "whatever\n",
  });
  const db = emptyDatabase();
  await addDatabaseFile(db, "x.cvd", cvd);
  assert.deepEqual(db.body.map((s) => s.name), ["Cvd.A"]);
  assert.deepEqual(db.hashes.map((s) => s.name), ["Cvd.Eicar.Hash"]);
  assert.equal(db.unsupported.get("logical signatures (.ldb): target type 3"), 1);
  assert.equal(
    db.unsupported.get("offset EP+0 needs a parsed executable (entry point/section)"),
    1,
  );
  assert.equal(db.unsupported.get("target type 3 (normalized HTML)"), 1);
  for (const cut of [100, 511, 512, 600, cvd.length - 30]) {
    await assert.rejects(() => readCvd(cvd.subarray(0, cut)), /truncated|MD5|header/);
  }
  await assert.rejects(
    () => readCvd(new TextEncoder().encode("not a cvd".padEnd(600))),
    /not a ClamAV database/,
  );
});

Deno.test("database: a malformed line is named with file and line number", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/bad.ndb`,
      "Ok.A:0:*:00112233\n# comment\nBad.B:0:*:0011zz33\nBad.C:0:*:00\n",
    );
    const db = await loadDatabase([dir], { eicar: false });
    assert.equal(db.body.length, 1);
    assert.deepEqual(db.errors.map((e) => [e.line, e.file.endsWith("bad.ndb")]), [[3, true], [
      4,
      true,
    ]]);
    assert.match(
      firstError(db)!,
      /bad\.ndb:3: malformed signature: not a hex byte: "zz" at 4 \(and 1 more\)/,
    );
    await assert.rejects(() => loadDatabase([`${dir}/absent.ndb`]), /absent\.ndb/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("hex signatures: rules clamscan enforces are enforced", () => {
  for (
    const bad of [
      "6865*6c", // a part with one fixed byte
      "(68|69)65", // no two consecutive fixed bytes
      "686?6c",
      "6865**6c6c", // empty part
      "*6865", // leading gap
      "6865*", // trailing gap
      "68656c6c[1-33]77", // range above 32
      "cacc[1-7]6eb21505", // [x-y] without a single byte on either side
      "6865!(6c|6f6f)6f20", // negated alternatives of different lengths
      "686", // odd digits
      "6865{3", // unclosed
    ]
  ) {
    assert.throws(() => parseHexSignature(bad), (e: Error) => e.name === "SignatureError", bad);
  }
});

Deno.test("parsers survive random and truncated input (bounded fuzz)", async () => {
  const rand = prng(5);
  const alphabet = "0123456789abcdef?*{}-[]()|!:,EOF";
  for (let i = 0; i < 3000; i++) {
    const len = Math.floor(rand() * 40);
    let s = "";
    for (let k = 0; k < len; k++) s += alphabet[Math.floor(rand() * alphabet.length)];
    const db = emptyDatabase();
    await addDatabaseFile(db, "fuzz.ndb", new TextEncoder().encode(`F:0:*:${s}\n${s}\n`));
    assert.equal(
      db.body.length + db.errors.length + [...db.unsupported.values()].reduce((a, b) => a + b, 0),
      2,
    );
  }
  const cvd = await buildCvd({ "a.ndb": "A:0:*:00112233\n" });
  for (let i = 0; i < 200; i++) {
    const damaged = cvd.slice();
    damaged[512 + Math.floor(rand() * (cvd.length - 512))] ^= 1 + Math.floor(rand() * 255);
    await assert.rejects(() => readCvd(damaged), /MD5/);
  }
});

Deno.test("memory: a dump that is not ELF, and a big raw file without --lowmem, are clear errors", async () => {
  const f = await Deno.makeTempFile();
  try {
    await Deno.writeTextFile(f, "this is not an ELF file at all".repeat(10));
    assert.throws(() => openGuestMemory(f, { format: "elf" }), /not an ELF file/);
    const head = new Uint8Array(64);
    head.set([0x7f, 0x45, 0x4c, 0x46, 2, 1]);
    await Deno.writeFile(f, head);
    assert.throws(() => openGuestMemory(f), /program headers missing or outside the file/);
    await Deno.writeFile(f, new Uint8Array(4)); // not ELF, 4 bytes: raw, small
    const m = openGuestMemory(f);
    assert.equal(m.kind, "raw");
    m.file.close();
    await Deno.truncate(f, 3 * 2 ** 30); // sparse 3 GiB RAM file: the PCI hole needs --lowmem
    assert.throws(() => openGuestMemory(f), /give --lowmem/);
    const split = openGuestMemory(f, { lowmem: 2 * 2 ** 30 });
    assert.deepEqual(split.segments.map((s) => s.pa), [0, 4 * 2 ** 30]);
    split.file.close();
  } finally {
    await Deno.remove(f);
  }
});
