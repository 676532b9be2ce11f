import assert from "node:assert/strict";
import { openGuestMemory } from "./guest_memory.ts";
import { detectPagingDepth, groupUnits, walkExecutable } from "./page_walker.ts";

const P = 1n, RW = 2n, US = 4n, PS = 0x80n, NX = 1n << 63n;

/** Builds guest RAM with page tables written at given physical addresses. */
class Ram {
  buf: Uint8Array;
  dv: DataView;
  constructor(size: number) {
    this.buf = new Uint8Array(size);
    this.dv = new DataView(this.buf.buffer);
  }
  set(table: number, index: number, entry: bigint) {
    this.dv.setBigUint64(table + index * 8, entry, true);
  }
  async file(): Promise<string> {
    const f = await Deno.makeTempFile({ prefix: "virtav-ram-" });
    await Deno.writeFile(f, this.buf);
    return f;
  }
}

async function walk(ram: Ram, cr3: bigint, la57 = false) {
  const path = await ram.file();
  const mem = openGuestMemory(path, { format: "raw" });
  try {
    return walkExecutable(mem, cr3, { la57 });
  } finally {
    mem.file.close();
    await Deno.remove(path);
  }
}

Deno.test("page walker: 4 KiB, 2 MiB and 1 GiB pages, NX at any level, canonical addresses", async () => {
  // 1 GiB page needs RAM up to its base + 1 GiB; keep RAM small and point the 1G page at 0.
  const ram = new Ram(8 << 20);
  const pml4 = 0x1000, pdpt = 0x2000, pd = 0x3000, pt = 0x4000, pdptHi = 0x5000;
  ram.set(pml4, 0, BigInt(pdpt) | P | RW);
  ram.set(pdpt, 0, BigInt(pd) | P | RW);
  ram.set(pd, 0, BigInt(pt) | P | RW); // 0x0 .. 2 MiB: 4K pages
  ram.set(pt, 1, 0x10000n | P); // va 0x1000 -> pa 0x10000, executable
  ram.set(pt, 2, 0x11000n | P); // va 0x2000 -> pa 0x11000 (contiguous with the previous)
  ram.set(pt, 3, 0x12000n | P | NX); // NX: skipped
  ram.set(pt, 5, 0x30000n); // not present
  ram.set(pd, 1, 0x200000n | P | PS); // va 2 MiB -> pa 2 MiB, 2 MiB page
  ram.set(pd, 2, BigInt(pt) | P | NX); // NX on the table entry: all below skipped
  // kernel half: PML4[511] -> PDPT with a 1 GiB page at pa 0 (outside an 8 MiB RAM: counted)
  ram.set(pml4, 511, BigInt(pdptHi) | P);
  ram.set(pdptHi, 510, 0x0n | P | PS);
  ram.set(pdptHi, 511, 0x400000n | P | PS); // misaligned 1G base: masked to 0, also outside
  const { runs, stats } = await walk(ram, BigInt(pml4));
  assert.deepEqual(
    runs.map((r) => [r.va, r.pa, r.size]),
    [[0x1000n, 0x10000, 0x2000], [0x200000n, 0x200000, 0x200000]],
  );
  assert.equal(stats.outsideRam, 2);
  assert.equal(groupUnits(runs).length, 2);
});

Deno.test("page walker: kernel addresses are sign-extended; 5-level paging", async () => {
  const ram = new Ram(1 << 20);
  const pml4 = 0x1000, pdpt = 0x2000, pd = 0x3000, pt = 0x4000, pml5 = 0x6000;
  ram.set(pml4, 511, BigInt(pdpt) | P);
  ram.set(pdpt, 511, BigInt(pd) | P);
  ram.set(pd, 511, BigInt(pt) | P);
  ram.set(pt, 511, 0x8000n | P);
  const four = await walk(ram, BigInt(pml4));
  assert.deepEqual(four.runs.map((r) => r.va), [0xfffffffffffff000n]);
  ram.set(pml5, 1, BigInt(pml4) | P);
  const five = await walk(ram, BigInt(pml5), true);
  // PML5 index 1: bit 48 set, below the 57-bit sign bit
  assert.deepEqual(five.runs.map((r) => r.va), [0x0001fffffffff000n]);
});

