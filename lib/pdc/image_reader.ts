/**
 * Random-access reads from a raw disk image, with a clear error when the image is shorter than
 * what its own metadata says (a truncated image).
 *
 * @module
 */

/** A malformed, truncated or unrecognized image: the message names what was wrong. */
export class ImageFormatError extends Error {
  override name = "ImageFormatError";
}

/** Reads byte ranges of an image. */
export interface ImageReader {
  /** Size of the image in bytes. */
  readonly size: number;
  /** Reads exactly `len` bytes at `off`; throws {@linkcode ImageFormatError} past the end. */
  readAt(off: number, len: number, what: string): Promise<Uint8Array>;
}

/**
 * An image held in memory (tests, fuzzing).
 *
 * @example
 * ```ts
 * import { bytesReader } from "./image_reader.ts";
 * const r = bytesReader(new Uint8Array(4096));
 * await r.readAt(1024, 16, "superblock");
 * ```
 */
export function bytesReader(bytes: Uint8Array): ImageReader {
  return {
    size: bytes.length,
    readAt(off, len, what) {
      if (off < 0 || off + len > bytes.length) {
        return Promise.reject(
          new ImageFormatError(
            `truncated image: ${what} at byte ${off} (+${len}) is past the end (${bytes.length} bytes)`,
          ),
        );
      }
      return Promise.resolve(bytes.subarray(off, off + len));
    },
  };
}

/**
 * Opens an image file for reading; call `close()` when done.
 *
 * @example
 * ```ts
 * import { openImageFile } from "./image_reader.ts";
 * const img = await openImageFile("disk.img");
 * try { console.log(img.size); } finally { img.close(); }
 * ```
 */
export async function openImageFile(path: string): Promise<ImageReader & { close(): void }> {
  const file = await Deno.open(path, { read: true });
  const size = (await file.stat()).size;
  return {
    size,
    async readAt(off, len, what) {
      if (off < 0 || off + len > size) {
        throw new ImageFormatError(
          `truncated image: ${what} at byte ${off} (+${len}) is past the end (${size} bytes)`,
        );
      }
      const buf = new Uint8Array(len);
      await file.seek(off, Deno.SeekMode.Start);
      let got = 0;
      while (got < len) {
        const n = await file.read(buf.subarray(got));
        if (n === null) throw new ImageFormatError(`truncated image: short read of ${what}`);
        got += n;
      }
      return buf;
    },
    close() {
      file.close();
    },
  };
}
