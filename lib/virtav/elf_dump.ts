/**
 * QEMU `dump-guest-memory` ELF files: 64-bit little-endian ELF whose PT_LOAD segments carry
 * guest RAM with `p_paddr` = guest-physical address, and whose PT_NOTE holds per-vCPU register
 * state ("QEMU" notes, QEMUCPUState) including the control registers.
 *
 * @module
 */
import type { MappedFile } from "./mapped_file.ts";
import type { Segment } from "./guest_memory.ts";

/** A file that is not a usable ELF memory dump. */
export class ElfDumpError extends Error {
  override name = "ElfDumpError";
}

/** Control registers of one vCPU read from a dump's QEMU note. */
export interface DumpCpu {
  cr0: bigint;
  cr3: bigint;
  cr4: bigint;
}

const PT_LOAD = 1, PT_NOTE = 4;
/** Offset of cr[0] in QEMUCPUState: version, size, 16 GPRs, rip, rflags, 10 segments of 24 bytes. */
const CR_OFFSET = 8 + 18 * 8 + 10 * 24;

/**
 * Reads the PT_LOAD segments (and CPU control registers when present) of an ELF dump.
 *
 * @example
 * ```ts
 * import { MappedFile } from "./mapped_file.ts";
 * import { parseElfDump } from "./elf_dump.ts";
 * const f = MappedFile.open("vm.dump");
 * console.log(parseElfDump(f).segments);
 * ```
 */
export function parseElfDump(file: MappedFile): { segments: Segment[]; cpus: DumpCpu[] } {
  const eh = file.read(0, 64);
  if (eh.length < 64 || eh[0] !== 0x7f || eh[1] !== 0x45 || eh[2] !== 0x4c || eh[3] !== 0x46) {
    throw new ElfDumpError(`${file.path}: not an ELF file`);
  }
  if (eh[4] !== 2 || eh[5] !== 1) {
    throw new ElfDumpError(`${file.path}: not a 64-bit little-endian ELF (x86-64 dumps are)`);
  }
  const dv = new DataView(eh.buffer, eh.byteOffset, eh.length);
  const phoff = Number(dv.getBigUint64(0x20, true));
  const phentsize = dv.getUint16(0x36, true);
  const phnum = dv.getUint16(0x38, true);
  if (phentsize < 56 || phnum === 0 || phoff + phnum * phentsize > file.size) {
    throw new ElfDumpError(
      `${file.path}: program headers missing or outside the file (truncated?)`,
    );
  }
  const ph = file.read(phoff, phnum * phentsize);
  const pv = new DataView(ph.buffer, ph.byteOffset, ph.length);
  const segments: Segment[] = [];
  const cpus: DumpCpu[] = [];
  for (let i = 0; i < phnum; i++) {
    const o = i * phentsize;
    const type = pv.getUint32(o, true);
    const off = Number(pv.getBigUint64(o + 8, true));
    const paddr = Number(pv.getBigUint64(o + 24, true));
    const filesz = Number(pv.getBigUint64(o + 32, true));
    if (type === PT_LOAD && filesz > 0) {
      if (off + filesz > file.size) {
        throw new ElfDumpError(
          `${file.path}: PT_LOAD ${i} ends past the end of the file (truncated?)`,
        );
      }
      segments.push({ pa: paddr, fileOff: off, size: filesz });
    } else if (type === PT_NOTE && off + filesz <= file.size) {
      cpus.push(...readQemuNotes(file.read(off, Math.min(filesz, 1 << 20))));
    }
  }
  if (segments.length === 0) throw new ElfDumpError(`${file.path}: no PT_LOAD segments`);
  segments.sort((a, b) => a.pa - b.pa);
  return { segments, cpus };
}

function readQemuNotes(notes: Uint8Array): DumpCpu[] {
  const dv = new DataView(notes.buffer, notes.byteOffset, notes.length);
  const cpus: DumpCpu[] = [];
  let p = 0;
  const align4 = (n: number) => (n + 3) & ~3;
  while (p + 12 <= notes.length) {
    const namesz = dv.getUint32(p, true), descsz = dv.getUint32(p + 4, true);
    const name = new TextDecoder().decode(notes.subarray(p + 12, p + 12 + Math.max(0, namesz - 1)));
    const desc = p + 12 + align4(namesz);
    if (desc + descsz > notes.length) break;
    if (name === "QEMU" && descsz >= CR_OFFSET + 40) {
      cpus.push({
        cr0: dv.getBigUint64(desc + CR_OFFSET, true),
        cr3: dv.getBigUint64(desc + CR_OFFSET + 24, true),
        cr4: dv.getBigUint64(desc + CR_OFFSET + 32, true),
      });
    }
    p = desc + align4(descsz);
  }
  return cpus;
}
