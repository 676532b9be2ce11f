/**
 * clamscan's `.ign`/`.ign2` lists (libclamav readdb.c `cli_loadign`, `cli_chkign`), checked
 * against clamscan 1.4.6: signature names left out when later databases load. A line is
 * `Name`, `Name:MD5` (MD5 of the whole signature line, after its line end is cut) or the old
 * `x:y:Name`; `#` starts a comment; an empty line, an empty name, four or more `:` fields or an
 * MD5 that is not 32 hex digits refuse the list. A name matches a signature's whole name, case
 * and all, after clamscan cuts `.UNOFFICIAL` or a `.{...}` tail from the signature's (not the
 * list's) name; names under 3 characters are padded with spaces on both sides.
 *
 * One quirk is kept: clamscan keeps the MD5 of the last `Name:MD5` line as a pointer into its
 * line buffer, so a later line without one is checked against whatever that buffer holds at the
 * same place (in practice a malformed MD5, which refuses the list). {@linkcode IgnoreList}
 * replays the buffer to give the same answer.
 *
 * `.fp`/`.sfp` are hash lines as `.hdb`/`.hsb` (`hash_db.ts`), applied by the scanner: a file
 * whose MD5, SHA1 or SHA256 (and size, or `*`) is listed has no detection.
 *
 * @module
 */
import { createHash } from "node:crypto";

/** clamscan's line buffer (FILEBUFF). */
const FILEBUFF = 8192;

/** A name as clamscan compares it (cli_signorm for signatures, the padding for both). */
function pad3(name: string): string {
  return name.length < 3 ? name.padEnd(3, " ") : name;
}

/** A signature's name as cli_signorm normalises it before the list is searched. */
export function normalisedSigName(name: string): string {
  let n = name;
  if (n.length > 3 && n.endsWith("}")) {
    const at = n.indexOf(".{");
    if (at >= 0) n = n.slice(0, at);
  } else if (n.length > 11 && n.endsWith(".UNOFFICIAL")) n = n.slice(0, -11);
  return pad3(n);
}

/** Names (with the MD5s of the lines they leave out, or any line) from `.ign`/`.ign2` files. */
export class IgnoreList {
  readonly #entries = new Map<string, (string | null)[]>();
  /** Entries loaded. */
  size = 0;

  /**
   * Adds one list's text, as cli_loadign reads it; at the first line clamscan refuses, calls
   * `onError` with its 1-based number and stops (the entries before it stay, as in clamscan,
   * whose whole load then fails).
   */
  addText(text: string, onError: (line: number, message: string) => void): void {
    const buf = new Uint8Array(FILEBUFF);
    const enc = new TextEncoder();
    const cstr = (at: number) => {
      let e = at;
      while (e < FILEBUFF && buf[e] !== 0) e++;
      return new TextDecoder().decode(buf.subarray(at, e));
    };
    let hashAt = -1; // where the last MD5 token began in the buffer (clamscan's stale pointer)
    const pieces = text.split("\n");
    for (let i = 0; i < pieces.length; i++) {
      const last = i === pieces.length - 1;
      if (last && pieces[i] === "") break;
      // fgets: the line and its "\n", then a NUL (a line longer than the buffer is cut)
      const bytes = enc.encode(pieces[i] + (last ? "" : "\n")).subarray(0, FILEBUFF - 1);
      buf.set(bytes, 0);
      buf[bytes.length] = 0;
      if (buf[0] === 0x23) continue; // '#'
      let len = bytes.length;
      while (len > 0 && (buf[len - 1] === 0x0a || buf[len - 1] === 0x0d)) buf[--len] = 0;
      // cli_strtokenize(buffer, ':', 4): each ':' found ends a token
      const starts = [0];
      for (let k = 0; k < len && starts.length < 4; k++) {
        if (buf[k] === 0x3a) {
          buf[k] = 0;
          starts.push(k + 1);
        }
      }
      if (starts.length > 3) return onError(i + 1, "more than 3 fields");
      const line = i + 1;
      let name: string;
      if (starts.length === 2) hashAt = starts[1];
      if (starts.length === 3) name = cstr(starts[2]);
      else name = cstr(0);
      if (name === "") return onError(line, "no signature name");
      let md5: string | null = null;
      if (hashAt >= 0) {
        md5 = cstr(hashAt);
        if (!/^[0-9a-fA-F]{32}$/.test(md5)) return onError(line, `malformed MD5 "${md5}"`);
        md5 = md5.toLowerCase();
      }
      const key = pad3(name);
      const list = this.#entries.get(key) ?? [];
      list.push(md5);
      this.#entries.set(key, list);
      this.size++;
    }
  }

  /** Whether clamscan leaves out signature `name` from database line `line`. */
  ignores(name: string, line: string): boolean {
    const list = this.#entries.get(normalisedSigName(name));
    if (!list) return false;
    let digest: string | undefined;
    return list.some((md5) => {
      if (md5 === null) return true;
      digest ??= createHash("md5").update(new TextEncoder().encode(line)).digest("hex");
      return digest === md5;
    });
  }
}
