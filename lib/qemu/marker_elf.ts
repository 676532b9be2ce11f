/**
 * The `exec-marker` program: a tiny static x86-64 ELF, written byte by byte (no compiler),
 * whose only code segment holds a known byte sequence, {@linkcode EXEC_MARKER}. Run in the
 * guest it spins forever (`pause; jmp`), so its code pages stay mapped executable in a live
 * process: what `virtav scan`/`watch` look for from outside the guest.
 *
 * Layout (one PT_LOAD, R+X, at 0x400000):
 *   ELF header (64) | program header (56) | _start: jmp +N | marker | loop: pause; jmp loop
 *
 * @module
 */

/**
 * The marker bytes inside the program's code: ASCII `HVKIT-EXEC-MARKER/` then 14 bytes that
 * are unlikely anywhere else. 32 bytes in all.
 */
export const EXEC_MARKER: Uint8Array = new Uint8Array([
  ...new TextEncoder().encode("HVKIT-EXEC-MARKER/"),
  0x9e,
  0x37,
  0x79,
  0xb9,
  0x7f,
  0x4a,
  0x7c,
  0x15,
  0xf3,
  0x9c,
  0xc0,
  0x60,
  0x5c,
  0xed,
]);

/** {@linkcode EXEC_MARKER} as lower-case hex (a ClamAV body signature can use it as is). */
export const EXEC_MARKER_HEX: string = [...EXEC_MARKER]
  .map((b) => b.toString(16).padStart(2, "0"))
  .join("");

const BASE = 0x400000;
const EHDR = 64;
const PHDR = 56;

/**
 * Builds the program's bytes. Deterministic: the same bytes every time.
 *
 * @example
 * ```ts
 * import { buildMarkerElf, EXEC_MARKER } from "./marker_elf.ts";
 * const elf = buildMarkerElf(); // write it to a file, chmod +x, run it in the guest
 * ```
 */
export function buildMarkerElf(): Uint8Array {
  const m = EXEC_MARKER.length;
  if (m > 127) throw new Error("marker too long for a short jmp");
  // _start: eb <m>          jmp over the marker
  //         <marker>
  // loop:   f3 90           pause
  //         eb fc           jmp loop
  const code = new Uint8Array([0xeb, m, ...EXEC_MARKER, 0xf3, 0x90, 0xeb, 0xfc]);
  const size = EHDR + PHDR + code.length;
  const buf = new Uint8Array(size);
  const v = new DataView(buf.buffer);
  // e_ident
  buf.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0], 0); // ELF, 64-bit, little-endian, v1, SysV
  v.setUint16(16, 2, true); // e_type ET_EXEC
  v.setUint16(18, 0x3e, true); // e_machine x86-64
  v.setUint32(20, 1, true); // e_version
  v.setBigUint64(24, BigInt(BASE + EHDR + PHDR), true); // e_entry
  v.setBigUint64(32, BigInt(EHDR), true); // e_phoff
  v.setBigUint64(40, 0n, true); // e_shoff
  v.setUint32(48, 0, true); // e_flags
  v.setUint16(52, EHDR, true); // e_ehsize
  v.setUint16(54, PHDR, true); // e_phentsize
  v.setUint16(56, 1, true); // e_phnum
  v.setUint16(58, 64, true); // e_shentsize
  v.setUint16(60, 0, true); // e_shnum
  v.setUint16(62, 0, true); // e_shstrndx
  // program header: PT_LOAD, PF_R|PF_X, the whole file at BASE
  const p = EHDR;
  v.setUint32(p + 0, 1, true); // p_type PT_LOAD
  v.setUint32(p + 4, 5, true); // p_flags R+X
  v.setBigUint64(p + 8, 0n, true); // p_offset
  v.setBigUint64(p + 16, BigInt(BASE), true); // p_vaddr
  v.setBigUint64(p + 24, BigInt(BASE), true); // p_paddr
  v.setBigUint64(p + 32, BigInt(size), true); // p_filesz
  v.setBigUint64(p + 40, BigInt(size), true); // p_memsz
  v.setBigUint64(p + 48, 0x1000n, true); // p_align
  buf.set(code, EHDR + PHDR);
  return buf;
}

/** Where the marker starts in the file and in the process's address space. */
export const EXEC_MARKER_OFFSET = EHDR + PHDR + 2;
/** The marker's virtual address in the running program. */
export const EXEC_MARKER_VADDR = BASE + EXEC_MARKER_OFFSET;
