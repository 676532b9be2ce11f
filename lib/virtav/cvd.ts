/**
 * ClamAV database containers: `.cvd`/`.cld` = a 512-byte text header
 * (`ClamAV-VDB:time:version:sigs:flevel:md5:dsig:builder:stime`, space padded) followed by a
 * tar archive, gzip-compressed (a `.cld` may hold it uncompressed). virtav checks the header
 * and the MD5 of the archive; it cannot check the digital signature (ClamAV's RSA key) and says so.
 *
 * @module
 */
import { createHash } from "node:crypto";

/** A damaged or unreadable container. */
export class CvdError extends Error {
  override name = "CvdError";
}

/** The header fields of a `.cvd`/`.cld`. */
export interface CvdHeader {
  buildTime: string;
  version: number;
  signatures: number;
  flevel: number;
  md5: string;
  builder: string;
}

/** One file inside the container. */
export interface CvdMember {
  name: string;
  data: Uint8Array;
}

/** Parses the 512-byte header. */
export function parseCvdHeader(bytes: Uint8Array): CvdHeader {
  if (bytes.length < 512) throw new CvdError(`truncated: ${bytes.length} bytes, header needs 512`);
  const text = new TextDecoder("latin1").decode(bytes.subarray(0, 512)).trimEnd();
  const f = text.split(":");
  if (f[0] !== "ClamAV-VDB" || f.length < 8) {
    throw new CvdError('not a ClamAV database (header does not start with "ClamAV-VDB:")');
  }
  // The build time itself contains a ":"-free date; fields are fixed in position.
  const num = (s: string, what: string) => {
    if (!/^[0-9]+$/.test(s)) throw new CvdError(`header: ${what} is not a number: "${s}"`);
    return Number(s);
  };
  return {
    buildTime: f[1],
    version: num(f[2], "version"),
    signatures: num(f[3], "signature count"),
    flevel: num(f[4], "functionality level"),
    md5: f[5],
    builder: f[7],
  };
}

async function gunzip(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new DecompressionStream("gzip"),
  );
  try {
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (e) {
    throw new CvdError(`archive is not valid gzip (truncated?): ${(e as Error).message}`);
  }
}

/** Reads the members of a ustar/GNU tar archive (regular files only). */
export function untar(tar: Uint8Array): CvdMember[] {
  const out: CvdMember[] = [];
  const dec = new TextDecoder("latin1");
  let pos = 0;
  while (pos + 512 <= tar.length) {
    const h = tar.subarray(pos, pos + 512);
    if (h.every((b) => b === 0)) return out;
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i];
    const field = (o: number, n: number) => dec.decode(h.subarray(o, o + n)).replace(/\0.*$/s, "");
    const stored = parseInt(field(148, 8).trim(), 8);
    if (stored !== sum) throw new CvdError(`tar header at ${pos}: bad checksum`);
    const name = field(0, 100);
    const size = parseInt(field(124, 12).trim() || "0", 8);
    const type = field(156, 1);
    const start = pos + 512;
    if (start + size > tar.length) throw new CvdError(`tar member ${name}: truncated`);
    if (type === "" || type === "0") {
      out.push({ name: name.replace(/^\.\//, ""), data: tar.subarray(start, start + size) });
    }
    pos = start + Math.ceil(size / 512) * 512;
  }
  if (pos !== tar.length) throw new CvdError("tar archive: truncated header");
  return out;
}

/**
 * Reads a `.cvd`/`.cld` image: its header and members. Throws {@linkcode CvdError} when the
 * header, MD5, gzip or tar structure is wrong (a truncated download, for example).
 *
 * @example
 * ```ts
 * import { readCvd } from "./cvd.ts";
 * const { header, members } = await readCvd(await Deno.readFile("main.cvd"));
 * ```
 */
export async function readCvd(
  bytes: Uint8Array,
): Promise<{ header: CvdHeader; members: CvdMember[]; md5Checked: boolean }> {
  const header = parseCvdHeader(bytes);
  const body = bytes.subarray(512);
  if (body.length === 0) throw new CvdError("truncated: nothing after the 512-byte header");
  let md5Checked = false;
  if (/^[0-9a-f]{32}$/.test(header.md5)) {
    const md5 = createHash("md5").update(body).digest("hex");
    if (md5 !== header.md5) {
      throw new CvdError(
        `MD5 of the archive is ${md5}, the header says ${header.md5} (truncated?)`,
      );
    }
    md5Checked = true;
  }
  const tar = body[0] === 0x1f && body[1] === 0x8b ? await gunzip(body) : body;
  return { header, members: untar(tar), md5Checked };
}
