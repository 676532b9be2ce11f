// Holds the write lock of a store until stdin closes, printing "locked" once it has it.
import { DuckDBInstance } from "@duckdb/node-api";

const instance = await DuckDBInstance.create(Deno.args[0]);
const conn = await instance.connect();
await conn.run("CREATE TABLE IF NOT EXISTS held (x INTEGER)");
console.log("locked");
for await (const _ of Deno.stdin.readable) { /* wait for EOF */ }
conn.closeSync();
instance.closeSync();
