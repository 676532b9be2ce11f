/**
 * bench/pviommu: what access control costs an emulated device's DMA.
 *
 * - checked 4 KiB DMA read and write (translate through the IOTLB, check permission, copy)
 *   against the unchecked copy of the same bytes (the peer: what an emulated device does
 *   without an IOMMU), on the same guest RAM file mapped shared, alternating slices of 256
 *   copies so that load from other processes hits both alike (median of slice ratios);
 * - the same for descriptor chains of 16 scattered 4 KiB pages, one call per chain on both
 *   sides (CheckedDma.readv/writev vs a vectored unchecked copy), on rows of their own;
 * - translations per second on IOTLB hits (working set inside the IOTLB) and on misses
 *   (working set 16x the IOTLB: page-table walks);
 * - MAP+UNMAP pairs per second (strict invalidation);
 * - the audit's check of one DMA over a 1 TiB mapping (checked per mapping: one page-table
 *   walk, the IOTLB kept as page-by-page checking would leave it).
 *
 *   deno run -A bench/pviommu/main.ts --quick     # CI size: 0.3 s per measurement
 *   deno run -A bench/pviommu/main.ts             # 1.5 s per measurement, 5 rounds
 *
 * @module
 */
import { Command, Option } from "@commander-js/extra-typings";
import {
  formatTable,
  parseCount,
  runTool,
  UsageError,
  withCommonOptions,
  withRun,
} from "../../lib/cli/mod.ts";
import { CheckedDma } from "../../lib/pviommu/checked_dma.ts";
import { type GuestRam, memoryGuestRam, openGuestRam } from "../../lib/pviommu/guest_ram.ts";
import { PvIommu } from "../../lib/pviommu/iommu.ts";
import { Auditor } from "../../lib/pviommu/audit.ts";
import { MapFlag, Status } from "../../lib/pviommu/spec.ts";
import { dmaContext } from "../../lib/pviommu/native_dma.ts";
import { native } from "../../lib/ffi/ffi.ts";
import type { RunRecorder } from "../../lib/results/mod.ts";

const PAGE = 4096;
const IOVA0 = 0x100000;

/** Runs `body(n)` in batches until `ms` passed; returns ns per operation. */
function timeIt(ms: number, batch: number, body: (n: number) => void): number {
  body(batch); // warm up
  let ops = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    body(batch);
    ops += batch;
    t = performance.now();
  }
  return ((t - t0) * 1e6) / ops;
}

/**
 * Times `a` and `b` in alternating slices of `batch` operations for `ms` in all, so load
 * from other processes hits both alike. Returns the median ns/op of each and the median of
 * the per-slice ratios b/a.
 */
function paired(ms: number, batch: number, a: (n: number) => void, b: (n: number) => void) {
  a(batch * 8);
  b(batch * 8);
  const as: number[] = [], bs: number[] = [], ratios: number[] = [];
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    const t1 = performance.now();
    a(batch);
    const t2 = performance.now();
    b(batch);
    const t3 = performance.now();
    if (t2 > t1 && t3 > t2) {
      as.push(((t2 - t1) * 1e6) / batch);
      bs.push(((t3 - t2) * 1e6) / batch);
      ratios.push((t3 - t2) / (t2 - t1));
    }
  }
  return { aNs: median(as), bNs: median(bs), ratio: median(ratios), slices: ratios.length };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const program = withCommonOptions(
  new Command("bench-pviommu")
    .description(
      "checked vs unchecked DMA copy (single 4 KiB, 16x4K chains), IOTLB translations/s, MAP+UNMAP/s",
    )
    .option("--quick", "CI size", false)
    .option("--rounds <n>", "interleaved rounds (median is reported)", parseCount)
    .option("--ram <file>", "guest RAM file to map (default: a temporary 64 MiB file)")
    .option("--memory", "use process memory instead of a mapped file", false)
    .addOption(
      new Option("--engine <engine>", "checked DMA engines to measure").choices(
        ["native", "ts", "both"] as const,
      ).default("both" as const),
    )
    .option(
      "--hot <pages>",
      "DMA working set in 4 KiB pages, a power of two <= 4096 (default 1024: 4 MiB)",
      parseCount,
    ),
).action(async (opts) => {
  const quick = opts.quick;
  const ms = quick ? 300 : 1500;
  const rounds = opts.rounds ?? (quick ? 3 : 5);
  let tmp: string | null = null;
  let ram: GuestRam;
  if (opts.memory) ram = memoryGuestRam(64 << 20);
  else {
    const path = opts.ram ?? (tmp = await Deno.makeTempFile({ prefix: "pviommu-bench-ram-" }));
    if (tmp) await Deno.truncate(tmp, 64 << 20);
    ram = openGuestRam(path, { writable: true });
  }
  try {
    await withRun(
      opts,
      { tool: "bench", command: "pviommu", args: { ...opts, ms, rounds } },
      (run) => {
        const f = setUp(ram, opts.hot ?? 1024);
        const cases = [...singleCopyCases(f), ...chainCases(f)]
          .filter((c) => opts.engine === "both" || opts.engine === c[0]);
        const rows = measureDma(cases, ms * rounds);
        const other = {
          ...measureTranslations(f, ms),
          mapNs: measureMapUnmap(f, ms),
          tibNs: measureAudit(ms),
        };
        recordMetrics(run, rows, other, opts.memory ? "memory" : "mapped-file");
        if (opts.output === "json") console.log(JSON.stringify({ rows, ...other }));
        else printTable(rows, other);
      },
    );
  } finally {
    ram.close();
    if (tmp) await Deno.remove(tmp).catch(() => {});
  }
});

