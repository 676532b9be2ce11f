/**
 * Finds an ext2/3/4 journal's byte ranges from on-disk metadata: superblock → journal inode
 * (`s_journal_inum`) → its extent tree (index blocks included) or its ext3 block map → ranges.
 * An external journal (`journal_dev`) is reported with its UUID and device number and no
 * ranges; an image that *is* an external journal device is reported as one range covering the
 * journal. Layout per the kernel's Documentation/filesystems/ext4 (little-endian fields).
 *
 * @module
 */
import { type ByteRange, pushMerged } from "./byte_range.ts";
import { ImageFormatError, type ImageReader } from "./image_reader.ts";
import type { JournalLocation } from "./journal_location.ts";

const SB_OFFSET = 1024;
const EXT4_MAGIC = 0xef53;
const COMPAT_HAS_JOURNAL = 0x4;
const INCOMPAT_JOURNAL_DEV = 0x8;
const INCOMPAT_META_BG = 0x10;
const INCOMPAT_64BIT = 0x80;
const RO_COMPAT_BIGALLOC = 0x200;
const EXTENTS_FL = 0x80000;
const EXTENT_MAGIC = 0xf30a;
const JBD2_MAGIC = 0xc03b3998;
const MAX_EXTENT_DEPTH = 5;

/** True when the image has an ext2/3/4 superblock magic at byte 1080. */
export async function isExt(img: ImageReader): Promise<boolean> {
  if (img.size < SB_OFFSET + 1024) return false;
  const sb = await img.readAt(SB_OFFSET, 1024, "ext4 superblock");
  return new DataView(sb.buffer, sb.byteOffset, sb.byteLength).getUint16(0x38, true) ===
    EXT4_MAGIC;
}

function uuidString(b: Uint8Array): string {
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * Locates the journal of the ext2/3/4 file system in `img`.
 *
 * @example
 * ```ts
 * import { locateExt4 } from "./ext4_locate.ts";
 * import { openImageFile } from "./image_reader.ts";
 * const img = await openImageFile("disk.img");
 * console.log((await locateExt4(img)).ranges);
 * ```
 */
export async function locateExt4(img: ImageReader): Promise<JournalLocation> {
  const sb = await readSuperblock(img);
  const { base, bs, blocksCount } = sb;
  if ((sb.incompat & INCOMPAT_JOURNAL_DEV) !== 0) return await journalDevice(img, sb);
  if ((sb.compat & COMPAT_HAS_JOURNAL) === 0) return { ...base, journal: "none", ranges: [] };
  const inum = sb.view.getUint32(0xe0, true);
  if (inum === 0) {
    return {
      ...base,
      journal: "external",
      ranges: [],
      external: {
        uuid: uuidString(sb.bytes.subarray(0xd0, 0xe0)),
        dev: sb.view.getUint32(0xe4, true),
      },
    };
  }
  const inode = await readJournalInode(img, sb, inum);
  const ctx: WalkCtx = { img, bs, blocksCount, nBlocks: inode.nBlocks, inum };
  const runs = inode.extents
    ? await walkExtents(ctx, inode.iblock)
    : await walkBlockMap(ctx, inode.iblock);
  const ranges = runsToRanges(runs, inode.nBlocks, bs, inum);
  const end = Math.max(...ranges.map((r) => r.off + r.len));
  if (end > img.size) {
    throw new ImageFormatError(
      `truncated image: journal ends at byte ${end}, image has ${img.size} bytes`,
    );
  }
  const jsb = await readJbd2Super(img, ranges[0].off);
  return {
    ...base,
    journal: "internal",
    inode: inum,
    mapping: inode.extents ? "extents" : "blockmap",
    journalBlocks: jsb.maxlen,
    ranges,
  };
}

/**
 * The superblock fields the search needs, checked, and the location's common fields (also read
 * by ext4_metadata.ts).
 */
export interface Superblock {
  bytes: Uint8Array;
  view: DataView;
  bs: number;
  compat: number;
  incompat: number;
  is64: boolean;
  blocksCount: number;
  /** The block right after the superblock's (the group descriptors, or a journal's super). */
  blockAfter: number;
  base: Pick<JournalLocation, "fs" | "blockSize" | "fsBytes" | "features">;
}

/** Reads the primary superblock at byte 1024 and checks its magic, block size and size. */
export async function readSuperblock(img: ImageReader): Promise<Superblock> {
  const bytes = await img.readAt(SB_OFFSET, 1024, "ext4 superblock");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint16(0x38, true) !== EXT4_MAGIC) {
    throw new ImageFormatError("not an ext2/3/4 file system (no superblock magic at byte 1080)");
  }
  const logBs = view.getUint32(0x18, true);
  if (logBs > 6) throw new ImageFormatError(`ext4 superblock: bad s_log_block_size ${logBs}`);
  const bs = 1024 << logBs;
  const compat = view.getUint32(0x5c, true);
  const incompat = view.getUint32(0x60, true);
  const roCompat = view.getUint32(0x64, true);
  const is64 = (incompat & INCOMPAT_64BIT) !== 0;
  const blocksCount = view.getUint32(0x04, true) +
    (is64 ? view.getUint32(0x150, true) * 2 ** 32 : 0);
  if (blocksCount === 0) throw new ImageFormatError("ext4 superblock: s_blocks_count is 0");
  return {
    bytes,
    view,
    bs,
    compat,
    incompat,
    is64,
    blocksCount,
    // The journal superblock's block sits right after the ext4 superblock's block.
    blockAfter: Math.floor(SB_OFFSET / bs) + 1,
    base: {
      fs: "ext4",
      blockSize: bs,
      fsBytes: blocksCount * bs,
      features: {
        "64bit": is64,
        bigalloc: (roCompat & RO_COMPAT_BIGALLOC) !== 0,
        meta_bg: (incompat & INCOMPAT_META_BG) !== 0,
      },
    },
  };
}

