/**
 * ClamAV hash signatures: `.hdb` (MD5) and `.hsb` (SHA1/SHA256), `HashString:FileSize:MalwareName[:flevel]`
 * (docs.clamav.net, "Hash-based Signatures"). `FileSize` may be `*` (any size).
 *
 * @module
 */
import { SignatureError } from "./hex_signature.ts";

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
}

const ALGO_BY_LEN: Record<number, HashAlgo> = { 32: "md5", 40: "sha1", 64: "sha256" };

/**
 * Parses one `.hdb`/`.hsb` line.
 *
 * @example
 * ```ts
 * import { parseHashLine } from "./hash_db.ts";
 * parseHashLine("44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature");
 * ```
 */
export function parseHashLine(line: string): HashSignature {
  const f = line.split(":");
  if (f.length < 3 || f.length > 5) {
    throw new SignatureError(`expected HashString:FileSize:MalwareName, got ${f.length} fields`);
  }
  const [hashText, sizeText, name] = f;
  const hash = hashText.toLowerCase();
  const algo = ALGO_BY_LEN[hash.length];
  if (!algo || !/^[0-9a-f]+$/.test(hash)) {
    throw new SignatureError(`"${hashText}" is not an MD5, SHA1 or SHA256 hex string`);
  }
  let size: number | null = null;
  if (sizeText !== "*") {
    if (!/^[0-9]+$/.test(sizeText)) {
      throw new SignatureError(`file size: not a number: "${sizeText}"`);
    }
    size = Number(sizeText);
  } else if (f.length < 4) {
    throw new SignatureError("file size * needs a functionality level field (ClamAV's rule)");
  }
  if (name.length === 0) throw new SignatureError("empty signature name");
  return { name, algo, hash, size };
}