/** What every measurement works on: the IOMMU with one big mapping, the DMA engines, the pages. */
interface Fixture {
  iommu: PvIommu;
  /** Pages mapped from IOVA0 on. */
  pages: number;
  dmaNative: CheckedDma;
  dmaTs: CheckedDma;
  /** The native unchecked copy's context (the peer). */
  ctx: ReturnType<typeof dmaContext>;
  nat: ReturnType<typeof native>;
  bytes: Uint8Array;
  /** The DMA working set in pages (a power of two), visited in a scattered order. */
  hot: number;
  iovas: number[];
  gpas: number[];
}

function setUp(ram: GuestRam, hot: number): Fixture {
  const iommu = new PvIommu({ iotlb: { entries: 4096 } });
  iommu.attach(1, 8);
  const pages = Math.min(16384, Math.floor(ram.bytes.length / PAGE) - 1);
  if (
    iommu.map(1, IOVA0, IOVA0 + pages * PAGE - 1, PAGE, MapFlag.READ | MapFlag.WRITE) !==
      Status.OK
  ) {
    throw new Error("setup map failed");
  }
  // Hit working set: 1024 pages in a scattered order, inside the 4096-entry IOTLB.
  if (hot < 1 || hot > 4096 || (hot & (hot - 1)) !== 0) {
    throw new UsageError(`--hot ${hot}: a power of two from 1 to 4096`);
  }
  const order = Array.from({ length: hot }, (_, i) => (i * 617) % hot);
  return {
    iommu,
    pages,
    dmaNative: new CheckedDma(iommu, ram.bytes, undefined, { engine: "native" }),
    dmaTs: new CheckedDma(iommu, ram.bytes, undefined, { engine: "ts" }),
    ctx: dmaContext(iommu.iotlb, ram.bytes, iommu.pageShift),
    nat: native(),
    bytes: ram.bytes,
    hot,
    iovas: order.map((p) => IOVA0 + p * PAGE),
    gpas: order.map((p) => PAGE + p * PAGE),
  };
}

/** One DMA case: engine, direction, segments per call, the unchecked peer, the checked side. */
type DmaCase = readonly [
  "native" | "ts",
  "read" | "write",
  number,
  (n: number) => void,
  (n: number) => void,
];

// Each side walks every page of the working set with its own cursor. With one shared cursor,
// slices of 256 copies over 1024 pages gave each side its own fixed half of the pages (a
// different 2 MiB of physical memory per side). The checked cursor runs (half the set + half a
// slice) ahead, so each side copies pages the other side copied equally long ago (4 slices of
// 256 in between, either way).
const SLICE = 256;
const CHAIN = 16;
const checkedStart = (hot: number) => ((hot >> 1) + (SLICE >> 1)) & (hot - 1);

/**
 * Single 4 KiB copies, checked and unchecked, on both engines. One loop function per case (not
 * one closure factory), so that each call site's type feedback is its own and no case slows
 * another down.
 */