/**
 * This image is an external journal device: the journal runs from the block after the ext4
 * superblock to the end of the device.
 */
async function journalDevice(img: ImageReader, sb: Superblock): Promise<JournalLocation> {
  const off = sb.blockAfter * sb.bs;
  const jsb = await readJbd2Super(img, off);
  const len = Math.min(jsb.maxlen * sb.bs, sb.blocksCount * sb.bs) - off;
  if (off + len > img.size) {
    throw new ImageFormatError(
      `truncated image: journal device ends at byte ${off + len}, image has ${img.size}`,
    );
  }
  return { ...sb.base, journal: "device", ranges: [{ off, len }], journalBlocks: jsb.maxlen };
}

/** Finds inode `inum` through its group descriptor and returns what maps its blocks. */
async function readJournalInode(
  img: ImageReader,
  sb: Superblock,
  inum: number,
): Promise<{ iblock: Uint8Array; extents: boolean; nBlocks: number }> {
  const { view, bs, is64 } = sb;
  const inodesCount = view.getUint32(0x00, true);
  const ipg = view.getUint32(0x28, true);
  if (ipg === 0 || inum > inodesCount) {
    throw new ImageFormatError(`ext4 superblock: journal inode ${inum} is out of range`);
  }
  const inodeSize = view.getUint32(0x4c, true) >= 1 ? view.getUint16(0x58, true) : 128;
  if (inodeSize < 128 || inodeSize > bs) {
    throw new ImageFormatError(`ext4 superblock: bad s_inode_size ${inodeSize}`);
  }
  const descSize = is64 ? view.getUint16(0xfe, true) : 32;
  if (descSize < 32 || descSize > bs) {
    throw new ImageFormatError(`ext4 superblock: bad s_desc_size ${descSize}`);
  }
  const group = Math.floor((inum - 1) / ipg);
  const descOff = sb.blockAfter * bs + group * descSize;
  if ((sb.incompat & INCOMPAT_META_BG) !== 0 && descOff + descSize > (sb.blockAfter + 1) * bs) {
    throw new ImageFormatError(`meta_bg: journal inode ${inum} outside the first descriptor block`);
  }
  const gdBytes = await img.readAt(descOff, descSize, "group descriptor");
  const gd = new DataView(gdBytes.buffer, gdBytes.byteOffset, gdBytes.byteLength);
  const itable = gd.getUint32(0x08, true) +
    (descSize >= 64 ? gd.getUint32(0x28, true) * 2 ** 32 : 0);
  if (itable === 0 || itable >= sb.blocksCount) {
    throw new ImageFormatError(
      `group descriptor ${group}: inode table block ${itable} out of range`,
    );
  }
  const inoOff = itable * bs + ((inum - 1) % ipg) * inodeSize;
  const inoBytes = await img.readAt(inoOff, Math.min(inodeSize, 256), `inode ${inum}`);
  const ino = new DataView(inoBytes.buffer, inoBytes.byteOffset, inoBytes.byteLength);
  const mode = ino.getUint16(0x00, true);
  if ((mode & 0xf000) !== 0x8000) {
    throw new ImageFormatError(
      `journal inode ${inum} is not a regular file (mode ${mode.toString(8)})`,
    );
  }
  const size = ino.getUint32(0x04, true) + ino.getUint32(0x6c, true) * 2 ** 32;
  const nBlocks = Math.ceil(size / bs);
  if (nBlocks === 0) throw new ImageFormatError(`journal inode ${inum} is empty`);
  return {
    iblock: inoBytes.slice(0x28, 0x28 + 60),
    extents: (ino.getUint32(0x20, true) & EXTENTS_FL) !== 0,
    nBlocks,
  };
}

/**
 * The journal's runs (any order) as byte ranges in logical order, physical neighbours merged;
 * a hole or a short mapping is an error.
 */
