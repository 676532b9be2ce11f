// Compressed traces and the public formats as a user has them (issue 18): files compressed by
// the real gzip, zstd and xz read like the plain file by every trace command, from a path and
// from stdin (several gzip members, zstd frames or xz streams as one, as zcat reads them, by every
// trace command); a damaged file is one line naming it; libCacheSim's oracleGeneral written by
// `trace convert` simulates to the same block-level figures as its source.
import assert from "node:assert/strict";

const root = new URL("../../", import.meta.url).pathname;
const fixtures = `${root}fixtures/traces`;
const pdcFixtures = `${root}fixtures/pdc`;

async function run(tool: string, args: string[], stdin?: Uint8Array) {
  const p = new Deno.Command(`${root}bin/${tool}`, {
    args,
    stdin: stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
    cwd: root,
  }).spawn();
  if (stdin) {
    const w = p.stdin.getWriter();
    await w.write(stdin);
    await w.close();
  }
  const o = await p.output();
  return {
    code: o.code,
    out: new TextDecoder().decode(o.stdout),
    err: new TextDecoder().decode(o.stderr),
  };
}

async function sh(cmd: string): Promise<void> {
  const o = await new Deno.Command("bash", { args: ["-c", cmd], stderr: "piped" }).output();
  assert.ok(o.success, `${cmd}: ${new TextDecoder().decode(o.stderr)}`);
}

const TOOLS = [
  { kind: "gzip", ext: "gz", make: "gzip -c" },
  { kind: "zstd", ext: "zst", make: "zstd -q -c" },
  { kind: "xz", ext: "xz", make: "xz -c" },
];

/** `trace stats --output json` without the fields that name the input. */
function stats(out: string) {
  const s = JSON.parse(out);
  delete s.input;
  delete s.compression;
  return s;
}

/**
 * A file of two compressed pieces (`cat a.gz b.gz`) reads as the two files one after the other in
 * every trace command: trace stats|head|convert, sim, mrc, pdc-filter classify.
 */
async function concatenatedEverywhere(
  kind: string,
  twoCsv: string,
  twoJsonl: string,
  make: string,
  plainJsonl: string,
) {
  const s2 = await run("qbic-cache", ["trace", "stats", "--no-db", "--output", "json", twoCsv]);
  assert.equal(s2.code, 0, `${kind}: ${s2.err}`);
  assert.equal(JSON.parse(s2.out).requests, 480, `${kind} concatenated`);
  const head = await run("qbic-cache", ["trace", "head", "-n", "300", twoCsv]);
  assert.equal(head.out.trim().split("\n").length, 300, `${kind} head`);
  const conv = await run("qbic-cache", ["trace", "convert", "--no-db", twoCsv, "--to", "jsonl"]);
  assert.equal(conv.out.trim().split("\n").length, 480, `${kind} convert`);
  const sim = await run("qbic-cache", ["sim", "--no-db", "--output", "json", "--trace", twoCsv]);
  assert.equal(JSON.parse(sim.out).requests, 480, `${kind} sim`);
  const mrc = await run("qbic-cache", [
    "mrc",
    "--no-db",
    "--no-svg",
    "--output",
    "json",
    "--trace",
    twoCsv,
  ]);
  const plainSim = await run("qbic-cache", [
    "mrc",
    "--no-db",
    "--no-svg",
    "--output",
    "json",
    "--trace",
    `${fixtures}/alibaba_block.csv`,
  ]);
  assert.equal(JSON.parse(mrc.out).accesses, 2 * JSON.parse(plainSim.out).accesses, `${kind} mrc`);
  await sh(`(${make} ${plainJsonl}; ${make} ${plainJsonl}) > ${twoJsonl}`);
  const doubled = twoJsonl.replace(/\.[a-z]+$/, ".plain");
  await sh(`cat ${plainJsonl} ${plainJsonl} > ${doubled}`);
  const want = await run("pdc-filter", ["classify", "--no-db", "-q", doubled]);
  const got = await run("pdc-filter", ["classify", "--no-db", "-q", twoJsonl]);
  assert.equal(got.code, 0, got.err);
  assert.equal(got.out, want.out, `${kind} classify`);
}

