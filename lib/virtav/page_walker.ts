/**
 * x86-64 page-table walks over guest memory (native/virtav_mem.c): from CR3 through 4 or 5
 * levels (CR4.LA57), 4 KiB / 2 MiB / 1 GiB pages, keeping present pages whose NX bit is clear
 * at every level. Entries pointing outside RAM and tables that contain themselves on the path
 * (loops) are counted, not followed; the walk visits at most 2^20 tables.
 *
 * @module
 */
import { native } from "../ffi/ffi.ts";
import { NativeError } from "../ffi/errno.ts";
import type { GuestMemory } from "./guest_memory.ts";

/** A run of executable memory, virtually and physically contiguous. */
export interface ExecRun {
  /** Guest-virtual address (canonical, as a bigint: kernel addresses exceed 2^63). */
  va: bigint;
  /** Guest-physical address. */
  pa: number;
  size: number;
}

/** What the walk met besides executable pages. */
export interface WalkStats {
  tables: number;
  outsideRam: number;
  loops: number;
  budgetExceeded: boolean;
  truncated: number;
  leaves: number;
  /**
   * Bytes of executable supervisor pages (U/S clear at some level): kernel text. Every live
   * Linux CR3 maps some (with page-table isolation, at least the entry trampoline); none means
   * a wrong CR3 or a wrong paging depth, and a clean scan of such a walk means nothing.
   */
  supervisorBytes: number;
}

/** Walk options. */
export interface WalkOptions {
  /** 5-level paging (CR4.LA57). */
  la57?: boolean;
  /** Treat NX as clear (a guest with EFER.NXE off). */
  ignoreNx?: boolean;
}

const MAX_RUNS = 1 << 18;

/**
 * Lists the executable runs mapped by `cr3`, in virtual address order. Throws when CR3 itself
 * is outside guest RAM.
 *
 * @example
 * ```ts
 * import { openGuestMemory } from "./guest_memory.ts";
 * import { walkExecutable } from "./page_walker.ts";
 * const mem = openGuestMemory("guest.ram");
 * const { runs } = walkExecutable(mem, 0x1a2b000n);
 * ```
 */
export function walkExecutable(
  mem: GuestMemory,
  cr3: bigint,
  opts: WalkOptions = {},
): { runs: ExecRun[]; stats: WalkStats } {
  const out = new BigUint64Array(MAX_RUNS * 3);
  const st = new BigUint64Array(8);
  const flags = (opts.la57 ? 1 : 0) | (opts.ignoreNx ? 2 : 0);
  const rc = Number(
    native().vav_walk(
      mem.file.handle,
      mem.segs,
      mem.segs.length / 3,
      cr3,
      flags,
      out,
      MAX_RUNS,
      st,
    ),
  );
  if (rc < 0) {
    if (-rc === 34 /* ERANGE */) {
      throw new Error(`CR3 0x${cr3.toString(16)}: its page table is outside guest RAM`);
    }
    throw new NativeError("page walk", -rc);
  }
  const runs: ExecRun[] = [];
  for (let i = 0; i < rc; i++) {
    runs.push({ va: out[i * 3], pa: Number(out[i * 3 + 1]), size: Number(out[i * 3 + 2]) });
  }
  const s = [...st].map(Number);
  return {
    runs,
    stats: {
      tables: s[0],
      outsideRam: s[1],
      loops: s[2],
      budgetExceeded: s[3] > 0,
      truncated: s[4],
      leaves: s[6],
      supervisorBytes: s[7],
    },
  };
}

/** A unit to scan: virtually contiguous executable memory made of physical chunks. */
export interface ExecUnit {
  va: bigint;
  size: number;
  chunks: { pa: number; size: number }[];
}

/** Groups runs into virtually contiguous units (a signature can span pages). */
export function groupUnits(runs: ExecRun[]): ExecUnit[] {
  const units: ExecUnit[] = [];
  for (const r of runs) {
    const last = units[units.length - 1];
    if (last && last.va + BigInt(last.size) === r.va) {
      last.chunks.push({ pa: r.pa, size: r.size });
      last.size += r.size;
    } else units.push({ va: r.va, size: r.size, chunks: [{ pa: r.pa, size: r.size }] });
  }
  return units;
}

/** The guest-physical address of an offset inside a unit. */
export function unitOffsetToPa(unit: ExecUnit, off: number): number {
  let o = off;
  for (const c of unit.chunks) {
    if (o < c.size) return c.pa + o;
    o -= c.size;
  }
  return -1;
}

/** Formats a guest-virtual address as 0x-hex. */
export function hexAddr(a: bigint | number): string {
  return "0x" + BigInt(a).toString(16).padStart(12, "0");
}

/**
 * Where Linux maps its kernel image on x86-64 (`__START_KERNEL_map` and the 1 GiB after it; KASLR
 * moves the kernel inside this range). Its VA is canonical under both 4- and 5-level paging.
 */
export const KERNEL_IMAGE_VA = { start: 0xffffffff80000000n, end: 0xffffffffc0000000n };

/** Executable bytes a walk found inside {@link KERNEL_IMAGE_VA}. */
export function kernelImageBytes(runs: ExecRun[]): number {
  let n = 0;
  for (const r of runs) {
    const lo = r.va > KERNEL_IMAGE_VA.start ? r.va : KERNEL_IMAGE_VA.start;
    const end = r.va + BigInt(r.size);
    const hi = end < KERNEL_IMAGE_VA.end ? end : KERNEL_IMAGE_VA.end;
    if (hi > lo) n += Number(hi - lo);
  }
  return n;
}

/** What {@linkcode detectPagingDepth} concluded. */
export type DepthGuess =
  | { la57: boolean; kernelBytes4: number; kernelBytes5: number }
  | { la57: null; kernelBytes4: number; kernelBytes5: number; why: string };

/**
 * Tells 4- from 5-level paging (CR4.LA57) from the tables alone, for a Linux guest: the walk at
 * the right depth finds executable kernel text at the kernel image's addresses
 * ({@link KERNEL_IMAGE_VA}); at the wrong depth every table is read one level off, so the same
 * pages land at other addresses. Decides only when one depth finds such text and the other
 * finds at most 1/16 of it; otherwise `la57` is null and `why` says what was seen.
 *
 * @example
 * ```ts
 * import { openGuestMemory } from "./guest_memory.ts";
 * import { detectPagingDepth } from "./page_walker.ts";
 * const g = detectPagingDepth(openGuestMemory("guest.ram"), 0x1a2b000n);
 * console.log(g.la57 === null ? g.why : g.la57 ? "5-level" : "4-level");
 * ```
 */
export function detectPagingDepth(
  mem: GuestMemory,
  cr3: bigint,
  opts: Omit<WalkOptions, "la57"> = {},
): DepthGuess {
  const k4 = kernelImageBytes(walkExecutable(mem, cr3, { ...opts, la57: false }).runs);
  const k5 = kernelImageBytes(walkExecutable(mem, cr3, { ...opts, la57: true }).runs);
  const seen = { kernelBytes4: k4, kernelBytes5: k5 };
  if (k4 > 0 && k5 * 16 <= k4) return { la57: false, ...seen };
  if (k5 > 0 && k4 * 16 <= k5) return { la57: true, ...seen };
  const why = k4 === 0 && k5 === 0
    ? "no executable kernel text at 0xffffffff80000000-0xffffffffc0000000 at either depth " +
      "(not a Linux CR3?)"
    : `kernel text at both depths (4-level ${k4} bytes, 5-level ${k5} bytes)`;
  return { la57: null, ...seen, why };
}
