import assert from "node:assert/strict";
import { describeError, ToolError, UsageError } from "./errors.ts";
import { formatSize, parseCount, parseDuration, parseSize, parseSizeList } from "./parse.ts";
import { formatTable } from "./table.ts";
import { openInput, readLines, sameFile } from "./stream_io.ts";
import { withRun } from "./with_run.ts";
import { query } from "../results/query.ts";

const root = new URL("../../", import.meta.url).pathname;

Deno.test("parseSize: fio/qemu-img sizes, and clear errors", () => {
  assert.equal(parseSize("4096"), 4096);
  assert.equal(parseSize("4k"), 4096);
  assert.equal(parseSize("64M"), 64 << 20);
  assert.equal(parseSize("1GiB"), 1 << 30);
  assert.equal(parseSize("8s"), 4096);
  assert.equal(parseSize("1.5k"), 1536);
  assert.deepEqual(parseSizeList("64M,256M"), [64 << 20, 256 << 20]);
  assert.throws(() => parseSize("4X"), /not a size: 4X/);
  assert.throws(() => parseSize("-1"), /not a size/);
  assert.throws(() => parseSize("0.3"), /not a whole number of bytes/);
  assert.throws(() => parseCount("1.5"), /not a whole number/);
  assert.equal(parseDuration("500ms"), 500);
  assert.equal(parseDuration("2m"), 120000);
  assert.equal(formatSize(1536), "1.5KiB");
});

Deno.test("describeError: usage is exit 2, failures exit 1, one line", () => {
  assert.deepEqual(describeError("daio", new UsageError("bad --bs")), {
    line: "daio: bad --bs",
    code: 2,
  });
  const { line, code } = describeError("daio", new ToolError("disk.img: no such file\nmore"));
  assert.equal(code, 1);
  assert.equal(line, "daio: disk.img: no such file");
});

Deno.test("formatTable: text, csv, json, markdown", () => {
  const cols = ["name", "value"];
  const rows = [["a,b", 1.5], ["c", 10]];
  assert.equal(formatTable(cols, rows, "csv"), 'name,value\n"a,b",1.5\nc,10\n');
  assert.deepEqual(JSON.parse(formatTable(cols, rows, "json")), [{ name: "a,b", value: 1.5 }, {
    name: "c",
    value: 10,
  }]);
  assert.equal(
    formatTable(cols, rows, "text"),
    "name  value\n----  -----\na,b     1.5\nc        10\n",
  );
  assert.match(formatTable(cols, rows, "markdown"), /^\| name \| value \|\n\|------\|------:\|\n/);
});

Deno.test("openInput: missing file and directory are one-line ToolErrors", async () => {
  await assert.rejects(openInput("/nonexistent/trace.jsonl"), (e: Error) => {
    assert.ok(e instanceof ToolError);
    assert.equal(e.message, "/nonexistent/trace.jsonl: no such file or directory");
    return true;
  });
  await assert.rejects(openInput("/tmp"), /\/tmp: is a directory/);
});

Deno.test("readLines: numbers lines, handles CRLF and a missing final newline", async () => {
  const stream = ReadableStream.from([
    new TextEncoder().encode("a\r\nb\n"),
    new TextEncoder().encode("c"),
  ]);
  const got = [];
  for await (const l of readLines(stream)) got.push([l.n, l.line]);
  assert.deepEqual(got, [[1, "a"], [2, "b"], [3, "c"]]);
});

Deno.test("readLines: maxChars takes a line at the limit and names the first past it", async () => {
  const enc = new TextEncoder();
  const lines = async (...parts: string[]) => {
    const got: string[] = [];
    for await (const l of readLines(ReadableStream.from(parts.map((p) => enc.encode(p))), 5)) {
      got.push(l.line);
    }
    return got;
  };
  assert.deepEqual(await lines("abcde\r\n", "12345"), ["abcde", "12345"]);
  await assert.rejects(() => lines("ok\n", "abcdef\n"), /^ToolError: line 2: longer than 5/);
  // No newline at all: refused once the buffer passes the limit, not at the end of the input.
  await assert.rejects(() => lines("ok\n", "x".repeat(4), "x".repeat(4)), /line 2: longer than 5/);
  await assert.rejects(() => lines("abcdef"), /line 1: longer than 5/);
});

Deno.test("withRun: a failing body is recorded as failed and re-thrown", async () => {
  const db = `${Deno.makeTempDirSync()}/r.duckdb`;
  await assert.rejects(
    withRun({ db }, { tool: "t", command: "boom", args: {} }, () => {
      throw new ToolError("it broke");
    }),
    /it broke/,
  );
  const r = await query(
    db,
    "SELECT r.status, e.payload->>'message' FROM runs r JOIN events e ON e.run = r.id",
  );
  assert.deepEqual(r.rows, [["failed", "it broke"]]);
});

async function runShim(tool: string, args: string[]) {
  const out = await new Deno.Command(`${root}bin/${tool}`, {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

Deno.test("shims: an unknown option exits 2 with one line naming it, no stack trace", async () => {
  for (const tool of ["daio", "qbic-cache", "pdc-filter", "pviommu", "virtav"]) {
    const r = await runShim(tool, ["--no-such-option"]);
    assert.equal(r.code, 2, tool);
    assert.equal(r.stderr.trim(), `${tool}: unknown option '--no-such-option'`);
  }
});

Deno.test("shims: --help lists doctor and ends with examples", async () => {
  const r = await runShim("daio", ["--help"]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /doctor/);
  assert.match(r.stdout, /Examples:\n {2}\$ daio doctor/);
});

Deno.test("doctor: prints the probe's findings as JSON and records the run", async () => {
  const db = `${Deno.makeTempDirSync()}/r.duckdb`;
  const r = await runShim("virtav", ["doctor", "--output", "json", "--db", db]);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.tool, "virtav");
  assert.equal(report.capabilities.find((c: { name: string }) => c.name === "io_uring").ok, true);
  const rows = await query(db, "SELECT count(*) FROM metrics WHERE name LIKE 'capability.%'");
  assert.equal(Number(rows.rows[0][0]), 5);
});

Deno.test("report: a missing store says no runs yet; unknown report exits 1 naming the known ones", async () => {
  const db = `${Deno.makeTempDirSync()}/r.duckdb`;
  const none = await runShim("hvkit-report", ["runs", "--db", db]);
  assert.equal(none.code, 0, none.stderr);
  assert.match(none.stdout, /no runs yet/);
  await withRun({ db }, { tool: "t", command: "c", args: {} }, () => {});
  const bad = await runShim("hvkit-report", ["nope", "--db", db]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^hvkit-report: no report named nope \(reports: .*runs/);
  const ok = await runShim("hvkit-report", ["runs", "--db", db, "--format", "csv"]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^tool,command,status/);
  const fmt = await runShim("hvkit-report", ["runs", "--db", db, "--format", "xml"]);
  assert.equal(fmt.code, 2);
});

Deno.test("sameFile: the same inode by another path (a hard link) is the same; missing is not", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const a = `${dir}/a`, b = `${dir}/b`;
    Deno.writeTextFileSync(a, "x");
    Deno.writeTextFileSync(b, "x");
    Deno.linkSync(a, `${dir}/link`);
    assert.equal(sameFile(a, `${dir}/link`), true);
    assert.equal(sameFile(a, `${dir}/../${dir.split("/").pop()}/a`), true);
    assert.equal(sameFile(a, b), false); // same bytes, another file
    assert.equal(sameFile(a, `${dir}/missing`), false);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
