import assert from "node:assert/strict";

const root = new URL("../../", import.meta.url).pathname;
const bin = `${root}bin/qbic-cache`;

async function qc(args: string[], stdin?: string) {
  const p = new Deno.Command(bin, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    cwd: root,
  }).spawn();
  if (stdin !== undefined) {
    const w = p.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const o = await p.output();
  return {
    code: o.code,
    out: new TextDecoder().decode(o.stdout),
    err: new TextDecoder().decode(o.stderr),
  };
}

function zipfTrace(n: number): string {
  let x = 9;
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const u = x / 4294967296;
    const b = Math.floor(500 * u * u);
    const op = (x & 7) === 0 ? "W" : "R";
    lines.push(JSON.stringify({ ts: i, op, off: b * 4096, len: 4096 * (1 + (x >>> 29) % 2) }));
  }
  return lines.join("\n") + "\n";
}

Deno.test("sim e2e: JSON grid, LRU equals the exact MRC at every size, OPT on top", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const trace = `${dir}/t.jsonl`;
    await Deno.writeTextFile(trace, zipfTrace(4000));
    const sizes = "16K,64K,256K,1M";
    const sim = await qc([
      "sim",
      "--no-db",
      "--trace",
      trace,
      "--policy",
      "lru,arc,s3fifo,qbic,belady",
      "--size",
      sizes,
      "--output",
      "json",
    ]);
    assert.equal(sim.code, 0, sim.err);
    const res = JSON.parse(sim.out);
    assert.equal(res.requests, 4000);
    assert.equal(res.results.length, 20);
    for (const r of res.results) {
      assert.ok(r.hit_ratio >= 0 && r.hit_ratio <= 1);
      assert.ok(typeof r.byte_hit_ratio === "number");
      // Policy memory per cached block: the C policies report theirs; belady runs in TS (null).
      if (r.engine === "native") assert.ok(r.bytes_per_block > 0, JSON.stringify(r));
      else assert.equal(r.bytes_per_block, null, JSON.stringify(r));
    }
    const mrc = await qc([
      "mrc",
      "--no-db",
      "--trace",
      trace,
      "--sizes",
      sizes,
      "--method",
      "exact",
      "--output",
      "json",
      "--svg",
      `${dir}/m.svg`,
    ]);
    assert.equal(mrc.code, 0, mrc.err);
    const m = JSON.parse(mrc.out);
    const lru = res.results.filter((r: { policy: string }) => r.policy === "lru");
    m.points.forEach((p: { hit_ratio: number }, i: number) => {
      assert.ok(Math.abs(p.hit_ratio - lru[i].hit_ratio) < 1e-12, `size ${i}`);
    });
    const svg = await Deno.readTextFile(`${dir}/m.svg`);
    assert.match(svg, /<svg[^]*<polyline/);
    // one mark a point, each carrying its miss ratio (lib/report/svg_chart.ts draws it)
    const drawn = [...svg.matchAll(/class="mark"[^>]*data-value="([^"]*)"/g)].map((x) => +x[1]);
    assert.deepEqual(drawn, m.points.map((p: { miss_ratio: number }) => p.miss_ratio));
    for (const size of [16384, 65536, 262144, 1048576]) {
      const at = res.results.filter((r: { size: number; policy: string }) =>
        r.size === size && r.policy !== "qbic"
      );
      const opt = at.find((r: { policy: string }) => r.policy === "belady").hits;
      for (const r of at) assert.ok(r.hits <= opt, `${r.policy} beats OPT at ${size}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sim e2e: bad lines name the line, --skip-bad counts them, empty is fine", async () => {
  const text = '{"op":"R","off":0,"len":4096}\n{"op":"R","off":-1,"len":4096}\n';
  const bad = await qc(["sim", "--no-db", "--trace", "-"], text);
  assert.equal(bad.code, 1);
  assert.match(bad.err, /^qbic-cache: -: line 2: off must be a non-negative integer/);
  const skip = await qc(["sim", "--no-db", "--trace", "-", "--skip-bad", "--output", "json"], text);
  assert.equal(skip.code, 0, skip.err);
  assert.equal(JSON.parse(skip.out).bad_lines, 1);
  const empty = await qc(["sim", "--no-db", "--trace", "-", "--output", "json"], "");
  assert.equal(empty.code, 0, empty.err);
  assert.equal(JSON.parse(empty.out).requests, 0);
  const unknown = await qc(["sim", "--no-db", "--trace", "-", "--policy", "lru,nope"], "");
  assert.equal(unknown.code, 2);
  assert.match(unknown.err, /unknown policy 'nope' \(known: fifo, lru/);
});

Deno.test("trace e2e: convert to binary and back keeps every record; stats and head", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const csv = `${dir}/msr.csv`;
    await Deno.writeTextFile(
      csv,
      "128166372003061629,hm,1,Read,383496192,32768,149\n" +
        "128166372016382155,hm,1,Write,3875717120,4096,1205\n" +
        "128166372026382155,hm,1,Read,383496192,4096,10\n",
    );
    const c1 = await qc(["trace", "convert", "--no-db", csv, "-o", `${dir}/t.bin`]);
    assert.equal(c1.code, 0, c1.err);
    const c2 = await qc(["trace", "convert", "--no-db", `${dir}/t.bin`, "-o", `${dir}/t.jsonl`]);
    assert.equal(c2.code, 0, c2.err);
    const back = (await Deno.readTextFile(`${dir}/t.jsonl`)).trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    assert.deepEqual(back.map((r) => [r.op, r.off, r.len, r.dev]), [
      ["R", 383496192, 32768, "hm_1"],
      ["W", 3875717120, 4096, "hm_1"],
      ["R", 383496192, 4096, "hm_1"],
    ]);
    const st = await qc(["trace", "stats", "--no-db", csv, "--output", "json"]);
    assert.equal(st.code, 0, st.err);
    const s = JSON.parse(st.out);
    assert.equal(s.requests, 3);
    assert.equal(s.footprint_blocks, 9);
    assert.equal(s.reuse_distance.cold, 9);
    assert.equal(s.hot_blocks[0].offset, 383496192);
    const hd = await qc(["trace", "head", "-n", "1", `${dir}/t.bin`]);
    assert.equal(hd.out.trim().split("\n").length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sim e2e: --engine native and --engine ts give the same grid (jsonl, bin, pdc)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const jsonl = `${dir}/t.jsonl`;
    await Deno.writeTextFile(jsonl, zipfTrace(3000));
    const bin = `${dir}/t.bin`;
    const conv = await qc(["trace", "convert", "--no-db", jsonl, "-o", bin]);
    assert.equal(conv.code, 0, conv.err);
    const policies = "lru,fifo,clock,sieve,s3fifo,arc,2q,lfu,qbic,belady";
    for (const [trace, extra] of [[jsonl, []], [bin, []], [jsonl, ["--admit", "pdc"]]] as const) {
      const grids = [];
      for (const engine of ["native", "ts"]) {
        const r = await qc([
          "sim",
          "--no-db",
          "--trace",
          trace,
          "--policy",
          policies,
          "--size",
          "4K,64K,1M",
          "--engine",
          engine,
          "--output",
          "json",
          ...extra,
        ]);
        assert.equal(r.code, 0, r.err);
        const j = JSON.parse(r.out);
        assert.equal(j.engine, engine);
        assert.equal(j.requests, 3000);
        grids.push(j.results);
      }
      const [nat, ts] = grids;
      assert.equal(nat.length, 30);
      for (let i = 0; i < nat.length; i++) {
        assert.equal(nat[i].engine, nat[i].policy === "belady" ? "ts" : "native");
        assert.equal(ts[i].engine, "ts");
        // The engine and its memory differ; every figure of the simulation is the same.
        const { engine: _a, bytes_per_block: _ma, ...a } = nat[i];
        const { engine: _b, bytes_per_block: _mb, ...b } = ts[i];
        assert.deepEqual(a, b, `${trace} ${extra.join(" ")} ${nat[i].policy} ${nat[i].size}`);
      }
    }
    // A truncated binary trace fails the same way under both engines.
    const bytes = await Deno.readFile(bin);
    await Deno.writeFile(bin, bytes.subarray(0, bytes.length - 7));
    const errs = [];
    for (const engine of ["native", "ts"]) {
      const r = await qc(["sim", "--no-db", "--trace", bin, "--engine", engine]);
      assert.equal(r.code, 1);
      errs.push(r.err);
    }
    assert.match(errs[0], /line 3000: truncated binary record at the end/);
    assert.equal(errs[0], errs[1]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mrc e2e: --shards-max is fixed-size SHARDS; rate 1 with room for all is exact", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const trace = `${dir}/t.jsonl`;
    await Deno.writeTextFile(trace, zipfTrace(4000));
    const args = ["mrc", "--no-db", "--no-svg", "--trace", trace, "--sizes", "16K,64K,256K,1M"];
    const exact = await qc([...args, "--method", "exact", "--output", "json"]);
    assert.equal(exact.code, 0, exact.err);
    const fixed = await qc([
      ...args,
      "--method",
      "shards",
      "--rate",
      "1",
      "--shards-max",
      "1000000",
      "--output",
      "json",
    ]);
    assert.equal(fixed.code, 0, fixed.err);
    const e = JSON.parse(exact.out), f = JSON.parse(fixed.out);
    assert.equal(f.method, "shards(max=1000000,rate=1)");
    f.points.forEach((p: { miss_ratio: number }, i: number) => {
      assert.ok(Math.abs(p.miss_ratio - e.points[i].miss_ratio) < 1e-9, `size ${i}`);
    });
    // A small sample: the rate drops below 1 and the method says so.
    const small = await qc([
      ...args,
      "--method",
      "shards",
      "--rate",
      "1",
      "--shards-max",
      "50",
      "--output",
      "json",
    ]);
    assert.equal(small.code, 0, small.err);
    assert.match(JSON.parse(small.out).method, /^shards\(max=50,rate=0\.\d+\)$/);
    const bad = await qc([...args, "--shards-max", "0"]);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--shards-max: must be at least 1/);
    const exactToo = await qc([...args, "--method", "exact", "--shards-max", "10"]);
    assert.equal(exactToo.code, 2);
    assert.match(exactToo.err, /--shards-max: only with --method shards or auto/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sim e2e: --shard K/N parts of a sweep over two traces are the whole sweep", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/a.jsonl`, zipfTrace(3000));
    await Deno.writeTextFile(`${dir}/b.jsonl`, zipfTrace(1000));
    const sweep = [
      "sim",
      "--no-db",
      "--trace",
      `${dir}/a.jsonl`,
      `${dir}/b.jsonl`,
      "--policy",
      "lru,arc,s3fifo",
      "--size",
      "16K,64K,256K",
      "--output",
      "json",
    ];
    const full = await qc(sweep);
    assert.equal(full.code, 0, full.err);
    const all = JSON.parse(full.out).results;
    assert.equal(all.length, 18);
    const key = (r: { trace: string; policy: string; size: number }) =>
      `${r.trace} ${r.policy} ${r.size}`;
    type Row = { trace: string; policy: string; size: number; hits: number };
    const parts: Row[] = [];
    for (const k of [1, 2, 3, 4]) {
      const p = await qc([...sweep, "--shard", `${k}/4`]);
      assert.equal(p.code, 0, p.err);
      const out = JSON.parse(p.out);
      assert.equal(out.shard, `${k}/4`);
      parts.push(...out.results);
    }
    // No overlap, nothing missing, and each cell's figures as in the whole run.
    assert.deepEqual(parts.map(key).sort(), all.map(key).sort());
    assert.equal(new Set(parts.map(key)).size, parts.length);
    const byKey = new Map(
      all.map((r: { trace: string; policy: string; size: number }) => [key(r), r]),
    );
    for (const r of parts as { trace: string; policy: string; size: number; hits: number }[]) {
      assert.equal(r.hits, (byKey.get(key(r)) as { hits: number }).hits, key(r));
    }
    const bad = await qc([...sweep, "--shard", "5/4"]);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--shard: K must be 1\.\.N: 5\/4/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
