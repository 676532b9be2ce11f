/**
 * A user's bad input, table-driven across every tool: each case is one command line (and its
 * stdin), the exit code it must end with, and the one line it must print on stderr. The rules
 * (DESIGN.md): one line prefixed `TOOL: ` naming what was wrong, exit 2 for usage and 1 for a
 * failure, no stack trace, and no partly written output left behind.
 */
import assert from "node:assert/strict";

const root = new URL("../../", import.meta.url).pathname;

interface Case {
  /** the tool (bin/TOOL) and its arguments; `$T` is replaced by the test's temp dir */
  argv: string[];
  code: number;
  /** what the single stderr line must match */
  err: RegExp;
  stdin?: string | Uint8Array;
  /** files (under $T) that must not exist afterwards */
  absent?: string[];
  /** files (under $T) that must hold the same bytes afterwards (`img*`: an ext4 image) */
  intact?: string[];
}

const good = '{"ts":1,"op":"R","off":0,"len":4096,"dev":"d"}\n' +
  '{"ts":2,"op":"W","off":4096,"len":4096,"dev":"d"}\n';

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

async function runCase(dir: string, c: Case) {
  const [tool, ...args] = c.argv.map((a) => a.replaceAll("$T", dir));
  const child = new Deno.Command(`${root}bin/${tool}`, {
    args,
    cwd: dir,
    env: { HVKIT_DB: `${dir}/r.duckdb` },
    stdin: c.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (c.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(typeof c.stdin === "string" ? new TextEncoder().encode(c.stdin) : c.stdin);
    await w.close();
  }
  const out = await child.output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

/** Runs the cases two at a time (the machine has two cores) and checks each. */
async function check(cases: Case[]) {
  const dir = await Deno.makeTempDir({ prefix: "hvkit_bad_input_" });
  try {
    await Deno.mkdir(`${dir}/adir`);
    await Deno.writeTextFile(`${dir}/empty`, "");
    await Deno.writeFile(`${dir}/garbage.bin`, new Uint8Array(4096).map((_, i) => i * 37 + 11));
    await Deno.writeTextFile(`${dir}/good.jsonl`, good);
    await Deno.writeTextFile(`${dir}/r.json`, '{"ranges":[{"off":0,"len":4096}]}\n');
    for (const c of cases) {
      for (const f of c.intact ?? []) {
        if (!f.startsWith("img")) await Deno.writeTextFile(`${dir}/${f}`, good);
        else {
          await Deno.writeFile(`${dir}/${f}`, new Uint8Array(4 << 20));
          const mkfs = new Deno.Command("mkfs.ext4", { args: ["-q", "-F", `${dir}/${f}`] });
          assert.equal((await mkfs.output()).code, 0, "mkfs.ext4");
        }
      }
    }
    await Deno.truncate(`${dir}/img.raw`, 1 << 20).catch(async () => {
      await Deno.writeFile(`${dir}/img.raw`, new Uint8Array(1 << 20));
    });
    const failures: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < cases.length) {
        const c = cases[next++];
        const before = await Promise.all(
          (c.intact ?? []).map((f) => Deno.readFile(`${dir}/${f}`)),
        );
        const r = await runCase(dir, c);
        const lines = r.stderr.trimEnd().split("\n");
        const what = `${c.argv.join(" ")}: exit ${r.code}, stderr ${JSON.stringify(r.stderr)}`;
        if (r.code !== c.code) failures.push(`want exit ${c.code}: ${what}`);
        else if (lines.length !== 1) failures.push(`want one line: ${what}`);
        else if (!lines[0].startsWith(`${c.argv[0]}: `)) failures.push(`want prefix: ${what}`);
        else if (!c.err.test(lines[0])) failures.push(`want ${c.err}: ${what}`);
        for (const [i, f] of (c.intact ?? []).entries()) {
          const after = await Deno.readFile(`${dir}/${f}`).catch(() => new Uint8Array());
          if (!equalBytes(after, before[i])) failures.push(`${f} changed: ${what}`);
        }
        for (const f of c.absent ?? []) {
          const there = await Deno.stat(`${dir}/${f}`).then(() => true, () => false);
          if (there) failures.push(`${f} left behind: ${what}`);
        }
      }
    };
    await Promise.all([worker(), worker()]);
    assert.deepEqual(failures, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("bad input: daio options past the engine's limits are usage errors naming them", async () => {
  await check([
    { argv: ["daio", "bench", "--no-db", "--bs", "0", "img.raw"], code: 2, err: /--bs 0/ },
    { argv: ["daio", "bench", "--no-db", "--bs", "128M", "img.raw"], code: 2, err: /--bs/ },
    {
      argv: ["daio", "bench", "--no-db", "--iodepth", "5000", "img.raw"],
      code: 2,
      err: /--iodepth/,
    },
    { argv: ["daio", "bench", "--no-db", "--queues", "65", "img.raw"], code: 2, err: /--queues/ },
    {
      argv: [
        "daio",
        "replay",
        "--no-db",
        "--target",
        "img.raw",
        "--iodepth",
        "100000",
        "good.jsonl",
      ],
      code: 2,
      err: /--iodepth 100000/,
    },
    {
      argv: ["daio", "replay", "--no-db", "--target", "img.raw", "--queues", "100", "good.jsonl"],
      code: 2,
      err: /--queues 100/,
    },
    {
      argv: ["daio", "replay", "--no-db", "--target", "img.raw", "--direct", "2", "good.jsonl"],
      code: 2,
      err: /--direct.*expected 1, 0 or auto/,
    },
    {
      argv: ["daio", "bench", "--no-db", "--size", "1M", "$T/no-dir/x.img"],
      code: 1,
      err: /no-dir\/x\.img: cannot create it: no such file or directory/,
    },
  ]);
});

Deno.test("bad input: a bad value parsed inside a command is one line, exit 2 (was silent)", async () => {
  await check([
    {
      argv: ["qbic-cache", "trace", "head", "-n", "abc", "good.jsonl"],
      code: 2,
      err: /-n\/--count: not a whole number: abc/,
    },
    {
      argv: ["qbic-cache", "trace", "stats", "--no-db", "--top", "x", "good.jsonl"],
      code: 2,
      err: /--top: not a whole number: x/,
    },
    {
      argv: ["pdc-filter", "classify", "--no-db", "--confirm", "abc", "good.jsonl"],
      code: 2,
      err: /--confirm: not a whole number: abc/,
    },
    {
      argv: ["virtav", "scan", "--no-db", "--lowmem", "4X", "good.jsonl"],
      code: 2,
      err: /--lowmem: not a size: 4X/,
    },
    {
      argv: ["virtav", "watch", "--no-db", "--interval", "5x", "--qmp", "q", "--ram", "r"],
      code: 2,
      err: /--interval: not a duration: 5x/,
    },
    {
      argv: ["pviommu", "serve", "--no-db", "--endpoints", "1,x"],
      code: 2,
      err: /--endpoints: not a whole number: x/,
      stdin: "",
    },
  ]);
});

Deno.test("bad input: -o naming the input is refused before anything is lost", async () => {
  await check([
    {
      argv: ["pdc-filter", "classify", "--no-db", "-o", "in1.jsonl", "in1.jsonl"],
      code: 1,
      err: /in1\.jsonl: is also the input/,
      intact: ["in1.jsonl"],
    },
    {
      argv: ["qbic-cache", "trace", "convert", "--no-db", "in2.jsonl", "-o", "in2.jsonl"],
      code: 1,
      err: /in2\.jsonl: is also the input/,
      intact: ["in2.jsonl"],
    },
    {
      argv: ["pviommu", "audit", "--no-db", "--violations", "in3.jsonl", "in3.jsonl"],
      code: 1,
      err: /in3\.jsonl: is also the/,
      intact: ["in3.jsonl"],
    },
  ]);
});

Deno.test("bad input: a run that fails leaves no partial output; an old output stays", async () => {
  const half = '{"ts":1,"op":"R","off":0,"len":4096,"dev":"d"}\n{"ts":2,"op":"W","of';
  await check([
    {
      argv: ["pdc-filter", "classify", "--no-db", "-o", "new1.jsonl", "-"],
      stdin: half,
      code: 1,
      err: /-: line 2: not JSON/,
      absent: ["new1.jsonl"],
    },
    {
      argv: ["qbic-cache", "trace", "convert", "--no-db", "-", "-o", "new2.bin"],
      stdin: half,
      code: 1,
      err: /line 2: not JSON/,
      absent: ["new2.bin"],
    },
    {
      argv: ["pdc-filter", "classify", "--no-db", "-o", "old.jsonl", "garbage.bin"],
      code: 1,
      err: /garbage\.bin: line 1: not JSON/,
      intact: ["old.jsonl"],
    },
  ]);
});

Deno.test("bad input: qbic-cache sim/mrc sizes that hold no block are usage errors", async () => {
  const sim = ["qbic-cache", "sim", "--no-db", "--trace", "good.jsonl"];
  const mrc = ["qbic-cache", "mrc", "--no-db", "--no-svg", "--trace", "good.jsonl"];
  await check([
    { argv: [...sim, "--size", "0"], code: 2, err: /--size 0: / },
    { argv: [...sim, "--size", "64M,0"], code: 2, err: /--size 0: / },
    { argv: [...sim, "--size", "-1"], code: 2, err: /--size.*not a size: -1/ },
    { argv: [...sim, "--size", "lots"], code: 2, err: /--size.*not a size: lots/ },
    { argv: [...sim, "--block-size", "0"], code: 2, err: /--block-size 0: not a power of two/ },
    { argv: [...sim, "--block-size", "3000"], code: 2, err: /--block-size 3000: not a power/ },
    {
      argv: [...sim, "--block-size", "1M", "--size", "64k"],
      code: 2,
      err: /--size 64\.0KiB: smaller than one block/,
    },
    { argv: [...sim, "--policy", "lru,nope"], code: 2, err: /--policy: unknown policy 'nope'/ },
    { argv: [...mrc, "--sizes", "0"], code: 2, err: /--sizes 0: / },
    { argv: [...mrc, "--sizes", "1k"], code: 2, err: /--sizes 1\.0KiB: smaller than one block/ },
    { argv: [...mrc, "--sizes", "x"], code: 2, err: /--sizes.*not a size: x/ },
    { argv: [...mrc, "--block-size", "0"], code: 2, err: /--block-size 0: not a power of two/ },
    {
      argv: ["qbic-cache", "trace", "stats", "--no-db", "--block-size", "0", "good.jsonl"],
      code: 2,
      err: /--block-size 0: not a power of two/,
    },
  ]);
});

Deno.test("bad input: qbic-cache outputs: input checked first, a missing dir named", async () => {
  await check([
    {
      argv: ["qbic-cache", "trace", "convert", "--no-db", "missing.jsonl", "-o", "$T/no-dir/o"],
      code: 1,
      err: /missing\.jsonl: no such file/,
    },
    {
      argv: ["qbic-cache", "trace", "convert", "--no-db", "garbage.bin", "-o", "old1.jsonl"],
      code: 1,
      err: /garbage\.bin: /,
      intact: ["old1.jsonl"],
    },
    {
      argv: ["qbic-cache", "mrc", "--no-db", "--trace", "good.jsonl", "-o", "$T/no-dir/m.txt"],
      code: 1,
      err: /no-dir\/m\.txt: no such file or directory$/,
    },
    {
      argv: ["qbic-cache", "mrc", "--no-db", "--trace", "good.jsonl", "--svg", "$T/no-dir/m.svg"],
      code: 1,
      err: /no-dir\/m\.svg: no such file or directory$/,
      absent: ["mrc.svg"],
    },
    {
      argv: ["qbic-cache", "mrc", "--no-db", "--trace", "in5.jsonl", "-o", "in5.jsonl"],
      code: 1,
      err: /in5\.jsonl: is also the input/,
      intact: ["in5.jsonl"],
      absent: ["in5.svg"],
    },
  ]);
});

Deno.test("bad input: an output naming the image or trace being read is refused", async () => {
  await check([
    {
      argv: ["pdc-filter", "locate", "--no-db", "-o", "img1", "img1"],
      code: 1,
      err: /img1: is also the input/,
      intact: ["img1"],
    },
    {
      argv: ["pdc-filter", "classify", "--no-db", "--image", "img2", "-o", "img2", "good.jsonl"],
      code: 1,
      err: /img2: is also the input/,
      intact: ["img2"],
    },
    {
      argv: ["qbic-cache", "serve", "--no-db", "--socket", "$T/s.sock", "--record", "img3", "img3"],
      code: 2,
      err: /--record img3: is the image being served/,
      intact: ["img3"],
    },
    {
      argv: ["daio", "replay", "--no-db", "--target", "t4.jsonl", "t4.jsonl"],
      code: 2,
      err: /--target t4\.jsonl: is the trace being replayed/,
      intact: ["t4.jsonl"],
    },
    {
      argv: ["pdc-filter", "eval", "--no-db", "--ranges", "r.json", "-"],
      stdin: "",
      code: 1,
      err: /-: no I\/O records to evaluate/,
    },
  ]);
});

Deno.test("bad input: --socket naming a regular file is refused, the file kept", async () => {
  await check([
    {
      argv: ["qbic-cache", "serve", "--no-db", "--socket", "sock1.jsonl", "memory:1M"],
      code: 1,
      err: /--socket sock1\.jsonl: cannot listen: exists and is not a socket/,
      intact: ["sock1.jsonl"],
    },
    {
      argv: ["pviommu", "serve", "--no-db", "--socket", "sock2.jsonl"],
      code: 1,
      err: /--socket sock2\.jsonl: exists and is not a socket/,
      intact: ["sock2.jsonl"],
    },
    {
      argv: ["qbic-cache", "serve", "--no-db", "--socket", "$T/no-dir/s", "memory:1M"],
      code: 1,
      err: /--socket .*no-dir\/s: cannot listen: no such file or directory/,
    },
    {
      argv: ["pviommu", "request", "probe", "--endpoint", "1", "--socket", "$T/no-dir/s"],
      code: 1,
      err: /--socket .*no-dir\/s: cannot connect: no such file or directory/,
    },
    {
      argv: ["pviommu", "audit", "--no-db", "--page-size", "3000", "good.jsonl"],
      code: 2,
      err: /--page-size.*not a power of two: 3000/,
    },
  ]);
});

Deno.test("bad input: virtav scan reads - as stdin, follows a named symlink, names a FIFO", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hvkit_bad_input_" });
  const scan = async (args: string[], stdin = "") => {
    const child = new Deno.Command(`${root}bin/virtav`, {
      args: ["scan", "--no-db", "--no-cache", ...args],
      cwd: dir,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
    const o = await child.output();
    const dec = new TextDecoder();
    return { code: o.code, out: dec.decode(o.stdout), err: dec.decode(o.stderr) };
  };
  try {
    // EICAR, assembled here so this file is not itself a detection.
    const eicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
    const viaStdin = await scan(["-q", "-"], eicar);
    assert.equal(viaStdin.code, 1, viaStdin.err);
    assert.equal(viaStdin.out, "stdin: Eicar-Test-Signature FOUND\n");
    await Deno.writeTextFile(`${dir}/eicar.com`, eicar);
    await Deno.symlink(`${dir}/eicar.com`, `${dir}/link.com`);
    const viaLink = await scan(["-q", "link.com"]);
    assert.equal(viaLink.code, 1, viaLink.err);
    assert.equal(viaLink.out, "link.com: Eicar-Test-Signature FOUND\n");
    const dev = await scan(["-q", "/dev/null"]);
    assert.equal(dev.code, 2); // clamscan's code for an input it cannot scan
    assert.equal(dev.err.split("\n")[0], "virtav: /dev/null: not a regular file or directory");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("-q silences stderr only: the results still go to stdout", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hvkit_quiet_" });
  const fix = `${root}fixtures/pviommu/violations.jsonl`;
  const cases: [string[], RegExp][] = [
    [["daio", "bench", "--runtime", "50ms", "img.raw"], /read: IOPS=/],
    [["daio", "replay", "--target", "img.raw", "good.jsonl"], /write: IOPS=/],
    [["pviommu", "audit", fix], /violations \d+/],
    [["qbic-cache", "sim", "--trace", "good.jsonl", "--size", "4k"], /^policy +size/],
    [["qbic-cache", "mrc", "--no-svg", "--trace", "good.jsonl"], /miss_ratio/],
    [["qbic-cache", "trace", "stats", "good.jsonl"], /footprint +2 blocks/],
    [["qbic-cache", "trace", "convert", "good.jsonl"], /^\{"ts":1,/],
    [["pdc-filter", "classify", "good.jsonl"], /^\{"ts":1,/],
  ];
  try {
    await Deno.writeTextFile(`${dir}/good.jsonl`, good);
    await Deno.writeFile(`${dir}/img.raw`, new Uint8Array(1 << 20));
    const failures: string[] = [];
    for (const [[tool, ...args], want] of cases) {
      const o = await new Deno.Command(`${root}bin/${tool}`, {
        args: [...args, "--no-db", "-q"],
        cwd: dir,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const [out, err] = [o.stdout, o.stderr].map((b) => new TextDecoder().decode(b));
      const what = `${tool} ${args.join(" ")} -q: exit ${o.code}, stdout ${
        JSON.stringify(out.slice(0, 80))
      }`;
      if (o.code !== 0 || !want.test(out)) failures.push(`want ${want}: ${what}`);
      else if (err !== "") failures.push(`want a silent stderr: ${what}, stderr ${err}`);
    }
    assert.deepEqual(failures, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("help: every subcommand's --help ends with examples", async () => {
  const commands = [
    "qbic-cache",
    "qbic-cache serve",
    "qbic-cache sim",
    "qbic-cache mrc",
    "qbic-cache trace",
    "qbic-cache trace convert",
    "qbic-cache trace stats",
    "qbic-cache trace head",
    "qbic-cache doctor",
    "daio bench",
    "daio replay",
    "daio doctor",
    "pdc-filter locate",
    "pdc-filter classify",
    "pdc-filter eval",
    "pdc-filter doctor",
    "pviommu audit",
    "pviommu import",
    "pviommu serve",
    "pviommu request",
    "pviommu record",
    "pviommu doctor",
    "virtav scan",
    "virtav sigs",
    "virtav sigs info",
    "virtav sigs check",
    "virtav watch",
    "virtav doctor",
    "hvkit-report",
  ];
  const missing: string[] = [];
  await Promise.all(commands.map(async (c) => {
    const [tool, ...args] = c.split(" ");
    const o = await new Deno.Command(`${root}bin/${tool}`, {
      args: [...args, "--help"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const help = new TextDecoder().decode(o.stdout);
    if (o.code !== 0 || !new RegExp(`\\nExamples:\\n {2}\\$ .*${tool} `).test(help)) {
      missing.push(c);
    }
  }));
  assert.deepEqual(missing, []);
});

Deno.test("bad input: hvkit-report names a --db that is no store and an -o/--export it cannot make", async () => {
  await check([
    { argv: ["hvkit-report", "runs", "--db", "adir"], code: 1, err: /adir: is a directory, not a/ },
    {
      argv: ["hvkit-report", "--all", "--db", "adir"],
      code: 1,
      err: /adir: is a directory, not a results store$/,
    },
    {
      argv: ["hvkit-report", "--check-regressions", "20", "--db", "adir"],
      code: 1,
      err: /adir: is a directory, not a results store$/,
    },
    {
      argv: ["hvkit-report", "runs", "--db", "empty"],
      code: 1,
      err: /empty: an empty file, not a DuckDB results store$/,
    },
    {
      argv: ["hvkit-report", "runs", "--db", "garbage.bin"],
      code: 1,
      err: /garbage\.bin: not a DuckDB results store/,
    },
    {
      argv: ["hvkit-report", "runs", "-o", "$T/no-dir/r.txt"],
      code: 1,
      err: /no-dir\/r\.txt: no such file or directory$/,
    },
    {
      argv: ["hvkit-report", "--all", "--format", "html", "-o", "$T/no-dir/r.html"],
      code: 1,
      err: /no-dir\/r\.html: no such file or directory$/,
    },
    {
      argv: ["hvkit-report", "runs", "--format", "parquet", "-o", "$T/no-dir/r.pq"],
      code: 1,
      err: /no-dir\/r\.pq: no such file or directory$/,
    },
    {
      argv: ["hvkit-report", "--export", "$T/no-dir/d", "--format", "csv"],
      code: 1,
      err: /no-dir\/d: no such directory .*no-dir \(only .*no-dir\/d itself is created\)$/,
      absent: ["no-dir"],
    },
    {
      argv: ["hvkit-report", "--export", "rep1.jsonl"],
      code: 1,
      err: /rep1\.jsonl: exists and is not a directory$/,
      intact: ["rep1.jsonl"],
    },
  ]);
});