Deno.test("compressed traces: gzip, zstd, xz read as the plain file, by path and from stdin", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const plainCsv = `${fixtures}/alibaba_block.csv`;
    const plainJsonl = `${pdcFixtures}/ext4_guest_fsync_small.jsonl`;
    const want = await run("qbic-cache", [
      "trace",
      "stats",
      "--no-db",
      "--output",
      "json",
      plainCsv,
    ]);
    assert.equal(want.code, 0, want.err);
    const wantSim = await run("qbic-cache", [
      "sim",
      "--no-db",
      "--output",
      "json",
      "--trace",
      plainCsv,
      "--policy",
      "lru,s3fifo",
      "--size",
      "64K,1M",
    ]);
    const wantClassify = await run("pdc-filter", ["classify", "--no-db", "-q", plainJsonl]);
    assert.equal(wantClassify.code, 0, wantClassify.err);
    for (const t of TOOLS) {
      const csv = `${dir}/a.csv.${t.ext}`;
      await sh(`${t.make} ${plainCsv} > ${csv}`);
      const got = await run("qbic-cache", ["trace", "stats", "--no-db", "--output", "json", csv]);
      assert.equal(got.code, 0, got.err);
      assert.deepEqual(stats(got.out), stats(want.out), t.kind);
      assert.equal(JSON.parse(got.out).compression, t.kind);
      assert.equal(JSON.parse(got.out).format, "alibaba");
      const text = await run("qbic-cache", ["trace", "stats", "--no-db", csv]);
      assert.match(text.out, new RegExp(`^format +alibaba \\(${t.kind}\\)`), t.kind);
      // From stdin.
      const bytes = await Deno.readFile(csv);
      const piped = await run(
        "qbic-cache",
        ["trace", "stats", "--no-db", "--output", "json", "-"],
        bytes,
      );
      assert.deepEqual(stats(piped.out), stats(want.out), `${t.kind} from stdin`);
      // sim and mrc.
      const sim = await run("qbic-cache", [
        "sim",
        "--no-db",
        "--output",
        "json",
        "--trace",
        csv,
        "--policy",
        "lru,s3fifo",
        "--size",
        "64K,1M",
      ]);
      // Rows name their trace; the figures must be the plain file's.
      const rows = (out: string) =>
        JSON.parse(out).results.map((r: Record<string, unknown>) => ({ ...r, trace: undefined }));
      assert.deepEqual(rows(sim.out), rows(wantSim.out), t.kind);
      const mrc = await run("qbic-cache", ["mrc", "--no-db", "--no-svg", "--trace", csv]);
      assert.equal(mrc.code, 0, mrc.err);
      // pdc-filter reads a compressed JSON-lines trace itself.
      const jl = `${dir}/g.jsonl.${t.ext}`;
      await sh(`${t.make} ${plainJsonl} > ${jl}`);
      const cls = await run("pdc-filter", ["classify", "--no-db", "-q", jl]);
      assert.equal(cls.code, 0, cls.err);
      assert.equal(cls.out, wantClassify.out, `${t.kind} classify`);
      // Two compressed pieces one after the other read as the two files, as zcat does.
      const two = `${dir}/two.csv.${t.ext}`;
      await sh(`(${t.make} ${plainCsv}; ${t.make} ${plainCsv}) > ${two}`);
      await concatenatedEverywhere(t.kind, two, `${dir}/two.jsonl.${t.ext}`, t.make, plainJsonl);
      // Cut short: one line naming the file and the compression, exit 1, nothing on stdout.
      const cut = `${dir}/cut.csv.${t.ext}`;
      await Deno.writeFile(cut, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
      const bad = await run("qbic-cache", ["sim", "--no-db", "--trace", cut]);
      assert.equal(bad.code, 1, `${t.kind}: ${bad.err}`);
      assert.match(bad.err, new RegExp(`cut\\.csv\\.${t.ext}: ${t.kind}: `), t.kind);
      assert.equal(bad.err.trim().split("\n").length, 1, bad.err);
      assert.equal(bad.out, "");
    }
    // Bytes after a gzip member that are not one: one line saying so (zcat warns and reads on).
    const junk = `${dir}/junk.csv.gz`;
    await sh(`(gzip -c ${plainCsv}; echo trailing) > ${junk}`);
    const j = await run("qbic-cache", ["sim", "--no-db", "--trace", junk]);
    assert.equal(j.code, 1);
    assert.match(j.err, /junk\.csv\.gz: gzip: bytes after gzip member 1 are not a gzip member/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("oracleGeneral: convert, name it in stats, and simulate to the same block figures", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const src of ["alibaba_block.csv", "tencent_cbs.csv"]) {
      const og = `${dir}/${src}.oracleGeneral`;
      const c = await run("qbic-cache", [
        "trace",
        "convert",
        "--no-db",
        `${fixtures}/${src}`,
        "-o",
        og,
      ]);
      assert.equal(c.code, 0, c.err);
      assert.match(c.err, /-> oracleGeneral \(\d+ block accesses of 4096 bytes/);
      const st = await run("qbic-cache", ["trace", "stats", "--no-db", "--output", "json", og]);
      assert.equal(JSON.parse(st.out).format, "oracleGeneral");
      // zstd-compressed, as libCacheSim ships them: found by its name, read through zstd.
      await sh(`zstd -q -c ${og} > ${og}.zst`);
      const figures = async (trace: string) => {
        const r = await run("qbic-cache", [
          "sim",
          "--no-db",
          "--output",
          "json",
          "--trace",
          trace,
          "--policy",
          "lru,fifo,s3fifo,arc",
          "--size",
          "64K,256K,1M",
        ]);
        assert.equal(r.code, 0, r.err);
        return JSON.parse(r.out).results.map((x: Record<string, number>) => [
          x.policy,
          x.size,
          x.accesses,
          x.hits,
        ]);
      };
      const want = await figures(`${fixtures}/${src}`);
      assert.deepEqual(await figures(og), want, src);
      assert.deepEqual(await figures(`${og}.zst`), want, `${src}.zst`);
    }
    // --device keeps one volume.
    const one = await run("qbic-cache", [
      "trace",
      "stats",
      "--no-db",
      "--output",
      "json",
      "--device",
      "1063",
      `${fixtures}/tencent_cbs.csv`,
    ]);
    const s = JSON.parse(one.out);
    assert.ok(s.requests > 0 && s.requests + s.filtered_out === 240);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
