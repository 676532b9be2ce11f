import assert from "node:assert/strict";

const BIN = new URL("../../bin/pviommu", import.meta.url).pathname;
const FIX = new URL("../../fixtures/pviommu/", import.meta.url).pathname;

async function run(args: string[], stdin?: Uint8Array) {
  const p = new Deno.Command(BIN, {
    args,
    stdin: stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  })
    .spawn();
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

Deno.test("pviommu e2e: audit reports each violation kind; bad input is one line, exit 1", async () => {
  const r = await run(["audit", "--no-db", "--output", "json", FIX + "violations.jsonl"]);
  assert.equal(r.code, 0, r.err);
  const rep = JSON.parse(r.out);
  assert.deepEqual(rep.byKind, { request: 2, fault: 3, "use-after-unmap": 1 });
  const f = await run(["audit", "--no-db", "--fail-on-violation", FIX + "violations.jsonl"]);
  assert.equal(f.code, 1);
  const bad = await run(["audit", "--no-db", "-"], new TextEncoder().encode('{"op":"map"}\n'));
  assert.equal(bad.code, 1);
  assert.match(bad.err.trim(), /^pviommu: -: line 1: map needs domain$/);
});

Deno.test("pviommu e2e: the recorded intel-iommu trace imports and audits clean", async () => {
  const imp = await run(["import", FIX + "vtd_boot.trace"]);
  assert.equal(imp.code, 0, imp.err);
  assert.equal(imp.out, await Deno.readTextFile(FIX + "vtd_boot.events.jsonl"));
  const r = await run(
    ["audit", "--no-db", "--output", "json", "-"],
    new TextEncoder().encode(imp.out),
  );
  assert.equal(JSON.parse(r.out).violations, 0);
});

Deno.test("pviommu e2e: serve on a Unix socket answers request, survives a bad client", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pviommu-e2e-" });
  const sock = `${dir}/viommu.sock`;
  const server = new Deno.Command(BIN, {
    args: ["serve", "--no-db", "-q", "--socket", sock],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    for (let i = 0; i < 100; i++) {
      try {
        await Deno.stat(sock);
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const req = (...a: string[]) => run(["request", "--socket", sock, ...a]);
    assert.equal((await req("attach", "--domain", "1", "--endpoint", "8")).out.trim(), "OK");
    // A client that sends garbage and hangs up must not stop the server.
    const c = await Deno.connect({ transport: "unix", path: sock });
    await c.write(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 1));
    c.close();
    const m = await req(
      "map",
      "--domain",
      "1",
      "--virt",
      "0x1000",
      "--len",
      "8192",
      "--phys",
      "0x40000",
      "--flags",
      "read",
    );
    assert.equal(m.out.trim(), "OK");
    const split = await req("unmap", "--domain", "1", "--virt", "0x1000", "--len", "4096");
    assert.equal(split.out.trim(), "RANGE");
    assert.equal(split.code, 1);
    const p = await req("probe", "--endpoint", "8");
    assert.match(p.out, /^OK \[\{"subtype":1,"start":4276092928,"end":4277141503\}\]/);
    assert.equal(
      (await req("map", "--domain", "9", "--virt", "0", "--len", "4096")).out.trim(),
      "NOENT",
    );
  } finally {
    server.kill("SIGTERM");
    await server.status;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pviommu e2e: the top of the 64-bit IOVA space audits, prints and stores exactly", async () => {
  const dir = await Deno.makeTempDir();
  const db = `${dir}/r.duckdb`;
  const trace = [
    '{"op":"attach","endpoint":8,"domain":1}',
    '{"op":"map","domain":1,"iova":"0xfffffffffffff000","len":4096,"gpa":"0x5000","flags":["read"]}',
    '{"op":"dma","endpoint":8,"iova":"0xfffffffffffff000","len":4096,"dir":"read"}',
    '{"op":"dma","endpoint":8,"iova":"0xffffffffffffffff","len":1,"dir":"write"}',
  ].join("\n") + "\n";
  const r = await run(
    ["audit", "--db", db, "--violations", "-", "-"],
    new TextEncoder().encode(trace),
  );
  assert.equal(r.code, 0, r.err);
  const v = r.out.trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(v.map((x) => [x.line, x.detail, x.iova]), [
    [4, "MAPPING:write", "0xffffffffffffffff"],
  ]);
  const past = await run(
    ["audit", "--no-db", "-"],
    new TextEncoder().encode(
      trace + '{"op":"dma","endpoint":8,"iova":"0xffffffffffffffff","len":2,"dir":"read"}\n',
    ),
  );
  assert.equal(past.code, 1);
  assert.match(
    past.err.trim(),
    /^pviommu: -: line 5: iova \+ len past 2\^64: 0xffffffffffffffff \+ 2$/,
  );
  const q = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { query } from "${new URL("../../lib/results/mod.ts", import.meta.url).href}";
       const r = await query(${JSON.stringify(db)}, "SELECT iova::VARCHAR FROM pviommu_violations");
       console.log(JSON.stringify(r.rows));`,
    ],
    stdout: "piped",
    stderr: "piped",
  });
  const o = await q.output();
  assert.equal(new TextDecoder().decode(o.stdout).trim(), '[["18446744073709551615"]]');
});
