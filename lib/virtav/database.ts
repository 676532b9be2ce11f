/**
 * A signature database as clamscan's `-d` takes it: `.ndb`, `.hdb`, `.hsb` files, `.cvd`/`.cld`
 * containers, and directories of these; plus the built-in EICAR test signature. Whatever virtav
 * cannot apply (logical `.ldb`, bytecode `.cbc`, PE-section hashes, EP offsets...) is counted
 * by reason and reported, never dropped silently.
 *
 * @module
 */
import { join } from "node:path";
import { SignatureError, UnsupportedSignature } from "./hex_signature.ts";
import { type BodySignature, parseNdbLine } from "./ndb.ts";
import { type HashSignature, IGNORED_REASON, parseHashLine } from "./hash_db.ts";
import { readCvd } from "./cvd.ts";
import { parseLdbLine, subsigName } from "./ldb.ts";
import { IgnoreList } from "./allow_list.ts";

/** A malformed line: where it is and what is wrong. */
export interface LineError {
  file: string;
  line: number;
  message: string;
}

/** One loaded source (a file, or a member of a container). */
export interface SourceInfo {
  path: string;
  kind: string;
  body: number;
  hash: number;
  unsupported: number;
  malformed: number;
}

/** The loaded signatures, and everything that could not be used. */
export interface Database {
  body: BodySignature[];
  hashes: HashSignature[];
  /** Unusable signatures counted by reason (e.g. "logical signatures (.ldb)": 1200). */
  unsupported: Map<string, number>;
  /** Malformed lines, with file and line number. */
  errors: LineError[];
  sources: SourceInfo[];
  /** Text that identifies the content, for the compiled-database cache key. */
  digestInput: string[];
  /**
   * Ids (indices into `body`) of signatures from unsigned databases (plain `.ndb` files, not
   * `.cvd`/`.cld` members or the built-in EICAR): clamscan prints these `NAME.UNOFFICIAL`.
   */
  unofficialBody: number[];
  /** Names `.ign`/`.ign2` files loaded so far leave out of later databases (as clamscan). */
  ignore: IgnoreList;
}

/** The EICAR test string's signature, built in (clamscan ships it in its databases). */
export const EICAR_NDB =
  "Eicar-Test-Signature:0:*:58354f2150254041505b345c505a58353428505e2937434329377d2445494341522d5354414e444152442d414e544956495255532d544553542d46494c452124482b482a";

/** Extensions virtav recognises but cannot apply, with the reason reported. */
const UNSUPPORTED_EXT: Record<string, string> = {
  ldu: "logical signatures (.ldb)",
  cbc: "bytecode (.cbc)",
  imp: "PE import hashes (.imp)",
  cdb: "container metadata (.cdb)",
  crb: "Authenticode rules (.crb)",
  idb: "icon signatures (.idb)",
  ftm: "file type magic (.ftm)",
  pdb: "phishing (.pdb/.gdb/.wdb)",
  gdb: "phishing (.pdb/.gdb/.wdb)",
  wdb: "phishing (.pdb/.gdb/.wdb)",
  yar: "YARA rules",
  yara: "YARA rules",
  db: "old .db format",
  zmd: "archive metadata (.zmd/.rmd)",
  rmd: "archive metadata (.zmd/.rmd)",
  hdu: "hash signatures (.hdu/.hsu: PUA)",
  hsu: "hash signatures (.hdu/.hsu: PUA)",
  ndu: "extended signatures (.ndu: PUA)",
};

const TEXT_EXT = new Set(["ndb", "ldb", "hdb", "hsb", "mdb", "msb", "fp", "sfp", "ign", "ign2"]);

/** Allow-lists of whole-file hashes (`.hdb`/`.hsb` lines): a listed file has no detection. */
const FP_EXT = new Set(["fp", "sfp"]);

/** Lists of signature names to leave out of the databases loaded after them. */
const IGN_EXT = new Set(["ign", "ign2"]);

/** PE section hashes: parsed and checked as clamscan does, counted, not applicable to raw bytes. */
const SECTION_HASH_EXT = new Set(["mdb", "msb"]);

/** The extensions clamscan loads from a database directory (others there are ignored). */
export function isDatabaseName(name: string): boolean {
  const ext = extOf(name);
  return TEXT_EXT.has(ext) || ext in UNSUPPORTED_EXT || ["cvd", "cld", "cud"].includes(ext);
}

