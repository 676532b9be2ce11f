/**
 * ClamAV hash signatures: `.hdb` (MD5) and `.hsb` (SHA1/SHA256), `HashString:FileSize:MalwareName[:flevel]`
 * (docs.clamav.net, "Hash-based Signatures"). `FileSize` may be `*` (any size).
 *
 * @module
 */
import { SignatureError, UnsupportedSignature } from "./hex_signature.ts";
import { atoi, ENGINE_FLEVEL } from "./ndb.ts";

/** The hash algorithms ClamAV names by the hex length of the hash. */
export type HashAlgo = "md5" | "sha1" | "sha256";

/** One whole-content hash signature. */
export interface HashSignature {
  name: string;
  algo: HashAlgo;
  /** Lower-case hex. */
  hash: string;
  /** Exact content size, or null for `*`. */
  size: number | null;
  /** From an unsigned database (clamscan prints `NAME.UNOFFICIAL`). */
  unofficial?: boolean;
  /** From an allow-list (`.fp`/`.sfp`): a file it matches has no detection at all. */
  allow?: boolean;
}

/** Why a line an `.ign`/`.ign2` list leaves out is not loaded (counted with the unusable ones). */
export const IGNORED_REASON = "left out by .ign/.ign2";

const ALGO_BY_LEN: Record<number, HashAlgo> = { 32: "md5", 40: "sha1", 64: "sha256" };

/**
 * Parses one `.hdb`/`.hsb` line (`.mdb`/`.msb` with `sizeFirst`: `FileSize:HashString:Name`),
 * as clamscan's cli_loadhash: MinFL (field 4) and MaxFL (field 5) decide loading before
 * anything else is checked (then {@linkcode UnsupportedSignature}); a size of 0 is refused;
 * `*` needs a MinFL of at least 73; then `ignored` (an `.ign`/`.ign2` list) may leave it out.
 *
 * @example
 * ```ts
 * import { parseHashLine } from "./hash_db.ts";
 * parseHashLine("44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature");
 * ```
 */
export function parseHashLine(
  line: string,
  sizeFirst = false,
  ignored: (name: string, line: string) => boolean = () => false,
): HashSignature {
  const f = line.split(":");
  if (f.length < 3 || f.length > 5) {
    throw new SignatureError(`expected HashString:FileSize:MalwareName, got ${f.length} fields`);
  }
  const reqFl = f.length > 3 ? atoi(f[3]) : 0;
  if (reqFl > ENGINE_FLEVEL || (f.length === 5 && atoi(f[4]) < ENGINE_FLEVEL)) {
    throw new UnsupportedSignature(`functionality level outside ${ENGINE_FLEVEL} (skipped)`);
  }
  const [hashText, sizeText] = sizeFirst ? [f[1], f[0]] : [f[0], f[1]];
  const name = f[2];
  let size: number | null = null;
  if (sizeText !== "*") {
    if (!/^\+?[0-9]+$/.test(sizeText)) {
      throw new SignatureError(`file size: not a number: "${sizeText}"`);
    }
    size = Number(sizeText.replace("+", ""));
    if (size === 0 || size >= 0xffffffff) {
      throw new SignatureError(`file size ${sizeText}: must be 1 to 4294967294 (or *)`);
    }
  } else if (f.length < 4 || reqFl < 73) {
    throw new SignatureError("file size * needs a minimum functionality level of 73 or more");
  }
  // where clamscan's cli_loadhash asks its .ign/.ign2 lists
  if (ignored(name, line)) throw new UnsupportedSignature(IGNORED_REASON);
  const hash = hashText.toLowerCase();
  const algo = ALGO_BY_LEN[hash.length];
  if (!algo || !/^[0-9a-f]+$/.test(hash)) {
    throw new SignatureError(`"${hashText}" is not an MD5, SHA1 or SHA256 hex string`);
  }
  if (name.length === 0) throw new SignatureError("empty signature name");
  return { name, algo, hash, size };
}