function runsToRanges(runs: Run[], nBlocks: number, bs: number, inum: number): ByteRange[] {
  runs.sort((a, b) => a.logical - b.logical);
  let mapped = 0;
  const ranges: ByteRange[] = [];
  for (const r of runs) {
    if (r.logical !== mapped) {
      throw new ImageFormatError(
        `journal inode ${inum}: hole at logical block ${mapped} (next extent starts at ${r.logical})`,
      );
    }
    const len = Math.min(r.len, nBlocks - mapped);
    if (len <= 0) break;
    pushMerged(ranges, { off: r.physical * bs, len: len * bs });
    mapped += len;
  }
  if (mapped < nBlocks) {
    throw new ImageFormatError(
      `journal inode ${inum}: maps ${mapped} of its ${nBlocks} blocks`,
    );
  }
  return ranges;
}

interface WalkCtx {
  img: ImageReader;
  bs: number;
  blocksCount: number;
  nBlocks: number;
  inum: number;
}

interface Run {
  logical: number;
  physical: number;
  len: number;
}

async function walkExtents(
  ctx: WalkCtx,
  node: Uint8Array,
  depthLeft = MAX_EXTENT_DEPTH,
): Promise<Run[]> {
  const dv = new DataView(node.buffer, node.byteOffset, node.byteLength);
  if (dv.getUint16(0, true) !== EXTENT_MAGIC) {
    throw new ImageFormatError(`journal inode ${ctx.inum}: bad extent header magic`);
  }
  const entries = dv.getUint16(2, true);
  const max = dv.getUint16(4, true);
  const depth = dv.getUint16(6, true);
  if (entries > max || 12 + entries * 12 > node.length) {
    throw new ImageFormatError(
      `journal inode ${ctx.inum}: extent node has ${entries} of ${max} entries`,
    );
  }
  if (depth > depthLeft) {
    throw new ImageFormatError(
      `journal inode ${ctx.inum}: extent tree deeper than ${MAX_EXTENT_DEPTH}`,
    );
  }
  const runs: Run[] = [];
  for (let i = 0; i < entries; i++) {
    const e = 12 + i * 12;
    if (depth === 0) {
      const logical = dv.getUint32(e, true);
      let len = dv.getUint16(e + 4, true);
      if (len > 32768) len -= 32768; // an unwritten extent
      const physical = dv.getUint16(e + 6, true) * 2 ** 32 + dv.getUint32(e + 8, true);
      if (len === 0 || physical + len > ctx.blocksCount) {
        throw new ImageFormatError(
          `journal inode ${ctx.inum}: extent ${logical}+${len} at block ${physical} is out of range`,
        );
      }
      runs.push({ logical, physical, len });
    } else {
      const leaf = dv.getUint16(e + 8, true) * 2 ** 32 + dv.getUint32(e + 4, true);
      if (leaf === 0 || leaf >= ctx.blocksCount) {
        throw new ImageFormatError(
          `journal inode ${ctx.inum}: extent index block ${leaf} out of range`,
        );
      }
      const child = await ctx.img.readAt(leaf * ctx.bs, ctx.bs, "extent tree block");
      runs.push(...await walkExtents(ctx, child, depth - 1));
    }
  }
  return runs;
}

async function walkBlockMap(ctx: WalkCtx, iblock: Uint8Array): Promise<Run[]> {
  const dv = new DataView(iblock.buffer, iblock.byteOffset, iblock.byteLength);
  const perBlock = ctx.bs / 4;
  const runs: Run[] = [];
  let logical = 0;
  const add = (physical: number) => {
    if (logical >= ctx.nBlocks) return;
    if (physical === 0 || physical >= ctx.blocksCount) {
      throw new ImageFormatError(
        `journal inode ${ctx.inum}: logical block ${logical} maps to bad block ${physical}`,
      );
    }
    const last = runs[runs.length - 1];
    if (last && last.physical + last.len === physical) last.len++;
    else runs.push({ logical, physical, len: 1 });
    logical++;
  };
  const indirect = async (blk: number, level: number): Promise<void> => {
    if (logical >= ctx.nBlocks) return;
    if (blk === 0 || blk >= ctx.blocksCount) {
      throw new ImageFormatError(`journal inode ${ctx.inum}: indirect block ${blk} out of range`);
    }
    const b = await ctx.img.readAt(blk * ctx.bs, ctx.bs, "indirect block");
    const bv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    for (let i = 0; i < perBlock && logical < ctx.nBlocks; i++) {
      const p = bv.getUint32(i * 4, true);
      if (level === 1) add(p);
      else await indirect(p, level - 1);
    }
  };
  for (let i = 0; i < 12; i++) add(dv.getUint32(i * 4, true));
  for (let level = 1; level <= 3; level++) {
    await indirect(dv.getUint32((11 + level) * 4, true), level);
  }
  return runs;
}

async function readJbd2Super(img: ImageReader, off: number): Promise<{ maxlen: number }> {
  const b = await img.readAt(off, 1024, "journal superblock");
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (dv.getUint32(0, false) !== JBD2_MAGIC) {
    throw new ImageFormatError(`no jbd2 journal superblock magic at byte ${off}`);
  }
  return { maxlen: dv.getUint32(16, false) };
}
