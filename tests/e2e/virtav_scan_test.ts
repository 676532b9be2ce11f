/**
 * `virtav scan` behaviour a user sees on the command line: hash signatures on memory inputs
 * (not applied, said so) and clamscan-compatible names (`--clamscan-names`).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";

const BIN = new URL("../../bin/virtav", import.meta.url).pathname;

async function virtav(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const r = await new Deno.Command(BIN, { args, stdout: "piped", stderr: "piped" }).output();
  const d = new TextDecoder();
  return { code: r.code, out: d.decode(r.stdout), err: d.decode(r.stderr) };
}

Deno.test("virtav scan: hash signatures match whole files, and on memory are counted as not applied", async () => {
  const dir = await Deno.makeTempDir({ prefix: "virtav-scan-" });
  try {
    const ram = new Uint8Array(64 * 1024);
    for (let i = 0; i < ram.length; i++) ram[i] = (i * 31 + 7) & 0xff;
    await Deno.writeFile(`${dir}/guest.ram`, ram);
    const md5 = createHash("md5").update(ram).digest("hex");
    await Deno.writeTextFile(`${dir}/h.hdb`, `${md5}:${ram.length}:Hash.WholeRam\n`);
    const common = ["scan", "--no-db", "--no-eicar", "--no-cache", "-d", `${dir}/h.hdb`];
    const file = await virtav([...common, `${dir}/guest.ram`]);
    assert.equal(file.code, 1, file.err);
    assert.equal(file.out, `${dir}/guest.ram: Hash.WholeRam FOUND\n`);
    const mem = await virtav([...common, "--memory", `${dir}/guest.ram`]);
    assert.equal(mem.code, 0, mem.err);
    assert.equal(mem.out, `${dir}/guest.ram: OK\n`);
    assert.match(mem.err, /1 hash signatures \(\.hdb\/\.hsb\) not applied/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const CLAMSCAN = (await import("../../lib/cli/doctor.ts")).findOnPath("clamscan");
if (!CLAMSCAN) {
  console.log("virtav_scan_test: clamscan-names test skipped, clamscan is not installed");
}

Deno.test({
  name: "virtav scan --clamscan-names prints what clamscan prints, byte for byte",
  ignore: !CLAMSCAN,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "virtav-scan-" });
    try {
      const enc = new TextEncoder();
      await Deno.writeFile(`${dir}/a.bin`, enc.encode("xxxxHELLO-VIRTAVyyyy"));
      await Deno.writeFile(`${dir}/b.bin`, enc.encode("nothing to see"));
      await Deno.writeFile(`${dir}/c.bin`, enc.encode("zzGOODBYE  VIRTAVzz"));
      const ndb = `${dir}/n.ndb`;
      await Deno.writeTextFile(
        ndb,
        `Hello.Sig:0:*:${[..."HELLO-VIRTAV"].map((c) => c.charCodeAt(0).toString(16)).join("")}\n` +
          "Bye.Sig:0:*:474f4f44425945{2}56495254\n",
      );
      const md5 = createHash("md5").update(enc.encode("nothing to see")).digest("hex");
      await Deno.writeTextFile(`${dir}/h.hdb`, `${md5}:14:Hash.Sig\n`);
      const files = ["a.bin", "b.bin", "c.bin"].map((f) => `${dir}/${f}`);
      // clamscan with its parsers and heuristics off (as in virtav_clamscan_test.ts), one
      // detection per file (no --allmatch).
      const flags = [
        "--heuristic-alerts=no",
        ...["archive", "pe", "elf", "ole2", "pdf", "swf", "html", "mail", "xmldocs", "hwp3"]
          .map((p) => `--scan-${p}=no`),
        ...["onenote", "image", "image-fuzzy-hash"].map((p) => `--scan-${p}=no`),
        "--no-summary",
      ];
      const c = await new Deno.Command(CLAMSCAN!, {
        args: [...flags, "-d", ndb, "-d", `${dir}/h.hdb`, ...files],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const want = new TextDecoder().decode(c.stdout);
      assert.match(want, /Hello\.Sig\.UNOFFICIAL FOUND/);
      const common = [
        "scan",
        "--no-db",
        "--no-eicar",
        "--no-cache",
        "-d",
        ndb,
        "-d",
        `${dir}/h.hdb`,
      ];
      const v = await virtav([...common, "--clamscan-names", ...files]);
      assert.equal(v.code, c.code, v.err);
      assert.equal(v.out, want);
      // The default keeps the database's own names.
      const plain = await virtav([...common, ...files]);
      assert.equal(plain.out, want.replaceAll(".UNOFFICIAL", ""));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
