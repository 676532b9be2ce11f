/**
 * What `pdc-filter locate` finds: the journal's byte ranges plus how they were found.
 *
 * @module
 */
import type { ByteRange } from "./byte_range.ts";

/** The journal of one file system image. `ranges` is empty when the journal is not on it. */
export interface JournalLocation {
  /** The file system found. */
  fs: "ext4" | "xfs";
  /**
   * `internal`: inside this image; `external`: on another device (see `external`); `none`: the
   * file system has no journal; `device`: this image is an external journal device.
   */
  journal: "internal" | "external" | "none" | "device";
  /** Byte ranges of the journal in this image, in the journal's own (logical) order. */
  ranges: ByteRange[];
  /** File system block size in bytes. */
  blockSize: number;
  /** Size of the file system in bytes (from its superblock). */
  fsBytes: number;
  /** ext4: the journal inode number. */
  inode?: number;
  /** ext4: how the journal inode maps its blocks. */
  mapping?: "extents" | "blockmap";
  /** Journal length in file system blocks, from the journal's own superblock (ext4). */
  journalBlocks?: number;
  /** Where an external journal lives. */
  external?: { uuid?: string; dev?: number };
  /** Feature flags that matter to the mapping. */
  features?: Record<string, boolean>;
}