/** An empty database. */
export function emptyDatabase(): Database {
  return {
    body: [],
    hashes: [],
    unsupported: new Map(),
    errors: [],
    sources: [],
    digestInput: [],
    unofficialBody: [],
    ignore: new IgnoreList(),
  };
}

function count(db: Database, reason: string, n = 1): void {
  db.unsupported.set(reason, (db.unsupported.get(reason) ?? 0) + n);
}

function extOf(name: string): string {
  const dot = name.lastIndexOf(".");
  return dot < 0 ? "" : name.slice(dot + 1).toLowerCase();
}

/**
 * Whether an `.ign`/`.ign2` loaded earlier leaves out this line, checked where clamscan checks
 * it: `.ndb` once it has 4-6 fields, `.ldb` once it has 4 (`.hdb`-style lines in parseHashLine).
 */
function ignoredLine(db: Database, ext: string, line: string): boolean {
  if (db.ignore.size === 0) return false;
  if (ext === "ndb") {
    const f = line.split(":");
    return f.length >= 4 && f.length <= 6 && db.ignore.ignores(f[0], line);
  }
  if (ext === "ldb") {
    const f = line.split(";");
    return f.length >= 4 && db.ignore.ignores(f[0], line);
  }
  return false;
}

/** Adds the lines of one signature text (`.ndb`, `.ldb`, hash lists, allow-lists) to the database. */
export function addSignatureText(db: Database, path: string, ext: string, text: string): void {
  const info: SourceInfo = { path, kind: ext, body: 0, hash: 0, unsupported: 0, malformed: 0 };
  db.sources.push(info);
  db.digestInput.push(`${path}\n${text}`);
  if (IGN_EXT.has(ext)) {
    const before = db.ignore.size;
    db.ignore.addText(text, (line, message) => {
      db.errors.push({ file: path, line, message });
      info.malformed++;
    });
    info.hash = db.ignore.size - before;
    return;
  }
  const ignore = (name: string, line: string) =>
    db.ignore.size > 0 && db.ignore.ignores(name, line);
  // clamscan's official databases are the signed containers (and EICAR ships in one).
  const official = path === "(built-in)" || /\.(cvd|cld)\//i.test(path);
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/\r$/, "");
    if (line === "" && i === lines.length - 1) break;
    // clamscan accepts "#" comment lines and rejects empty ones.
    if (line.startsWith("#")) continue;
    try {
      if (line === "") throw new SignatureError("empty line");
      if (ignoredLine(db, ext, line)) throw new UnsupportedSignature(IGNORED_REASON);
      if (ext === "ndb") {
        const sig = parseNdbLine(line);
        if (!official) db.unofficialBody.push(db.body.length);
        db.body.push(sig);
        info.body++;
      } else if (ext === "ldb") {
        const sig = parseLdbLine(line);
        sig.subsigs.forEach((sub, j) => {
          if (!official) db.unofficialBody.push(db.body.length);
          db.body.push({ ...sub, name: subsigName(sig, j) });
        });
        info.body++;
      } else if (SECTION_HASH_EXT.has(ext)) {
        parseHashLine(line, true, ignore);
        throw new UnsupportedSignature(`PE section hashes (.${ext})`);
      } else {
        const h = parseHashLine(line, false, ignore);
        if (FP_EXT.has(ext)) h.allow = true;
        db.hashes.push(official ? h : { ...h, unofficial: true });
        info.hash++;
      }
    } catch (e) {
      if (e instanceof UnsupportedSignature) {
        count(db, e.reason);
        info.unsupported++;
      } else if (e instanceof SignatureError) {
        db.errors.push({ file: path, line: i + 1, message: e.message });
        info.malformed++;
      } else throw e;
    }
  }
}

function addUnsupportedText(db: Database, path: string, ext: string, text: string): void {
  let n = 0;
  for (const line of text.split("\n")) if (line.trim() !== "" && !line.startsWith("#")) n++;
  if (ext === "info" || ext === "txt" || path.endsWith("COPYING")) return;
  const reason = UNSUPPORTED_EXT[ext] ?? `unknown file type (.${ext || "no extension"})`;
  count(db, reason, n);
  db.sources.push({ path, kind: ext, body: 0, hash: 0, unsupported: n, malformed: 0 });
}