function singleCopyCases(f: Fixture): DmaCase[] {
  const { dmaNative, dmaTs, iovas, gpas, hot, bytes, nat, ctx } = f;
  const buf = new Uint8Array(PAGE).fill(0x5a);
  let kp = 0; // the unchecked peers' cursor
  let kc = checkedStart(hot); // the checked side's cursor
  const checkedNativeRead = (n: number) => {
    for (let i = 0; i < n; i++) {
      if (dmaNative.read(8, iovas[kc], buf) !== null) throw new Error("unexpected fault");
      kc = (kc + 1) & (hot - 1);
    }
  };
  const checkedNativeWrite = (n: number) => {
    for (let i = 0; i < n; i++) {
      if (dmaNative.write(8, iovas[kc], buf) !== null) throw new Error("unexpected fault");
      kc = (kc + 1) & (hot - 1);
    }
  };
  const checkedTsRead = (n: number) => {
    for (let i = 0; i < n; i++) {
      if (dmaTs.read(8, iovas[kc], buf) !== null) throw new Error("unexpected fault");
      kc = (kc + 1) & (hot - 1);
    }
  };
  const checkedTsWrite = (n: number) => {
    for (let i = 0; i < n; i++) {
      if (dmaTs.write(8, iovas[kc], buf) !== null) throw new Error("unexpected fault");
      kc = (kc + 1) & (hot - 1);
    }
  };
  // The peers: the same copy mechanism without the IOMMU (TS: subarray + set; native: one FFI
  // call doing a bounds check and memcpy).
  const uncheckedTsRead = (n: number) => {
    for (let i = 0; i < n; i++) {
      const g = gpas[kp];
      buf.set(bytes.subarray(g, g + PAGE));
      kp = (kp + 1) & (hot - 1);
    }
  };
  const uncheckedTsWrite = (n: number) => {
    for (let i = 0; i < n; i++) {
      bytes.set(buf, gpas[kp]);
      kp = (kp + 1) & (hot - 1);
    }
  };
  const uncheckedNativeRead = (n: number) => {
    for (let i = 0; i < n; i++) {
      if (nat.hv_pviommu_copy_read(ctx, gpas[kp], buf, PAGE) !== 0) throw new Error("copy");
      kp = (kp + 1) & (hot - 1);
    }
  };
  const uncheckedNativeWrite = (n: number) => {
    for (let i = 0; i < n; i++) {
      if (nat.hv_pviommu_copy_write(ctx, gpas[kp], buf, PAGE) !== 0) throw new Error("copy");
      kp = (kp + 1) & (hot - 1);
    }
  };
  return [
    ["native", "read", 1, uncheckedNativeRead, checkedNativeRead],
    ["native", "write", 1, uncheckedNativeWrite, checkedNativeWrite],
    ["ts", "read", 1, uncheckedTsRead, checkedTsRead],
    ["ts", "write", 1, uncheckedTsWrite, checkedTsWrite],
  ];
}

/**
 * Descriptor chains: CHAIN segments of 4 KiB each (a 64 KiB virtio-blk request's data), the
 * working set's pages in order, as (address, length) pairs: by IOVA for the checked side, by
 * guest-physical address for the peers.
 */
function buildChains(f: Fixture) {
  const nChains = Math.max(1, f.hot / CHAIN);
  const iChains: Float64Array[] = [], gChains: Float64Array[] = [];
  for (let c = 0; c < nChains; c++) {
    const ic = new Float64Array(2 * CHAIN), gc = new Float64Array(2 * CHAIN);
    for (let s = 0; s < CHAIN; s++) {
      const o = (c * CHAIN + s) % f.hot;
      ic[2 * s] = f.iovas[o];
      gc[2 * s] = f.gpas[o];
      ic[2 * s + 1] = gc[2 * s + 1] = PAGE;
    }
    iChains.push(ic);
    gChains.push(gc);
  }
  return { nChains, iChains, gChains };
}

/**
 * Chains, one call per chain on both sides (checked: readv/writev, one FFI call on the native
 * engine; peers: one FFI call doing bounds check + memcpy per segment, or subarray + set per
 * segment in TS). The same pages as the single copies; one loop function per case, as there.
 */
