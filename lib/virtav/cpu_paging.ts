/**
 * The paging state of a running QEMU guest's vCPUs, read over QMP (`query-cpus-fast`, then HMP
 * `info registers` per vCPU): CR3, CR4.LA57, EFER.NXE, and whether long-mode paging is on.
 * What `virtav watch` and `virtav scan --exec-only --qmp` walk.
 *
 * @module
 */
import { parseRegisters, type QmpClient } from "../qemu/qmp.ts";

/** A vCPU's paging state read over QMP. */
export interface CpuPaging {
  cpu: number;
  /** CR3 bits 51:12 (the page-table root; PCID and flag bits cleared). */
  cr3: bigint;
  /** CR4.LA57: 5-level paging. */
  la57: boolean;
  /** EFER.NXE: the NX bit is honoured. */
  nxe: boolean;
  /** CR0.PG and EFER.LMA: long-mode paging is on. */
  paging: boolean;
}

const ADDR_MASK = 0x000ffffffffff000n;

/**
 * Reads CR0/CR3/CR4/EFER of every vCPU.
 *
 * @example
 * ```ts
 * import { QmpClient } from "../qemu/qmp.ts";
 * import { readPaging } from "./cpu_paging.ts";
 * const qmp = await QmpClient.connect("/tmp/vm.qmp");
 * console.log(await readPaging(qmp)); // [{ cpu: 0, cr3: 0x1a2b000n, la57: true, ... }]
 * ```
 */
export async function readPaging(qmp: QmpClient): Promise<CpuPaging[]> {
  const cpus = await qmp.execute<{ "cpu-index": number }[]>("query-cpus-fast");
  const out: CpuPaging[] = [];
  for (const c of cpus) {
    const regs = parseRegisters(await qmp.hmp("info registers", c["cpu-index"]));
    const cr0 = regs.get("CR0") ?? 0n, cr3 = regs.get("CR3"), cr4 = regs.get("CR4") ?? 0n;
    const efer = regs.get("EFER") ?? 0n;
    if (cr3 === undefined) continue;
    out.push({
      cpu: c["cpu-index"],
      cr3: cr3 & ADDR_MASK,
      la57: ((cr4 >> 12n) & 1n) === 1n,
      nxe: ((efer >> 11n) & 1n) === 1n,
      paging: ((cr0 >> 31n) & 1n) === 1n && ((efer >> 10n) & 1n) === 1n,
    });
  }
  return out;
}