Deno.test("page walker: a self-referencing table is a counted loop, not a hang", async () => {
  const ram = new Ram(1 << 20);
  const pml4 = 0x1000;
  for (let i = 0; i < 512; i++) ram.set(pml4, i, BigInt(pml4) | P); // every entry: itself
  const { runs, stats } = await walk(ram, BigInt(pml4));
  assert.equal(runs.length, 0);
  assert.ok(stats.loops > 0);
  // Two tables pointing at each other through every level: bounded by the walk budget.
  const a = 0x2000, b = 0x3000;
  for (let i = 0; i < 512; i++) {
    ram.set(a, i, BigInt(b) | P);
    ram.set(b, i, BigInt(a) | P);
  }
  const r2 = await walk(ram, BigInt(a));
  assert.ok(r2.stats.loops > 0);
});

Deno.test("page walker: CR3 outside guest RAM is a clear error", async () => {
  const ram = new Ram(1 << 20);
  await assert.rejects(
    () => walk(ram, 0x40000000n),
    /CR3 0x40000000: its page table is outside guest RAM/,
  );
});

/**
 * A Linux-like address space: kernel text at 0xffffffff81000000 (supervisor, 4 KiB pages) and
 * user code at 0x400000 (U/S set at every level), as 4-level tables rooted at 0x1000 and, the
 * same PML4s under a PML5, as 5-level tables rooted at 0x8000.
 */
function linuxLike(): Ram {
  const ram = new Ram(8 << 20);
  const pml4 = 0x1000, pdptK = 0x2000, pdK = 0x3000, ptK = 0x4000;
  const pdptU = 0x5000, pdU = 0x6000, ptU = 0x7000, pml5 = 0x8000, pml4U = 0x9000;
  ram.set(pml4, 511, BigInt(pdptK) | P | RW);
  ram.set(pdptK, 510, BigInt(pdK) | P | RW);
  ram.set(pdK, 8, BigInt(ptK) | P | RW);
  for (let i = 0; i < 4; i++) ram.set(ptK, i, BigInt(0x100000 + i * 4096) | P);
  ram.set(pml4, 0, BigInt(pdptU) | P | US);
  ram.set(pdptU, 0, BigInt(pdU) | P | US);
  ram.set(pdU, 2, BigInt(ptU) | P | US);
  ram.set(ptU, 0, 0x200000n | P | US);
  ram.set(pml5, 511, BigInt(pml4) | P | RW);
  ram.set(pml5, 0, BigInt(pml4U) | P | US);
  ram.set(pml4U, 0, BigInt(pdptU) | P | US);
  return ram;
}

async function withMem<T>(ram: Ram, fn: (mem: ReturnType<typeof openGuestMemory>) => T) {
  const path = await ram.file();
  const mem = openGuestMemory(path, { format: "raw" });
  try {
    return fn(mem);
  } finally {
    mem.file.close();
    await Deno.remove(path);
  }
}

Deno.test("page walker: supervisor text is counted; a user page is not", async () => {
  const { runs, stats } = await walk(linuxLike(), 0x1000n);
  assert.deepEqual(
    runs.map((r) => [r.va, r.size]),
    [[0x400000n, 4096], [0xffffffff81000000n, 4 * 4096]],
  );
  assert.equal(stats.supervisorBytes, 4 * 4096);
  // The 5-level tables read at 4 levels: stray pages elsewhere, no kernel text where it lives.
  const wrong = await walk(linuxLike(), 0x8000n, false);
  assert.ok(!wrong.runs.some((r) => r.va >= 0xffffffff80000000n && r.va < 0xffffffffc0000000n));
});

Deno.test("page walker: the paging depth is told from where kernel text lands", async () => {
  await withMem(linuxLike(), (mem) => {
    const four = detectPagingDepth(mem, 0x1000n);
    assert.equal(four.la57, false);
    assert.equal(four.kernelBytes4, 4 * 4096);
    assert.equal(four.kernelBytes5, 0);
    const five = detectPagingDepth(mem, 0x8000n);
    assert.equal(five.la57, true);
    assert.equal(five.kernelBytes5, 4 * 4096);
    const fiveWalk = walkExecutable(mem, 0x8000n, { la57: true });
    assert.deepEqual(
      fiveWalk.runs.map((r) => r.va),
      // (the kernel's PML4 is also reached through PML5[511]: its user entry too)
      [0x400000n, 0xffff000000400000n, 0xffffffff81000000n],
    );
  });
  // No kernel text at either depth (user pages only): refuses to guess, and says why.
  const ram = linuxLike();
  ram.set(0x1000, 511, 0n);
  await withMem(ram, (mem) => {
    const g = detectPagingDepth(mem, 0x1000n);
    assert.equal(g.la57, null);
    assert.match(g.la57 === null ? g.why : "", /no executable kernel text .* at either depth/);
  });
});
