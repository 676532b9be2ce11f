import assert from "node:assert/strict";
import { checkStore, checkStoreWritable, StoreError } from "./store_check.ts";
import { checkOutputFile, makeDirOnce } from "./output_path.ts";
import { seedStore } from "./testdata/seed_store.ts";

Deno.test("store check: missing is 'missing', a DuckDB file a store, anything else an error", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "hvkit-store-check-" });
  try {
    assert.equal(checkStore(`${dir}/none.duckdb`), "missing");
    assert.equal(checkStore(":memory:"), "store");
    await seedStore(`${dir}/r.duckdb`);
    assert.equal(checkStore(`${dir}/r.duckdb`), "store");
    Deno.writeTextFileSync(`${dir}/empty`, "");
    Deno.writeTextFileSync(`${dir}/short`, "DUCK");
    Deno.writeFileSync(`${dir}/garbage`, new Uint8Array(4096).fill(0x44));
    const bad: [string, RegExp][] = [
      [dir, /: is a directory, not a results store$/],
      [`${dir}/empty`, /empty: an empty file, not a DuckDB results store$/],
      [`${dir}/short`, /short: not a DuckDB results store/],
      [`${dir}/garbage`, /garbage: not a DuckDB results store/],
      [`${dir}/empty/x.duckdb`, /empty\/x\.duckdb: /],
    ];
    for (const [path, re] of bad) {
      assert.throws(() => checkStore(path), (e) => e instanceof StoreError && re.test(e.message));
    }
    checkStoreWritable(`${dir}/new.duckdb`);
    assert.throws(
      () => checkStoreWritable(`${dir}/no-dir/new.duckdb`),
      /new\.duckdb: cannot create the results store: no such directory: .*no-dir$/,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("output paths: a folder is made only itself; a file's folder must exist", () => {
  const dir = Deno.makeTempDirSync({ prefix: "hvkit-output-path-" });
  try {
    makeDirOnce(`${dir}/a`);
    makeDirOnce(`${dir}/a`); // already there
    assert.ok(Deno.statSync(`${dir}/a`).isDirectory);
    assert.throws(() => makeDirOnce(`${dir}/b/c`), /b\/c: no such directory .*\/b \(only /);
    assert.throws(() => Deno.statSync(`${dir}/b`), Deno.errors.NotFound);
    Deno.writeTextFileSync(`${dir}/f`, "x");
    assert.throws(() => makeDirOnce(`${dir}/f`), /f: exists and is not a directory$/);
    checkOutputFile(`${dir}/a/out.parquet`);
    assert.throws(() => checkOutputFile(`${dir}/b/o.pq`), /o\.pq: no such file or directory$/);
    assert.throws(() => checkOutputFile(`${dir}/a`), /a: is a directory$/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