/** Adds one file by name and content (from disk or from a container). */
export async function addDatabaseFile(
  db: Database,
  path: string,
  bytes: Uint8Array,
): Promise<void> {
  const ext = extOf(path);
  if (ext === "cvd" || ext === "cld" || ext === "cud") {
    const { members } = await readCvd(bytes).catch((e) => {
      throw new Error(`${path}: ${(e as Error).message}`);
    });
    for (const m of members) await addDatabaseFile(db, `${path}/${m.name}`, m.data);
    return;
  }
  const text = new TextDecoder().decode(bytes);
  // clamscan refuses a database file without a single line (comments only is fine).
  if (bytes.length === 0 && isDatabaseName(path)) throw new Error(`${path}: empty database file`);
  if (TEXT_EXT.has(ext)) addSignatureText(db, path, ext, text);
  else addUnsupportedText(db, path, ext, text);
}

/** One database file as read from disk: its path and bytes (parsed later, or not at all). */
export interface DatabaseFile {
  path: string;
  bytes: Uint8Array;
}

/**
 * The files clamscan's `-d` would read: each path a file, or a directory's database files (by
 * extension, sorted by name, not recursive; symlinks followed, broken ones skipped). A
 * directory without one database file is refused, as clamscan does.
 */
export async function listDatabaseFiles(paths: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    let st: Deno.FileInfo;
    try {
      st = await Deno.stat(p);
    } catch (e) {
      throw new Error(`database ${p}: ${(e as Error).message.split(":")[0]}`);
    }
    if (st.isDirectory) {
      const names: string[] = [];
      for await (const ent of Deno.readDir(p)) {
        if (!isDatabaseName(ent.name) || ent.isDirectory) continue;
        if (ent.isSymlink) {
          const target = await Deno.stat(join(p, ent.name)).catch(() => null);
          if (!target?.isFile) continue;
        } else if (!ent.isFile) continue;
        names.push(ent.name);
      }
      if (names.length === 0) throw new Error(`database ${p}: no database files in the directory`);
      // clamscan loads a directory's .ign/.ign2 files first, the others by name
      names.sort((a, b) =>
        Number(!IGN_EXT.has(extOf(a))) - Number(!IGN_EXT.has(extOf(b))) ||
        (a < b ? -1 : a > b ? 1 : 0)
      );
      for (const n of names) out.push(join(p, n));
    } else {
      out.push(p);
    }
  }
  return out;
}

/** Reads the files clamscan's `-d` would (see {@linkcode listDatabaseFiles}). */
export async function readDatabaseFiles(paths: string[]): Promise<DatabaseFile[]> {
  const out: DatabaseFile[] = [];
  for (const path of await listDatabaseFiles(paths)) {
    out.push({ path, bytes: await Deno.readFile(path) });
  }
  return out;
}

/** Parses files already read (see {@linkcode readDatabaseFiles}), EICAR first if asked. */
export async function parseDatabaseFiles(
  files: DatabaseFile[],
  opts: { eicar?: boolean } = {},
): Promise<Database> {
  const db = emptyDatabase();
  if (opts.eicar ?? true) addSignatureText(db, "(built-in)", "ndb", EICAR_NDB + "\n");
  for (const f of files) await addDatabaseFile(db, f.path, f.bytes);
  return db;
}

/**
 * Loads databases as clamscan's `-d` does: each path a file or a directory of files.
 *
 * @example
 * ```ts
 * import { loadDatabase } from "./database.ts";
 * const db = await loadDatabase(["fixtures/virtav/test.ndb"], { eicar: true });
 * console.log(db.body.length, db.errors);
 * ```
 */
export async function loadDatabase(
  paths: string[],
  opts: { eicar?: boolean } = {},
): Promise<Database> {
  return await parseDatabaseFiles(await readDatabaseFiles(paths), opts);
}

/** The first malformed line as one message (`file:line: message`), or null. */
export function firstError(db: Pick<Database, "errors">): string | null {
  const e = db.errors[0];
  if (!e) return null;
  const more = db.errors.length > 1 ? ` (and ${db.errors.length - 1} more)` : "";
  return `${e.file}:${e.line}: malformed signature: ${e.message}${more}`;
}
