import assert from "node:assert/strict";

const root = new URL("../../", import.meta.url).pathname;
const daio = `${root}bin/daio`;
const dir = `${root}.cache`;

async function run(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(daio, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function tempFile(size: number): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const path = await Deno.makeTempFile({ dir, prefix: "daio_e2e_", suffix: ".img" });
  await Deno.truncate(path, size);
  return path;
}

Deno.test("daio bench: patterns written by each engine read back through every engine", async () => {
  const path = await tempFile(8 << 20);
  try {
    const cases: [string, string, string][] = [
      ["daio", "4096", "1"],
      ["daio", "65536", "3"],
      ["psync", "4096", "2"],
      ["buffered", "8192", "1"],
    ];
    for (const [writer, bs, queues] of cases) {
      const seed = String(1000 + Number(bs) + Number(queues));
      const w = await run(
        "bench",
        "--no-db",
        "-q",
        "--engine",
        writer,
        "--rw",
        "write",
        "--bs",
        bs,
        "--queues",
        queues,
        "--iodepth",
        "8",
        "--verify",
        "--seed",
        seed,
        path,
      );
      assert.equal(w.code, 0, w.stderr);
      for (const reader of ["daio", "psync", "buffered"]) {
        const r = await run(
          "bench",
          "--no-db",
          "--output",
          "json",
          "--engine",
          reader,
          "--rw",
          "randread",
          "--bs",
          bs,
          "--queues",
          queues,
          "--iodepth",
          "4",
          "--verify",
          "--seed",
          seed,
          path,
        );
        assert.equal(r.code, 0, `${writer}->${reader} bs=${bs}: ${r.stderr}`);
        const j = JSON.parse(r.stdout);
        assert.ok(j.read.ios > 0);
        assert.ok(j.read.lat.p99_ns >= j.read.lat.p50_ns);
        // The io_uring engine says which ring features it ran with; the baselines have none.
        assert.ok(Array.isArray(j.features), r.stdout);
        if (reader === "daio") assert.ok(j.features.length > 0, r.stdout);
        else assert.deepEqual(j.features, []);
      }
    }
    // A different seed means different expected contents: verify must fail.
    const bad = await run(
      "bench",
      "--no-db",
      "-q",
      "--rw",
      "randread",
      "--bs",
      "4096",
      "--verify",
      "--seed",
      "7",
      path,
    );
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /verify failed/);
    assert.equal(bad.stderr.trim().split("\n").length, 1);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("daio bench --processes: queues as processes write, read back and count as threads do", async () => {
  const path = await tempFile(8 << 20);
  try {
    const common = ["--no-db", "--output", "json", "--bs", "4096", "--iodepth", "8", "--verify"];
    // A sequential pass written by three queue processes (each its third of the file)...
    const w = await run(
      "bench",
      ...common,
      "--rw",
      "write",
      "--queues",
      "3",
      "--processes",
      "--seed",
      "41",
      path,
    );
    assert.equal(w.code, 0, w.stderr);
    assert.equal(JSON.parse(w.stdout).write.ios, (8 << 20) / 4096);
    // ...reads back whole through threads and through processes, every figure from every queue.
    for (const mode of [[], ["--processes"]]) {
      const r = await run(
        "bench",
        ...common,
        "--rw",
        "read",
        "--queues",
        "2",
        ...mode,
        "--seed",
        "41",
        path,
      );
      assert.equal(r.code, 0, `${mode}: ${r.stderr}`);
      const j = JSON.parse(r.stdout);
      assert.equal(j.read.ios, (8 << 20) / 4096, r.stdout);
      assert.equal(j.read.lat.count, j.read.ios);
      assert.ok(j.cpu.total > 0, r.stdout);
      assert.ok(j.features.includes("fixed_buffers"), r.stdout);
    }
    // A queue process that reads the wrong pattern is counted: verify fails as one line.
    const bad = await run(
      "bench",
      "--no-db",
      "-q",
      "--rw",
      "randread",
      "--queues",
      "2",
      "--processes",
      "--verify",
      "--seed",
      "7",
      path,
    );
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /verify failed/);
    assert.equal(bad.stderr.trim().split("\n").length, 1);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("daio bench: every completion batch, with and without a min wait, reads one whole pass", async () => {
  const path = await tempFile(8 << 20);
  try {
    const w = await run(
      "bench",
      "--no-db",
      "-q",
      "--rw",
      "write",
      "--iodepth",
      "8",
      "--verify",
      "--seed",
      "77",
      path,
    );
    assert.equal(w.code, 0, w.stderr);
    const doctor = await run("doctor", "--no-db", "--output", "json");
    const caps = JSON.parse(doctor.stdout).capabilities as { name: string; ok: boolean }[];
    const minWait = caps.find((c) => c.name === "uring.min_wait")!.ok;
    for (const batch of ["1", "3", "8"]) {
      for (const wait of [[], ["--batch-min-wait", "0.05ms"]]) {
        const r = await run(
          "bench",
          "--no-db",
          "--output",
          "json",
          "--rw",
          "read",
          "--iodepth",
          "8",
          "--queues",
          "2",
          "--iodepth-batch-complete",
          batch,
          ...wait,
          "--verify",
          "--seed",
          "77",
          path,
        );
        assert.equal(r.code, 0, `batch ${batch} ${wait.join(" ")}: ${r.stderr}`);
        const j = JSON.parse(r.stdout);
        // One pass: every block once, none lost or doubled by a batched wait or the drain.
        assert.equal(j.read.ios, (8 << 20) / 4096, r.stdout);
        // The min wait is used (and recorded) where the kernel has it and a batch is waited for.
        const used = wait.length > 0 && batch !== "1" && minWait;
        assert.equal(j.features.includes("min_wait"), used, r.stdout);
      }
    }
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("daio doctor: lists the io_uring features this kernel grants the engine", async () => {
  const r = await run("doctor", "--no-db", "--output", "json");
  assert.equal(r.code, 0, r.stderr);
  const caps = JSON.parse(r.stdout).capabilities as { name: string; ok: boolean }[];
  const names = caps.map((c) => c.name);
  for (
    const f of [
      "sqpoll",
      "coop_taskrun",
      "defer_taskrun",
      "iopoll",
      "fixed_files",
      "fixed_buffers",
      "nvme_passthrough",
      "min_wait",
      "registered_ring",
      "huge_buffers",
    ]
  ) {
    assert.ok(names.includes(`uring.${f}`), names.join(" "));
  }
  // io_uring works here (the suite needs it), and a plain ring registers a file.
  assert.ok(caps.find((c) => c.name === "uring.fixed_files")!.ok);
});

Deno.test("daio bench: bad input is one line and a non-zero exit", async () => {
  const path = await tempFile(1 << 20);
  try {
    const cases: [string[], number, RegExp][] = [
      [["--bs", "1000", path], 2, /multiple of 512/],
      [["--size", "2M", "--rw", "randread", path], 0, /./], // lays out (extends) like fio
      [[`${dir}/no-such-${crypto.randomUUID()}.img`], 1, /ENOENT/],
      [[dir], 1, /EISDIR/],
      [["--rw", "bogus", path], 2, /bogus/],
      [["--iodepth", "0", path], 2, /at least 1/],
    ];
    for (const [args, code, msg] of cases) {
      const r = await run("bench", "--no-db", "-q", "--runtime", "100ms", ...args);
      assert.equal(r.code, code, `${args.join(" ")}: ${r.stderr}`);
      if (code !== 0) {
        assert.match(r.stderr, msg);
        assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      }
    }
    await Deno.chmod(path, 0o444);
    const ro = await run("bench", "--no-db", "-q", "--rw", "write", "--runtime", "100ms", path);
    assert.equal(ro.code, 1);
    assert.match(ro.stderr, /EACCES/);
    const past = await run("bench", "--no-db", "-q", "--size", "1G", "--rw", "read", path);
    assert.equal(past.code, 1, "a read-only file cannot be laid out to a larger size");
    assert.match(past.stderr, /EACCES/);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("daio replay: a trace replays, and a record past the end names its line", async () => {
  const path = await tempFile(4 << 20);
  const trace = `${path}.jsonl`;
  try {
    const lines = [];
    for (let i = 0; i < 200; i++) {
      const op = i % 10 === 9 ? "F" : i % 2 ? "W" : "R";
      lines.push(JSON.stringify({ ts: i * 1000, op, off: (i * 12345) % (3 << 20), len: 1000 + i }));
    }
    await Deno.writeTextFile(trace, lines.join("\n") + "\n");
    const ok = await run("replay", "--no-db", "--output", "json", trace, "--target", path);
    assert.equal(ok.code, 0, ok.stderr);
    const j = JSON.parse(ok.stdout);
    assert.equal(j.read.ios + j.write.ios + j.other.ios, 200);
    assert.equal(j.partial, false);
    assert.ok(Array.isArray(j.features) && j.features.length > 0, ok.stdout);
    await Deno.writeTextFile(trace, lines[0] + "\n" + '{"op":"R","off":4194300,"len":10}\n');
    const bad = await run("replay", "--no-db", trace, "--target", path);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /line 2: .*past the end/);
    assert.equal(bad.stderr.trim().split("\n").length, 1);
  } finally {
    await Deno.remove(path);
    await Deno.remove(trace).catch(() => {});
  }
});
