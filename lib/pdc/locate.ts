/**
 * `locate`: recognizes the file system in a raw image and finds its journal's byte ranges.
 *
 * @module
 */
import { isExt, locateExt4 } from "./ext4_locate.ts";
import { ImageFormatError, type ImageReader, openImageFile } from "./image_reader.ts";
import type { JournalLocation } from "./journal_location.ts";
import { isXfs, locateXfs } from "./xfs_locate.ts";

/**
 * Finds the journal in an image (ext2/3/4 or XFS); throws {@linkcode ImageFormatError} on an
 * unknown, truncated or corrupt file system.
 *
 * @example
 * ```ts
 * import { bytesReader } from "./image_reader.ts";
 * import { locateJournal } from "./locate.ts";
 * await locateJournal(bytesReader(new Uint8Array(4096))); // throws: unknown file system
 * ```
 */
export async function locateJournal(img: ImageReader): Promise<JournalLocation> {
  if (img.size < 4096) {
    throw new ImageFormatError(`image too small to hold a file system (${img.size} bytes)`);
  }
  if (await isXfs(img)) return await locateXfs(img);
  if (await isExt(img)) return await locateExt4(img);
  throw new ImageFormatError("unknown file system (neither ext2/3/4 nor XFS superblock found)");
}

/** Opens an image file and locates its journal. */
export async function locateJournalInFile(path: string): Promise<JournalLocation> {
  const img = await openImageFile(path);
  try {
    return await locateJournal(img);
  } finally {
    img.close();
  }
}
