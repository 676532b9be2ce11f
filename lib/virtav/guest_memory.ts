/**
 * Guest-physical memory from outside the guest: a raw image or a live QEMU RAM file
 * (`memory-backend-file`), or a QEMU `dump-guest-memory` ELF file. Each is a mapped file plus
 * segments translating guest-physical addresses to file offsets.
 *
 * RAM file layout assumption: QEMU puts guest RAM in the file in guest-physical order, with
 * RAM below the PCI hole at [0, lowmem) and the rest at [4 GiB, 4 GiB + size - lowmem).
 * lowmem is 3.5 GiB (or 3 GiB) on `pc` and 2 GiB on `q35` when the guest has more RAM than
 * that; smaller guests are linear. virtav takes files up to 2 GiB as linear and asks for
 * `--lowmem` above that rather than guess.
 *
 * @module
 */
import { MappedFile } from "./mapped_file.ts";
import { parseElfDump } from "./elf_dump.ts";

/** A guest-physical range stored at a file offset. */
export interface Segment {
  pa: number;
  fileOff: number;
  size: number;
}

/** Mapped guest memory and its address translation. */
export interface GuestMemory {
  file: MappedFile;
  kind: "raw" | "elf";
  segments: Segment[];
  /** The segments as native (pa, file offset, size) triples. */
  segs: BigUint64Array;
}

const GIB = 2 ** 30;
/** Above this size a raw RAM file needs `--lowmem` (q35 splits RAM at 2 GiB). */
export const LINEAR_LIMIT = 2 * GIB;

/** Memory layout choices for raw files. */
export interface MemoryOptions {
  /** "auto" (ELF if it starts with \x7fELF), "raw" or "elf". */
  format?: "auto" | "raw" | "elf";
  /** RAM below the PCI hole for raw files larger than 2 GiB. */
  lowmem?: number;
}

/** The segments of a raw RAM file of `size` bytes. */
export function rawSegments(size: number, lowmem?: number): Segment[] {
  if (lowmem === undefined) {
    if (size > LINEAR_LIMIT) {
      throw new Error(
        `raw memory of ${size} bytes: above 2 GiB QEMU splits RAM around the PCI hole; ` +
          `give --lowmem (e.g. 2G for q35, 3G or 3.5G for pc)`,
      );
    }
    return [{ pa: 0, fileOff: 0, size }];
  }
  if (lowmem <= 0 || lowmem > 4 * GIB || lowmem % 4096 !== 0) {
    throw new Error(`--lowmem ${lowmem}: must be a 4 KiB multiple up to 4 GiB`);
  }
  if (size <= lowmem) return [{ pa: 0, fileOff: 0, size }];
  return [{ pa: 0, fileOff: 0, size: lowmem }, {
    pa: 4 * GIB,
    fileOff: lowmem,
    size: size - lowmem,
  }];
}

/** Native form of segments. */
export function segmentTriples(segments: Segment[]): BigUint64Array {
  const a = new BigUint64Array(segments.length * 3);
  segments.forEach((s, i) => a.set([BigInt(s.pa), BigInt(s.fileOff), BigInt(s.size)], i * 3));
  return a;
}

/**
 * Opens guest memory read-only.
 *
 * @example
 * ```ts
 * import { openGuestMemory } from "./guest_memory.ts";
 * const mem = openGuestMemory("vm.dump", { format: "auto" });
 * console.log(mem.kind, mem.segments);
 * mem.file.close();
 * ```
 */
export function openGuestMemory(path: string, opts: MemoryOptions = {}): GuestMemory {
  const file = MappedFile.open(path);
  try {
    const head = file.read(0, 4);
    const isElf = head.length === 4 && head[0] === 0x7f && head[1] === 0x45 && head[2] === 0x4c &&
      head[3] === 0x46;
    const format = opts.format ?? "auto";
    if (format === "elf" || (format === "auto" && isElf)) {
      if (!isElf) throw new Error(`${path}: not an ELF file (no \\x7fELF magic); use --format raw`);
      const segments = parseElfDump(file).segments;
      return { file, kind: "elf", segments, segs: segmentTriples(segments) };
    }
    const segments = rawSegments(file.size, opts.lowmem);
    return { file, kind: "raw", segments, segs: segmentTriples(segments) };
  } catch (e) {
    file.close();
    throw e;
  }
}

/** The guest-physical address of a file offset, or null if no segment holds it. */
export function fileOffsetToPa(mem: GuestMemory, off: number): number | null {
  for (const s of mem.segments) {
    if (off >= s.fileOff && off < s.fileOff + s.size) return s.pa + off - s.fileOff;
  }
  return null;
}
