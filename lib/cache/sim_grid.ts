/**
 * Runs a grid of (policy, cache size) simulations over one pass of a trace read as column
 * chunks: every simulator sees each chunk in turn, so a large trace is read once and never held
 * whole — except when Belady's OPT is in the grid, which needs the whole access sequence first
 * (the chunks are then kept in memory and replayed). The admission filter, if any, is asked
 * once per request and its answers are shared by every simulator.
 *
 * @module
 */
import type { BinaryChunk } from "../trace/binary.ts";
import { chunkRecord } from "../trace/binary.ts";
import type { AdmissionFilter, CachePolicy } from "./policy.ts";
import { createPolicy } from "./registry.ts";
import { type FutureAware, type SimResult, Simulator } from "./simulate.ts";

/** One cell of the grid. */
export interface GridCell {
  policy: string;
  /** Cache size in bytes as given. */
  sizeBytes: number;
  result: SimResult;
}

/** What a grid run found. */
export interface GridResult {
  requests: number;
  cells: GridCell[];
  /** Wall time spent in the simulators (ms), all cells together. */
  simMs: number;
}

function maskOf(c: BinaryChunk, admission?: AdmissionFilter): Uint8Array | undefined {
  if (!admission || admission.name === "all") return undefined;
  const m = new Uint8Array(c.count);
  for (let i = 0; i < c.count; i++) {
    const op = c.op[i];
    m[i] = op === 2 || op === 3 || admission.admit(chunkRecord(c, i)) ? 1 : 0;
  }
  return m;
}

/** Feeds one chunk to one simulator (the hot loop). */
export function feedChunk(sim: Simulator, c: BinaryChunk, mask?: Uint8Array): void {
  const op = c.op, off = c.off, len = c.len, n = c.count;
  if (mask) { for (let i = 0; i < n; i++) sim.stepRaw(op[i], off[i], len[i], mask[i] === 1); }
  else for (let i = 0; i < n; i++) sim.stepRaw(op[i], off[i], len[i], true);
}

/** Runs every (policy, size) pair over the chunks. */
export async function runGrid(
  chunks: AsyncIterable<BinaryChunk>,
  policies: string[],
  sizesBytes: number[],
  blockSize: number,
  admission?: AdmissionFilter,
): Promise<GridResult> {
  const cells: { policy: string; sizeBytes: number; sim: Simulator }[] = [];
  for (const p of policies) {
    for (const s of sizesBytes) {
      const policy: CachePolicy = createPolicy(p, Math.floor(s / blockSize));
      cells.push({ policy: p, sizeBytes: s, sim: new Simulator(policy, blockSize) });
    }
  }
  const future = cells.some((c) =>
    typeof (c.sim.policy as Partial<FutureAware>).prepare === "function"
  );
  let requests = 0, simMs = 0;
  if (!future) {
    for await (const c of chunks) {
      requests += c.count;
      const mask = maskOf(c, admission);
      const t = performance.now();
      for (const cell of cells) feedChunk(cell.sim, c, mask);
      simMs += performance.now() - t;
    }
  } else {
    const held: { c: BinaryChunk; mask?: Uint8Array }[] = [];
    let total = 0;
    for await (const c of chunks) {
      requests += c.count;
      const mask = maskOf(c, admission);
      held.push({ c, mask });
      for (let i = 0; i < c.count; i++) {
        const op = c.op[i];
        if (op === 2 || op === 3 || c.len[i] === 0 || (mask && !mask[i])) continue;
        total += Math.floor((c.off[i] + c.len[i] - 1) / blockSize) -
          Math.floor(c.off[i] / blockSize) + 1;
      }
    }
    const seq = new Float64Array(total);
    let k = 0;
    for (const { c, mask } of held) {
      for (let i = 0; i < c.count; i++) {
        const op = c.op[i];
        if (op === 2 || op === 3 || c.len[i] === 0 || (mask && !mask[i])) continue;
        const last = Math.floor((c.off[i] + c.len[i] - 1) / blockSize);
        for (let b = Math.floor(c.off[i] / blockSize); b <= last; b++) seq[k++] = b;
      }
    }
    for (const cell of cells) {
      const p = cell.sim.policy as Partial<FutureAware>;
      if (typeof p.prepare === "function") p.prepare(seq);
    }
    const t = performance.now();
    for (const { c, mask } of held) for (const cell of cells) feedChunk(cell.sim, c, mask);
    simMs += performance.now() - t;
  }
  return {
    requests,
    simMs,
    cells: cells.map((c) => ({ policy: c.policy, sizeBytes: c.sizeBytes, result: c.sim.result() })),
  };
}
