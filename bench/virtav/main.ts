/**
 * virtav against clamscan: throughput on a generated memory image with the same generated
 * database (every wildcard form), measured side by side, detections compared; and, with
 * `--guest`, the incremental rescan time of an idle test guest's executable pages.
 *
 *   deno run -A bench/virtav/main.ts --quick      # 64 MiB, 1000 signatures
 *   deno run -A bench/virtav/main.ts              # 1 GiB, 3000 signatures
 *   deno run -A bench/virtav/main.ts --guest      # also the idle-guest rescan
 *
 * @module
 */
import { parseArgs } from "node:util";
import { withRun } from "../../lib/cli/mod.ts";
import { generateSignatures, prng } from "../../lib/virtav/generate.ts";
import { clamscanOracleArgs, parseClamscanFound } from "../../lib/virtav/clamscan_oracle.ts";

const root = new URL("../../", import.meta.url).pathname;
const cacheDir = `${root}.cache/virtav-bench`;
const { values } = parseArgs({
  args: Deno.args,
  options: {
    quick: { type: "boolean", default: false },
    guest: { type: "boolean", default: false },
    sigs: { type: "string" },
    rounds: { type: "string" },
    size: { type: "string" },
    db: { type: "string" },
  },
});
const sizeMiB = Number(values.size ?? (values.quick ? 64 : 1024));
const nsigs = Number(values.sigs ?? (values.quick ? 1000 : 3000));
/** Alternating rounds of virtav cold, clamscan, virtav warm; the ratios are per-round medians. */
const rounds = Math.max(1, Number(values.rounds ?? 3));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
async function prepare(): Promise<{ image: string; ndb: string }> {
  await Deno.mkdir(cacheDir, { recursive: true });
  const image = `${cacheDir}/mem-${sizeMiB}M.raw`, ndb = `${cacheDir}/sigs-${nsigs}.ndb`;
  const sigs = generateSignatures(nsigs, 42);
  await Deno.writeTextFile(ndb, sigs.map((s) => s.line).join("\n") + "\n");
  try {
    if ((await Deno.stat(image)).size === sizeMiB * 2 ** 20) return { image, ndb };
  } catch { /* generate */ }
  const rand = prng(99);
  const anywhere = sigs.filter((s) => s.offset.kind === "any");
  const f = await Deno.open(image, { write: true, create: true, truncate: true });
  const chunk = new Uint8Array(4 << 20);
  for (let off = 0; off < sizeMiB * 2 ** 20; off += chunk.length) {
    for (let i = 0; i < chunk.length; i += 65536) {
      crypto.getRandomValues(chunk.subarray(i, i + 65536));
    }
    // Memory-like content: a zero page in every eight, and a few planted instances per MiB.
    for (let p = 0; p < chunk.length; p += 32768) chunk.fill(0, p, p + 4096);
    for (let k = 0; k < 16; k++) {
      const inst = anywhere[Math.floor(rand() * anywhere.length)].instance(rand);
      chunk.set(inst, Math.floor(rand() * (chunk.length - inst.length)));
    }
    let w = 0;
    while (w < chunk.length) w += await f.write(chunk.subarray(w));
  }
  f.close();
  return { image, ndb };
}

async function timed(
  cmd: string,
  args: string[],
): Promise<{ secs: number; out: string; code: number; err: string }> {
  const t0 = performance.now();
  const r = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const d = new TextDecoder();
  return {
    secs: (performance.now() - t0) / 1000,
    out: d.decode(r.stdout),
    err: d.decode(r.stderr),
    code: r.code,
  };
}

/** The signatures virtav found, from its JSON lines. */
function virtavFound(text: string): Set<string> {
  const s = new Set<string>();
  for (const line of text.split("\n")) {
    if (line) {
      const o = JSON.parse(line);
      if (o.status === "FOUND") s.add(o.signature);
    }
  }
  return s;
}

/** virtav scan in file mode, the same semantics as clamscan on a raw file; `cache` its cache. */
function virtavScanArgs(cache: string[], ndb: string, image: string): string[] {
  return [
    "scan",
    "--no-db",
    ...cache,
    "--no-eicar",
    "--all-matches",
    "-i",
    "--output",
    "json",
    "-q",
    "-d",
    ndb,
    image,
  ];
}