function chainCases(f: Fixture): DmaCase[] {
  const { dmaNative, dmaTs, bytes, nat, ctx } = f;
  const { nChains, iChains, gChains } = buildChains(f);
  const cbuf = new Uint8Array(CHAIN * PAGE).fill(0x5a);
  let cp = 0;
  let cc = Math.floor(checkedStart(f.hot) / CHAIN) & (nChains - 1);
  const chainStep = (c: number) => (c + 1) & (nChains - 1);
  const checkedNativeReadv = (n: number) => {
    for (let i = 0; i < n; i++) {
      if (dmaNative.readv(8, iChains[cc], cbuf) !== null) throw new Error("fault");
      cc = chainStep(cc);
    }
  };
  const checkedNativeWritev = (n: number) => {
    for (let i = 0; i < n; i++) {
      if (dmaNative.writev(8, iChains[cc], cbuf) !== null) throw new Error("fault");
      cc = chainStep(cc);
    }
  };
  const checkedTsReadv = (n: number) => {
    for (let i = 0; i < n; i++) {
      if (dmaTs.readv(8, iChains[cc], cbuf) !== null) throw new Error("fault");
      cc = chainStep(cc);
    }
  };
  const checkedTsWritev = (n: number) => {
    for (let i = 0; i < n; i++) {
      if (dmaTs.writev(8, iChains[cc], cbuf) !== null) throw new Error("fault");
      cc = chainStep(cc);
    }
  };
  const uncheckedNativeReadv = (n: number) => {
    for (let i = 0; i < n; i++) {
      const r = nat.hv_pviommu_copy_readv(ctx, gChains[cp], CHAIN, cbuf, cbuf.length);
      if (r !== CHAIN) throw new Error("copy");
      cp = chainStep(cp);
    }
  };
  const uncheckedNativeWritev = (n: number) => {
    for (let i = 0; i < n; i++) {
      const r = nat.hv_pviommu_copy_writev(ctx, gChains[cp], CHAIN, cbuf, cbuf.length);
      if (r !== CHAIN) throw new Error("copy");
      cp = chainStep(cp);
    }
  };
  const uncheckedTsReadv = (n: number) => {
    for (let i = 0; i < n; i++) {
      const gc = gChains[cp];
      for (let s = 0; s < CHAIN; s++) {
        const g = gc[2 * s];
        cbuf.set(bytes.subarray(g, g + gc[2 * s + 1]), s * PAGE);
      }
      cp = chainStep(cp);
    }
  };
  const uncheckedTsWritev = (n: number) => {
    for (let i = 0; i < n; i++) {
      const gc = gChains[cp];
      for (let s = 0; s < CHAIN; s++) {
        bytes.set(cbuf.subarray(s * PAGE, (s + 1) * PAGE), gc[2 * s]);
      }
      cp = chainStep(cp);
    }
  };
  return [
    ["native", "read", CHAIN, uncheckedNativeReadv, checkedNativeReadv],
    ["native", "write", CHAIN, uncheckedNativeWritev, checkedNativeWritev],
    ["ts", "read", CHAIN, uncheckedTsReadv, checkedTsReadv],
    ["ts", "write", CHAIN, uncheckedTsWritev, checkedTsWritev],
  ];
}

/** One measured DMA case. */
interface DmaRow {
  measure: string;
  engine: string;
  dir: string;
  segments: number;
  checked_ns: number;
  unchecked_ns: number;
  overhead_pct: number;
  slices: number;
}

/** Each case checked against its peer in alternating slices for `ms`. */
function measureDma(cases: DmaCase[], ms: number): DmaRow[] {
  const rows: DmaRow[] = [];
  for (const [engine, dir, segments, peer, checked] of cases) {
    // A slice is SLICE pages either way: SLICE single copies or SLICE / CHAIN chains.
    const p = paired(ms, Math.max(1, SLICE / segments), peer, checked);
    rows.push({
      measure: segments === 1
        ? `4K DMA ${dir} (${engine})`
        : `chain ${segments}x4K ${dir} (${engine}), per chain`,
      engine,
      dir,
      segments,
      checked_ns: p.bNs,
      unchecked_ns: p.aNs,
      overhead_pct: (p.ratio - 1) * 100,
      slices: p.slices,
    });
  }
  return rows;
}

/** Translations: hits (hot set) and misses (16x the IOTLB, strided); ns each, the miss ratio. */
function measureTranslations(f: Fixture, ms: number) {
  const { iommu, iovas, hot, pages } = f;
  let j = 0;
  const hitNs = timeIt(ms, 4096, (n) => {
    for (let i = 0; i < n; i++) {
      iommu.translate(8, iovas[j], "read");
      j = (j + 1) & (hot - 1);
    }
  });
  const tlb = iommu.iotlb;
  const h0 = tlb.hits, m0 = tlb.misses;
  let q = 0;
  const missNs = timeIt(ms, 4096, (n) => {
    for (let i = 0; i < n; i++) {
      iommu.translate(8, IOVA0 + q * PAGE, "read");
      q = (q + 4099) % pages;
    }
  });
  const missRatio = (tlb.misses - m0) / Math.max(1, tlb.hits - h0 + tlb.misses - m0);
  return { hitNs, missNs, missRatio };
}

/** MAP + UNMAP pairs (strict: each UNMAP invalidates the IOTLB range); ns per pair. */
function measureMapUnmap(f: Fixture, ms: number): number {
  let v = 0;
  const base = IOVA0 + (f.pages + 16) * PAGE;
  return timeIt(ms, 1024, (n) => {
    for (let i = 0; i < n; i++) {
      const a = base + (v & 255) * PAGE;
      f.iommu.map(1, a, a + PAGE - 1, PAGE, MapFlag.READ);
      f.iommu.unmap(1, a, a + PAGE - 1);
      v++;
    }
  });
}

