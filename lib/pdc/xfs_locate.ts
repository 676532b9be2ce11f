/**
 * Finds an XFS file system's internal log from its primary superblock (big-endian, at byte 0):
 * `sb_logstart` is a file-system block number encoded as `(AG << sb_agblklog) | agbno`, so the
 * byte offset is `(AG × sb_agblocks + agbno) × sb_blocksize`, not `sb_logstart × blocksize`.
 * `sb_logstart == 0` means an external log device.
 *
 * @module
 */
import { ImageFormatError, type ImageReader } from "./image_reader.ts";
import type { JournalLocation } from "./journal_location.ts";

const XFS_MAGIC = 0x58465342; // "XFSB"

/** True when the image starts with an XFS superblock magic. */
export async function isXfs(img: ImageReader): Promise<boolean> {
  if (img.size < 512) return false;
  const b = await img.readAt(0, 4, "xfs superblock");
  return new DataView(b.buffer, b.byteOffset, 4).getUint32(0, false) === XFS_MAGIC;
}

/**
 * Locates the log of the XFS file system in `img`.
 *
 * @example
 * ```ts
 * import { locateXfs } from "./xfs_locate.ts";
 * import { openImageFile } from "./image_reader.ts";
 * console.log((await locateXfs(await openImageFile("xfs.img"))).ranges);
 * ```
 */
export async function locateXfs(img: ImageReader): Promise<JournalLocation> {
  const b = await img.readAt(0, 512, "xfs superblock");
  const sb = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (sb.getUint32(0, false) !== XFS_MAGIC) {
    throw new ImageFormatError("not an XFS file system (no XFSB magic at byte 0)");
  }
  const bs = sb.getUint32(0x04, false);
  if (bs < 512 || bs > 65536 || (bs & (bs - 1)) !== 0) {
    throw new ImageFormatError(`xfs superblock: bad sb_blocksize ${bs}`);
  }
  const dblocks = Number(sb.getBigUint64(0x08, false));
  const logstart = sb.getBigUint64(0x30, false);
  const agblocks = sb.getUint32(0x54, false);
  const agcount = sb.getUint32(0x58, false);
  const logblocks = sb.getUint32(0x60, false);
  const agblklog = sb.getUint8(0x7c);
  if (
    agblocks === 0 || agcount === 0 || agblklog === 0 || agblklog > 31 || 2 ** agblklog < agblocks
  ) {
    throw new ImageFormatError(
      `xfs superblock: inconsistent geometry (agblocks ${agblocks}, agcount ${agcount}, agblklog ${agblklog})`,
    );
  }
  const base = { fs: "xfs" as const, blockSize: bs, fsBytes: dblocks * bs };
  if (logstart === 0n) return { ...base, journal: "external", ranges: [], external: {} };
  const agno = Number(logstart >> BigInt(agblklog));
  const agbno = Number(logstart & ((1n << BigInt(agblklog)) - 1n));
  if (agno >= agcount || agbno + logblocks > agblocks || logblocks === 0) {
    throw new ImageFormatError(
      `xfs superblock: log at AG ${agno} block ${agbno} (+${logblocks}) is outside the file system`,
    );
  }
  const off = (agno * agblocks + agbno) * bs;
  const len = logblocks * bs;
  if (off + len > img.size) {
    throw new ImageFormatError(
      `truncated image: the log ends at byte ${off + len}, image has ${img.size} bytes`,
    );
  }
  return { ...base, journal: "internal", journalBlocks: logblocks, ranges: [{ off, len }] };
}