async function guestRescan(): Promise<{ firstMs: number; idleMs: number[]; pages: number }> {
  const { launchGuest } = await import("../../lib/qemu/launch.ts");
  const { parseRegisters } = await import("../../lib/qemu/qmp.ts");
  const { openGuestMemory } = await import("../../lib/virtav/guest_memory.ts");
  const { loadDatabase } = await import("../../lib/virtav/database.ts");
  const { compileSignatures } = await import("../../lib/virtav/compile.ts");
  const { Matcher } = await import("../../lib/virtav/matcher.ts");
  const { Scanner } = await import("../../lib/virtav/scanner.ts");
  const { ExecWatcher } = await import("../../lib/virtav/exec_watcher.ts");
  const dir = await Deno.makeTempDir({ prefix: "virtav-bench-" });
  try {
    const vm = await launchGuest({
      workload: "exec-marker",
      workloadArgs: { seconds: 0 },
      memMiB: 256,
      sharedMemPath: `${dir}/ram`,
      timeoutMs: 180_000,
    });
    try {
      await vm.waitForLine((l) => l.kind === "RESULT", 150_000);
      const db = await loadDatabase([`${cacheDir}/sigs-${nsigs}.ndb`]);
      const m = Matcher.load(compileSignatures(db.body));
      const mem = openGuestMemory(`${dir}/ram`);
      const w = new ExecWatcher(new Scanner(m, db.hashes, { allMatch: true }), mem, "guest");
      const regs = parseRegisters(await vm.qmp.hmp("info registers", 0));
      const cr3 = regs.get("CR3")! & 0x000ffffffffff000n;
      const la57 = ((regs.get("CR4") ?? 0n) >> 12n & 1n) === 1n;
      let t = performance.now();
      const first = w.pass(cr3, { la57 });
      const firstMs = performance.now() - t;
      const idleMs: number[] = [];
      for (let i = 0; i < 5; i++) {
        t = performance.now();
        w.pass(cr3, { la57 });
        idleMs.push(performance.now() - t);
      }
      mem.file.close();
      m.close();
      return { firstMs, idleMs, pages: first.pagesHashed };
    } finally {
      await vm.kill();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

await withRun({ db: values.db }, {
  tool: "bench",
  command: "virtav",
  args: { quick: values.quick, sizeMiB, nsigs, guest: values.guest, rounds },
}, async (run) => {
  const { image, ndb } = await prepare();
  const mib = sizeMiB;
  const warmDir = await Deno.makeTempDir({ prefix: "virtav-bench-cache-" });
  const warmArgs = virtavScanArgs(["--cache-dir", warmDir], ndb, image);
  type Timed = Awaited<ReturnType<typeof timed>>;
  const vr: Timed[] = [], cr: Timed[] = [], wr: Timed[] = [];
  try {
    await timed(`${root}bin/virtav`, warmArgs); // fills the compiled-database cache
    for (let r = 0; r < rounds; r++) {
      // virtav with its cache off (compiles the database each run), clamscan, and virtav with
      // its cache warm, in an order that alternates: a burst of other work on the shared machine
      // then moves one round's ratio, not the median.
      const legs = [
        async () =>
          vr.push(await timed(`${root}bin/virtav`, virtavScanArgs(["--no-cache"], ndb, image))),
        async () => cr.push(await timed("clamscan", clamscanOracleArgs([ndb], [image]))),
        async () => wr.push(await timed(`${root}bin/virtav`, warmArgs)),
      ];
      for (const leg of r % 2 ? legs.reverse() : legs) await leg();
    }
  } finally {
    await Deno.remove(warmDir, { recursive: true });
  }
  const v = vr[rounds - 1], c = cr[rounds - 1], w = wr[rounds - 1];
  if (v.code > 1) throw new Error(`virtav failed: ${v.err}`);
  if (c.code > 1) throw new Error(`clamscan failed: ${c.err.split("\n")[0]}`);
  // Absolute figures: the median seconds; ratios: the median of the per-round ratios.
  const vSecs = median(vr.map((x) => x.secs)), cSecs = median(cr.map((x) => x.secs));
  const wSecs = median(wr.map((x) => x.secs));
  const vs = virtavFound(v.out);
  const cs = new Set(parseClamscanFound(c.out).map((f) => f.signature));
  const same = vs.size === cs.size && [...vs].every((x) => cs.has(x));
  const ratio = median(vr.map((x, i) => cr[i].secs / x.secs));
  run.metric("virtav_throughput", mib / vSecs, "MiB/s", { size_mib: mib, sigs: nsigs });
  run.metric("clamscan_throughput", mib / cSecs, "MiB/s", { size_mib: mib, sigs: nsigs });
  run.metric("speedup_vs_clamscan", ratio, "x", {
    size_mib: mib,
    sigs: nsigs,
    ratio: "virtav/clamscan",
    peer: "clamscan",
    better: "higher",
  });
  run.metric("detections_identical", same ? 1 : 0, "", { virtav: vs.size, clamscan: cs.size });
  console.log(
    `image ${mib} MiB, ${nsigs} generated signatures (every wildcard form), wall time incl. database load, median of ${rounds} alternating rounds`,
  );
  console.log(
    `virtav   ${vSecs.toFixed(2)} s  ${
      (mib / vSecs).toFixed(1)
    } MiB/s  ${vs.size} signatures found`,
  );
  console.log(
    `clamscan ${cSecs.toFixed(2)} s  ${
      (mib / cSecs).toFixed(1)
    } MiB/s  ${cs.size} signatures found`,
  );
  console.log(
    `ratio    virtav is ${ratio.toFixed(1)}x clamscan; detections ${same ? "identical" : "DIFFER"}`,
  );
  // virtav with its compiled-database cache warm (what a repeated scan sees: no parsing).
  {
    const wsame = virtavFound(w.out).size === vs.size;
    const wratio = median(wr.map((x, i) => cr[i].secs / x.secs));
    run.metric("virtav_warm_throughput", mib / wSecs, "MiB/s", { size_mib: mib, sigs: nsigs });
    run.metric("speedup_vs_clamscan_warm_cache", wratio, "x", {
      size_mib: mib,
      sigs: nsigs,
      ratio: "virtav/clamscan",
      peer: "clamscan",
      better: "higher",
    });
    console.log(
      `warm     virtav with its compiled-database cache: ${wSecs.toFixed(2)} s  ${
        (mib / wSecs).toFixed(1)
      } MiB/s; ${wratio.toFixed(1)}x clamscan; detections ${wsame ? "identical" : "DIFFER"}`,
    );
  }
  if (values.guest) {
    const g = await guestRescan();
    const worst = Math.max(...g.idleMs);
    run.metric("guest_first_pass_ms", g.firstMs, "ms", { pages: g.pages });
    run.metric("guest_idle_rescan_ms", worst, "ms", { pages: g.pages, stat: "max of 5" });
    console.log(
      `guest    first pass ${
        g.firstMs.toFixed(1)
      } ms over ${g.pages} executable pages; idle rescans ${
        g.idleMs.map((x) => x.toFixed(1)).join(", ")
      } ms (max ${worst.toFixed(1)}, target < 100)`,
    );
  }
});
