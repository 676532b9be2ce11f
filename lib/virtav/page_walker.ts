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
