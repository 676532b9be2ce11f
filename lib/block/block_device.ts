/**
 * The storage interface every layer speaks (DESIGN.md): the NBD server exports one; the cache,
 * the journal-bypass admission and the recorder each wrap one; the daio engine and the memory
 * device are at the bottom. A layer knows the one under it only through this interface.
 *
 * @module
 */

/** Per-request flags, as NBD carries them. */
export interface WriteFlags {
  /** Force Unit Access: the write is durable when the promise resolves. */
  fua?: boolean;
}

/** Flags for write-zeroes. */
export interface ZeroFlags extends WriteFlags {
  /** The range must be allocated afterwards (NBD_CMD_FLAG_NO_HOLE). */
  noHole?: boolean;
}

/** Size constraints a device prefers, advertised by NBD_INFO_BLOCK_SIZE. */
export interface BlockSizes {
  minimum: number;
  preferred: number;
  maximum: number;
}

/**
 * A byte-addressed block device. Offsets and lengths are bytes; callers keep requests inside
 * `size`. Failures throw {@linkcode BlockError} so an NBD server can answer with the errno.
 */
export interface BlockDevice {
  /** A short name for traces and logs (the `dev` field of an I/O record). */
  readonly name: string;
  /** Size in bytes. */
  readonly size: number;
  readonly readOnly: boolean;
  readonly blockSizes: BlockSizes;
  /** Fills `buf` with `buf.length` bytes from `offset`. */
  read(offset: number, buf: Uint8Array): Promise<void>;
  write(offset: number, data: Uint8Array, flags?: WriteFlags): Promise<void>;
  /** Makes every completed write durable. */
  flush(): Promise<void>;
  /** Discards a range (a hint; reads may return old data or zeroes). */
  trim(offset: number, length: number, flags?: WriteFlags): Promise<void>;
  /** Writes zeroes over a range. */
  zero(offset: number, length: number, flags?: ZeroFlags): Promise<void>;
  /** Flushes what must be flushed and releases the device. */
  close(): Promise<void>;
}

/** Errno names a block device may fail with (the subset NBD can carry). */
export type BlockErrno =
  | "EIO"
  | "EPERM"
  | "ENOMEM"
  | "EINVAL"
  | "ENOSPC"
  | "EOVERFLOW"
  | "ENOTSUP"
  | "ESHUTDOWN";

/** A device failure carrying the errno name an NBD reply should use. */
export class BlockError extends Error {
  override name = "BlockError";
  constructor(readonly code: BlockErrno, message: string) {
    super(message);
  }
}

/** Throws EINVAL/ENOSPC-style errors for a request outside the device. */
export function checkRange(
  dev: { size: number; name: string },
  offset: number,
  length: number,
): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new BlockError("EINVAL", `${dev.name}: bad range offset=${offset} length=${length}`);
  }
  if (offset + length > dev.size) {
    throw new BlockError(
      "ENOSPC",
      `${dev.name}: range ${offset}+${length} is past the end (${dev.size})`,
    );
  }
}