/** One DMA over a whole 1 TiB mapping, through the audit (no copy: 1 TiB of RAM); ns. */
function measureAudit(ms: number): number {
  const TIB = 1n << 40n;
  const auditor = new Auditor({ iotlb: { entries: 4096 } });
  auditor.apply({ op: "attach", endpoint: 8, domain: 1 }, 1);
  auditor.apply({ op: "map", domain: 1, iova: TIB, len: TIB, gpa: 0n }, 2);
  const bigDma = { op: "dma", endpoint: 8, iova: TIB, len: TIB, dir: "read" } as const;
  const tibNs = timeIt(ms, 16, (n) => {
    for (let i = 0; i < n; i++) auditor.apply(bigDma, 3);
  });
  if (auditor.report().violations !== 0) throw new Error("1 TiB DMA: unexpected violation");
  return tibNs;
}

/** The figures besides the DMA rows. */
interface OtherFigures {
  hitNs: number;
  missNs: number;
  missRatio: number;
  mapNs: number;
  tibNs: number;
}

const gibps = (bytes: number, ns: number) => bytes / ns / 1.073741824;

function recordMetrics(run: RunRecorder, rows: DmaRow[], o: OtherFigures, ramKind: string) {
  for (const r of rows) {
    const labels = {
      dir: r.dir,
      engine: r.engine,
      bs: PAGE,
      segments: r.segments,
      ram: ramKind,
      peer: `unchecked-copy-${r.engine}`,
    };
    run.metric("dma.checked_ns", r.checked_ns, "ns", labels);
    run.metric("dma.unchecked_ns", r.unchecked_ns, "ns", labels);
    const b = PAGE * r.segments;
    run.metric("dma.checked_gibps", gibps(b, r.checked_ns), "GiB/s", labels);
    run.metric("dma.unchecked_gibps", gibps(b, r.unchecked_ns), "GiB/s", labels);
    run.metric("dma.overhead", r.overhead_pct, "%", labels);
    run.metric("dma.ratio_checked_to_unchecked", 1 + r.overhead_pct / 100, "x", {
      ...labels,
      ratio: "checked/unchecked",
      better: "lower",
    });
  }
  run.metric("iotlb.translations_per_s", 1e9 / o.hitNs, "1/s", { path: "hit" });
  run.metric("iotlb.translations_per_s", 1e9 / o.missNs, "1/s", {
    path: "miss",
    miss_ratio: o.missRatio,
  });
  run.metric("iotlb.miss_to_hit_time", o.missNs / o.hitNs, "x", {});
  run.metric("map_unmap.pairs_per_s", 1e9 / o.mapNs, "1/s", { invalidation: "strict" });
  run.metric("audit.dma_1tib_ns", o.tibNs, "ns", { mapping: "1 TiB", check: "per-mapping" });
}

function printTable(rows: DmaRow[], o: OtherFigures): void {
  const only = (measure: string, checked: string, ratio = "") => [measure, checked, "", ratio];
  const table = [
    ...rows.map((r) => [
      r.measure,
      `${r.checked_ns.toFixed(0)} ns (${gibps(PAGE * r.segments, r.checked_ns).toFixed(2)} GiB/s)`,
      `${r.unchecked_ns.toFixed(0)} ns (${
        gibps(PAGE * r.segments, r.unchecked_ns).toFixed(2)
      } GiB/s)`,
      `${(1 + r.overhead_pct / 100).toFixed(3)}x (${r.overhead_pct >= 0 ? "+" : ""}${
        r.overhead_pct.toFixed(1)
      }%)`,
    ]),
    only("translate, IOTLB hit", `${(1e9 / o.hitNs / 1e6).toFixed(1)} M/s`),
    only(
      `translate, IOTLB miss (${(o.missRatio * 100).toFixed(0)}% misses)`,
      `${(1e9 / o.missNs / 1e6).toFixed(1)} M/s`,
      `${(o.missNs / o.hitNs).toFixed(1)}x hit time`,
    ),
    only("MAP+UNMAP pair (strict)", `${(1e9 / o.mapNs / 1e3).toFixed(0)} k/s`),
    only("audit: one DMA over a 1 TiB mapping", `${(o.tibNs / 1e3).toFixed(1)} us`),
  ];
  console.log(formatTable(["measure", "checked", "unchecked (peer)", "ratio"], table, "text"));
}

if (import.meta.main) await runTool(program);
