/**
 * The byte ranges of an ext2/3/4 file system's fixed metadata: the primary superblock's block,
 * the group descriptor table with its reserved growth blocks, and every group's block bitmap,
 * inode bitmap and inode table. jbd2 journals these blocks and later writes them home — its
 * _checkpoint_ writes — so a write into these ranges is a checkpoint write (or the superblock
 * update at mount and unmount). What this misses: journaled metadata that lives among the data
 * (directory blocks, extent-tree blocks, extended attributes), whose places only the journal's
 * descriptor blocks name. Backup superblocks and descriptor tables are not listed (ext4 writes
 * them only on resize and fsck). `meta_bg` file systems are refused (their descriptor blocks
 * are spread over the disk), as are XFS and anything else.
 *
 * Checked against `dumpe2fs` (lib/pdc/ext4_metadata_test.ts).
 *
 * @module
 */
import { type ByteRange, normalizeRanges } from "./byte_range.ts";
import { isExt, readSuperblock } from "./ext4_locate.ts";
import { ImageFormatError, type ImageReader, openImageFile } from "./image_reader.ts";

const INCOMPAT_META_BG = 0x10;
const RO_COMPAT_BIGALLOC = 0x200;

/** The fixed metadata of one ext2/3/4 image, in bytes, sorted and merged. */
export interface Ext4Metadata {
  blockSize: number;
  groups: number;
  ranges: ByteRange[];
}

/**
 * Lists the fixed metadata of the ext2/3/4 file system in `img`; throws
 * {@linkcode ImageFormatError} for another file system, `meta_bg`, `bigalloc` or a truncated
 * or inconsistent descriptor table.
 *
 * @example
 * ```ts
 * import { locateExt4Metadata } from "./ext4_metadata.ts";
 * import { openImageFile } from "./image_reader.ts";
 * const img = await openImageFile("disk.img");
 * console.log((await locateExt4Metadata(img)).ranges);
 * ```
 */
export async function locateExt4Metadata(img: ImageReader): Promise<Ext4Metadata> {
  if (img.size < 4096 || !(await isExt(img))) {
    throw new ImageFormatError("checkpoint ranges: not an ext2/3/4 file system");
  }
  const sb = await readSuperblock(img);
  const { view, bs, blocksCount } = sb;
  if ((sb.incompat & INCOMPAT_META_BG) !== 0) {
    throw new ImageFormatError("checkpoint ranges: meta_bg file systems are not supported");
  }
  if ((view.getUint32(0x64, true) & RO_COMPAT_BIGALLOC) !== 0) {
    throw new ImageFormatError("checkpoint ranges: bigalloc file systems are not supported");
  }
  const firstData = view.getUint32(0x14, true);
  const bpg = view.getUint32(0x20, true);
  const ipg = view.getUint32(0x28, true);
  const inodeSize = view.getUint32(0x4c, true) >= 1 ? view.getUint16(0x58, true) : 128;
  const descSize = sb.is64 ? view.getUint16(0xfe, true) : 32;
  const reservedGdt = view.getUint16(0xce, true);
  if (bpg === 0 || ipg === 0 || inodeSize < 128 || inodeSize > bs) {
    throw new ImageFormatError("ext4 superblock: bad blocks/inodes per group or inode size");
  }
  if (descSize < 32 || descSize > bs) {
    throw new ImageFormatError(`ext4 superblock: bad s_desc_size ${descSize}`);
  }
  const groups = Math.ceil((blocksCount - firstData) / bpg);
  const gdtBlock = firstData + 1;
  const gdtBlocks = Math.ceil(groups * descSize / bs);
  const gdt = await img.readAt(gdtBlock * bs, gdtBlocks * bs, "group descriptor table");
  const gd = new DataView(gdt.buffer, gdt.byteOffset, gdt.byteLength);
  const itableBlocks = Math.ceil(ipg * inodeSize / bs);
  const blocks: ByteRange[] = [
    { off: Math.floor(1024 / bs) * bs, len: bs }, // the primary superblock's block
    { off: gdtBlock * bs, len: (gdtBlocks + reservedGdt) * bs },
  ];
  const field = (base: number, lo: number, hi: number) =>
    gd.getUint32(base + lo, true) + (descSize >= 64 ? gd.getUint32(base + hi, true) * 2 ** 32 : 0);
  for (let g = 0; g < groups; g++) {
    const base = g * descSize;
    const bbitmap = field(base, 0x00, 0x20);
    const ibitmap = field(base, 0x04, 0x24);
    const itable = field(base, 0x08, 0x28);
    for (
      const [what, b, n] of [["block bitmap", bbitmap, 1], ["inode bitmap", ibitmap, 1], [
        "inode table",
        itable,
        itableBlocks,
      ]] as const
    ) {
      if (b === 0 || b + n > blocksCount) {
        throw new ImageFormatError(`group descriptor ${g}: ${what} block ${b} out of range`);
      }
      blocks.push({ off: b * bs, len: n * bs });
    }
  }
  const ranges = normalizeRanges(blocks);
  const end = ranges[ranges.length - 1].off + ranges[ranges.length - 1].len;
  if (end > img.size) {
    throw new ImageFormatError(
      `truncated image: metadata ends at byte ${end}, image has ${img.size} bytes`,
    );
  }
  return { blockSize: bs, groups, ranges };
}

/** Opens an image file and lists its ext2/3/4 fixed metadata. */
export async function locateExt4MetadataInFile(path: string): Promise<Ext4Metadata> {
  const img = await openImageFile(path);
  try {
    return await locateExt4Metadata(img);
  } finally {
    img.close();
  }
}
