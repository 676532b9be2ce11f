/**
 * `virtav scan`: files, directories, guest memory images, QEMU ELF dumps and live RAM files,
 * optionally only the executable pages a CR3 maps. Prints clamscan's `PATH: NAME FOUND`.
 *
 * @module
 */
import { type Command, Option } from "@commander-js/extra-typings";
import { addExamples, withCommonOptions } from "../../lib/cli/program.ts";
import { parseOption, parseSize } from "../../lib/cli/parse.ts";
import { ToolError, UsageError } from "../../lib/cli/errors.ts";
import { withRun } from "../../lib/cli/with_run.ts";
import type { RunRecorder } from "../../lib/results/mod.ts";
import { openGuestMemory } from "../../lib/virtav/guest_memory.ts";
import type { Detection } from "../../lib/virtav/scanner.ts";
import { Scanner, type UnitMatcher } from "../../lib/virtav/scanner.ts";
import { Matcher, prefilterEnabled } from "../../lib/virtav/matcher.ts";
import { ClamavMatcher } from "../../lib/virtav/clamav_matcher.ts";
import { detectPagingDepth, hexAddr } from "../../lib/virtav/page_walker.ts";
import type { GuestMemory } from "../../lib/virtav/guest_memory.ts";
import {
  addSignatureOptions,
  collect,
  type Loaded,
  loadSignatures,
  noteHashesNotApplied,
  type SigOptions,
  unsupportedSummary,
  withClamscanExit,
} from "./signatures.ts";

/** The results-store table of detections. */
export const DETECTIONS_TABLE = {
  name: "virtav_detections",
  columns: [
    ["path", "VARCHAR"],
    ["signature", "VARCHAR"],
    ["offset", "BIGINT"],
    ["gpa", "BIGINT"],
    ["gva", "VARCHAR"],
    ["mode", "VARCHAR"],
  ],
} as const;

/** Copies standard input to a temporary file (the matcher scans a mapped file). */
async function copyStdin(): Promise<string> {
  const path = await Deno.makeTempFile({ prefix: "virtav-stdin-" });
  const f = await Deno.open(path, { write: true });
  await Deno.stdin.readable.pipeTo(f.writable); // closes f
  return path;
}

/** Parses an address: 0x-hex or decimal. */
export function parseAddress(text: string, what: string): bigint {
  if (!/^(0x[0-9a-fA-F]+|[0-9]+)$/.test(text)) {
    throw new UsageError(`${what}: not an address: ${text}`);
  }
  return BigInt(text);
}

/** `0xSTART-0xEND` of a unit (a detection whose engine does not say where in it). */
function unitRange(start: bigint | number, size: number): string {
  return `${hexAddr(start)}-${hexAddr(BigInt(start) + BigInt(size))}`;
}

/**
 * The clamscan-form line of a detection (the path carries the addresses for memory; with
 * `--engine clamav`, the range of the unit that matched).
 */
export function detectionLine(d: Detection): string {
  let where = d.path;
  if (d.unit?.va !== undefined) {
    where += `@va=${unitRange(d.unit.va, d.unit.size)},pa=${hexAddr(d.unit.pa ?? 0)}`;
  } else if (d.unit?.pa !== undefined) where += `@pa=${unitRange(d.unit.pa, d.unit.size)}`;
  else if (d.va !== undefined) where += `@va=${hexAddr(d.va)},pa=${hexAddr(d.pa ?? 0)}`;
  else if (d.pa !== undefined) where += `@pa=${hexAddr(d.pa)}`;
  return `${where}: ${d.name} FOUND`;
}

/** The JSON form of a detection. */
export function detectionJson(d: Detection): Record<string, unknown> {
  const o: Record<string, unknown> = {
    path: d.path,
    status: "FOUND",
    signature: d.name,
  };
  if (d.offset >= 0) o.offset = d.offset;
  if (d.pa !== undefined) o.pa = hexAddr(d.pa);
  if (d.va !== undefined) o.va = hexAddr(d.va);
  if (d.unit) {
    o.unit = {
      ...(d.unit.pa !== undefined ? { pa: hexAddr(d.unit.pa) } : {}),
      ...(d.unit.va !== undefined ? { va: hexAddr(d.unit.va) } : {}),
      size: d.unit.size,
    };
  }
  return o;
}

/** Records detections in the store. */
export function recordDetections(run: RunRecorder, dets: Detection[], mode: string): void {
  if (dets.length === 0) return;
  run.rows(
    { name: DETECTIONS_TABLE.name, columns: DETECTIONS_TABLE.columns.map(([n, t]) => [n, t]) },
    dets.map((d) => [
      d.path,
      d.name,
      d.offset >= 0 ? d.offset : null,
      d.pa ?? d.unit?.pa ?? null,
      d.va !== undefined ? hexAddr(d.va) : d.unit?.va !== undefined ? hexAddr(d.unit.va) : null,
      mode,
    ]),
  );
}

/** `--engine` (scan, watch). */
export const engineOption = new Option(
  "--engine <engine>",
  "default: virtav's matcher; clamav: libclamav (clamscan's library, raw-only options)",
).choices(["default", "clamav"] as const).default("default" as const);

/** Declares `virtav scan`: its arguments, options and examples (the action is added apart). */
function declareScanCommand(program: Command) {
  const cmd = withCommonOptions(
    program.command("scan")
      .description(
        "scan files, directories, memory images, ELF dumps or a live RAM file (read-only)",
      )
      .argument("<path...>", "files or directories; with --memory, guest memory files")
      .option(
        "--all-matches",
        "report every matching signature (clamscan's --allmatch)",
        false,
      )
      .option("--allmatch", "the same as --all-matches", false)
      .addOption(engineOption)
      .option("-i, --infected", "print only detections, not OK lines", false)
      .option("--memory", "inputs are guest memory: raw image, RAM file or QEMU ELF dump", false)
      .addOption(
        new Option("--format <f>", "memory format").choices(["auto", "raw", "elf"] as const)
          .default("auto" as const),
      )
      .option(
        "--lowmem <size>",
        "raw RAM files above 2 GiB: RAM below the PCI hole (q35 2G, pc 3G/3.5G)",
      )
      .option("--exec-only", "walk the page tables and scan only present, executable pages", false)
      .option(
        "--cr3 <addr>",
        "page-table root(s) for --exec-only (repeatable)",
        collect,
        [] as string[],
      )
      .option(
        "--qmp <socket>",
        "--exec-only: read CR3, CR4.LA57 and EFER.NXE of every vCPU over the VM's QMP socket",
      )
      .option("--la57", "5-level paging (CR4.LA57); default: from --qmp, else detected")
      .option("--no-la57", "4-level paging")
      .option(
        "--ignore-nx",
        "treat every present page as executable (guest without EFER.NXE)",
        false,
      ),
  );
  addSignatureOptions(cmd, { clamscanNames: true });
  addExamples(cmd, [
    "virtav scan -d sigs.ndb /usr/bin",
    "virtav scan --memory -d sigs.ndb --all-matches vm.dump",
    "virtav scan --memory --exec-only --cr3 0x1a2b000 -d sigs.ndb /dev/shm/guest.ram",
    "virtav scan --memory --exec-only --qmp /run/vm.qmp -d sigs.ndb /dev/shm/guest.ram",
    "virtav scan --engine clamav -d main.cvd --memory vm.dump",
  ]);
  return cmd;
}

/** `virtav scan`'s options as the action reads them (the signature options are added in a loop). */
type ScanOptions = ReturnType<ReturnType<typeof declareScanCommand>["opts"]> & SigOptions;

/** What the options ask for, checked and parsed before anything is opened. */
interface ScanPlan {
  allMatch: boolean;
  cr3s: bigint[];
  lowmem?: number;
  json: boolean;
  /** How detections are recorded: `file`, `memory` or `exec`. */
  mode: string;
}

/** Refuses option combinations that make no sense; parses addresses and sizes. */
function scanPlan(paths: string[], opts: ScanOptions): ScanPlan {
  if (opts.execOnly && !opts.memory) throw new UsageError("--exec-only needs --memory");
  if (opts.execOnly && opts.cr3.length === 0 && opts.qmp === undefined) {
    throw new UsageError("--exec-only needs --cr3 ADDR or --qmp SOCKET");
  }
  if (!opts.execOnly && opts.qmp !== undefined) throw new UsageError("--qmp needs --exec-only");
  if (!opts.execOnly && opts.cr3.length > 0) throw new UsageError("--cr3 needs --exec-only");
  if (opts.memory && paths.includes("-")) {
    throw new UsageError("--memory reads a file, not standard input (-)");
  }
  return {
    allMatch: opts.allMatches || opts.allmatch,
    cr3s: opts.cr3.map((c) => parseAddress(c, "--cr3")),
    lowmem: opts.lowmem !== undefined ? parseOption("--lowmem", opts.lowmem, parseSize) : undefined,
    json: opts.output === "json",
    mode: opts.execOnly ? "exec" : opts.memory ? "memory" : "file",
  };
}

/** Adds `virtav scan`. */
export function addScanCommand(program: Command) {
  const cmd = declareScanCommand(program);
  cmd.action(async (paths, cliOpts) => {
    const opts = cliOpts as ScanOptions;
    const plan = scanPlan(paths, opts);
    let found = 0;
    await withClamscanExit(() =>
      withRun(
        opts,
        { tool: "virtav", command: "scan", args: { paths, ...opts } },
        async (run) => {
          found = await runScan(paths, opts, plan, run);
        },
      )
    );
    // clamscan's convention: 1 when something was found.
    if (found > 0) Deno.exit(1);
  });
  return cmd;
}

/**
 * Prints and records results as they come (clamscan's lines or JSON, batched), counts the
 * detections, and ends the process with the partial result when the scan was interrupted.
 */
class ScanOutput {
  found = 0;
  #lines: string[] = [];

  constructor(
    private readonly run: RunRecorder,
    private readonly engine: LoadedEngine,
    private readonly how: { json: boolean; infected: boolean; mode: string },
  ) {}

  /** One input's detections, or its status line when it has none (unless `--infected`). */
  report(path: string, dets: Detection[], status = "OK"): void {
    const json = this.how.json;
    this.found += dets.length;
    recordDetections(this.run, dets, this.how.mode);
    for (const d of dets) {
      this.#lines.push(json ? JSON.stringify(detectionJson(d)) : detectionLine(d));
    }
    if (dets.length === 0 && !this.how.infected) {
      this.#lines.push(json ? JSON.stringify({ path, status }) : `${path}: ${status}`);
    }
    if (this.#lines.length > 256) this.flush();
  }

  flush(): void {
    if (this.#lines.length) console.log(this.#lines.join("\n"));
    this.#lines.length = 0;
  }

  /**
   * SIGINT/SIGTERM stop the native scan within ~1 MiB: print what was found, say the result is
   * partial, then let withRun's own handler record `interrupted`, exit 130.
   */
  async stopIfCancelled(): Promise<void> {
    const st = this.engine.sigs?.matcher.stats;
    if (!st?.cancelled) return;
    const found = this.found;
    if (this.how.json) {
      this.#lines.push(JSON.stringify({ status: "INTERRUPTED", partial: true, found }));
    }
    this.flush();
    console.error(
      `virtav: interrupted: partial result (${found} detections in ` +
        `${(st.bytes / 2 ** 20).toFixed(1)} MiB scanned)`,
    );
    this.run.event("interrupted", { found });
    await new Promise((r) => setTimeout(r, 2000));
    Deno.exit(130);
  }
}

/** The scan inside its run: load the engine, scan every input, report; the detections found. */
async function runScan(
  paths: string[],
  opts: ScanOptions,
  plan: ScanPlan,
  run: RunRecorder,
): Promise<number> {
  const vcpus = opts.qmp !== undefined
    ? await walksFromQmp(opts.qmp, plan.cr3s, opts, run)
    : undefined;
  const t0 = performance.now();
  const engine = await loadEngine({ ...opts, smallInput: await smallInput(paths, opts) }, run);
  const scanner = new Scanner(engine.matcher, engine.hashes, { allMatch: plan.allMatch });
  if (engine.sigs) Matcher.interruptible();
  const tLoad = performance.now();
  const out = new ScanOutput(run, engine, { ...plan, infected: opts.infected });
  let problems = 0;
  if (!opts.memory) problems = await scanFiles(paths, scanner, out, run, opts.infected);
  else {
    const walks = vcpus ??
      plan.cr3s.map((cr3) => ({ cr3, la57: opts.la57, ignoreNx: opts.ignoreNx }));
    for (const p of paths) {
      await scanMemoryFile(p, scanner, out, run, { ...opts, lowmem: plan.lowmem, walks });
    }
  }
  out.flush();
  const secs = (performance.now() - tLoad) / 1000;
  reportScan(run, scanner, engine, out.found, { secs, loadSecs: (tLoad - t0) / 1000 }, opts);
  engine.close();
  if (problems && out.found === 0) {
    throw new ToolError(`${problems} inputs could not be scanned`);
  }
  return out.found;
}

/** Scans files and directories (`-` is standard input); the number that could not be scanned. */
async function scanFiles(
  paths: string[],
  scanner: Scanner,
  out: ScanOutput,
  run: RunRecorder,
  infected: boolean,
): Promise<number> {
  let problems = 0;
  // `-` is standard input, scanned from a temporary copy and named `stdin` (clamscan).
  const stdin = paths.includes("-") ? await copyStdin() : undefined;
  const named = (p: string) => p === stdin ? "stdin" : p;
  try {
    const list = paths.map((p) => p === "-" ? stdin! : p);
    for await (const r of scanner.scanPaths(list)) {
      if ("problem" in r) {
        problems++;
        console.error(`virtav: ${named(r.problem.path)}: ${r.problem.message}`);
        run.event("problem", r.problem);
      } else if ("note" in r) {
        if (!infected) out.report(r.path, [], r.note);
      } else {
        for (const d of r.detections) d.path = named(d.path);
        out.report(named(r.path), r.detections, r.empty ? "Empty file" : "OK");
        await out.stopIfCancelled();
      }
    }
  } finally {
    if (stdin !== undefined) await Deno.remove(stdin).catch(() => {});
  }
  return problems;
}

/** Scans one guest memory file: all of it, or (`--exec-only`) what each walk finds executable. */
async function scanMemoryFile(
  path: string,
  scanner: Scanner,
  out: ScanOutput,
  run: RunRecorder,
  o: {
    format: "auto" | "raw" | "elf";
    lowmem?: number;
    execOnly: boolean;
    walks: Walk[];
    quiet?: boolean;
  },
): Promise<void> {
  const mem = openGuestMemory(path, { format: o.format, lowmem: o.lowmem });
  try {
    if (!o.execOnly) {
      out.report(path, scanner.scanMemory(mem, path));
      await out.stopIfCancelled();
      return;
    }
    for (const w of o.walks) {
      const la57 = w.la57 ?? detectedDepth(mem, path, w.cr3, w.ignoreNx, o.quiet, run);
      const r = scanner.scanExecutable(mem, path, w.cr3, { la57, ignoreNx: w.ignoreNx });
      reportWalk(path, w.cr3, la57, r, run, o.quiet);
      out.report(path, r.detections);
      await out.stopIfCancelled();
    }
  } finally {
    mem.file.close();
  }
}

/** What one page-table walk found: metrics, the warnings that say it is doubtful, a summary. */
function reportWalk(
  path: string,
  cr3: bigint,
  la57: boolean,
  r: ReturnType<Scanner["scanExecutable"]>,
  run: RunRecorder,
  quiet: boolean | undefined,
): void {
  const s = r.stats;
  const where = { cr3: hexAddr(cr3), levels: la57 ? 5 : 4 };
  run.metric("exec_bytes", r.execBytes, "B", where);
  run.metric("supervisor_exec_bytes", s.supervisorBytes, "B", where);
  run.metric("kernel_text_bytes", r.kernelBytes, "B", where);
  run.metric("page_tables", s.tables, "", where);
  const warn = walkWarnings(r, la57);
  if (warn.length) {
    console.error(`virtav: ${path} cr3=${hexAddr(cr3)}: warning: ${warn.join(", ")}`);
    run.event("walk_warning", { cr3: hexAddr(cr3), ...s });
  }
  if (!quiet) {
    console.error(
      `virtav: ${path} cr3=${hexAddr(cr3)}: ${la57 ? 5 : 4}-level, ${r.units} ` +
        `executable runs, ${(r.execBytes / 2 ** 20).toFixed(1)} MiB (kernel ` +
        `${(s.supervisorBytes / 2 ** 20).toFixed(1)} MiB), ${s.tables} page tables`,
    );
  }
}

/** Why a walk's result is doubtful (none: it looks like a live Linux address space). */
function walkWarnings(r: ReturnType<Scanner["scanExecutable"]>, la57: boolean): string[] {
  const s = r.stats;
  const warn: string[] = [];
  if (r.kernelBytes === 0) {
    // A live Linux CR3 always maps kernel text there (with page-table isolation at least the
    // entry code); a walk at the wrong depth finds strays elsewhere.
    warn.push(
      `no executable kernel text at the kernel's addresses ` +
        `(0xffffffff80000000-0xffffffffc0000000; ${s.supervisorBytes} ` +
        `supervisor bytes elsewhere), which no live Linux CR3 lacks: a wrong ` +
        `CR3 or paging depth (${la57 ? 5 : 4}-level)? a clean result from this ` +
        `walk means nothing`,
    );
  }
  if (s.outsideRam) warn.push(`${s.outsideRam} entries point outside RAM`);
  if (s.loops) warn.push(`${s.loops} page-table loops skipped`);
  if (s.budgetExceeded) warn.push("walk stopped after 2^20 tables");
  if (s.truncated) warn.push(`${s.truncated} runs beyond the run list`);
  return warn;
}

/** The scan's figures in the store and its summary on stderr (with what the matcher gave up). */
function reportScan(
  run: RunRecorder,
  scanner: Scanner,
  engine: LoadedEngine,
  found: number,
  t: { secs: number; loadSecs: number },
  opts: { engine: string; quiet?: boolean },
): void {
  const eng = { engine: opts.engine };
  const mib = scanner.bytes / 2 ** 20;
  run.metric("bytes_scanned", scanner.bytes, "B", eng);
  run.metric("scan_seconds", t.secs, "s", eng);
  run.metric("throughput", mib / Math.max(t.secs, 1e-9), "MiB/s", eng);
  run.metric("detections", found, "", eng);
  run.metric("signatures", engine.signatures, "", eng);
  run.metric("load_seconds", t.loadSecs, "s", { ...eng, cached: engine.cached });
  const rate = (mib / Math.max(t.secs, 1e-9)).toFixed(0);
  const scanned = `scanned ${mib.toFixed(1)} MiB in ${
    t.secs.toFixed(3)
  } s (${rate} MiB/s); ${found} detections`;
  const sigs = engine.sigs;
  if (!sigs) {
    if (!opts.quiet) {
      console.error(`virtav: libclamav: ${engine.signatures} signatures; ${scanned}`);
    }
    return;
  }
  const st = sigs.matcher.stats;
  run.metric("unsupported_signatures", sigs.unsupportedTotal);
  if (st.exactFallbacks) run.metric("exact_fallbacks", st.exactFallbacks);
  if (st.exactFallbacks && !opts.quiet) {
    console.error(
      `virtav: ${st.exactFallbacks} signature variants had more partial matches than the ` +
        `tracker holds and were decided by the exact (slower) scan`,
    );
  }
  if (st.hitsLost) {
    console.error(`virtav: warning: ${st.hitsLost} hits beyond the buffer`);
  }
  if (!opts.quiet) {
    console.error(
      `virtav: ${sigs.db.bodyCount} body + ${sigs.db.hashes.length} hash signatures` +
        (sigs.cached ? " (compiled, from cache)" : "") + `; ${scanned}`,
    );
  }
}

/** The engine a scan uses: virtav's matcher (with its database summary) or libclamav. */
export interface LoadedEngine {
  matcher: UnitMatcher;
  /** Hash signatures the scanner applies itself (libclamav applies its own). */
  hashes: Loaded["db"]["hashes"];
  signatures: number;
  cached: boolean;
  /** The default engine's database (undefined for libclamav). */
  sigs?: Loaded;
  close(): void;
}

/**
 * Inputs this small in all, with a database of LARGE_DB body signatures or more, are scanned by
 * the key loop alone: setting up the Hyperscan prefilter from the cache costs more CPU there
 * (~0.25 s at 100,000 signatures) than the key loop takes over 1 MiB (~10 MiB/s). Detections
 * are the same either way (the prefilter only finds candidates for the same exact matcher).
 */
const SMALL_INPUT = 1 << 20;
const LARGE_DB = 20000;

/** Whether the inputs are regular files of SMALL_INPUT bytes or fewer in all (not memory, stdin or a directory). */
async function smallInput(paths: string[], opts: ScanOptions): Promise<boolean> {
  if (opts.memory || paths.length === 0) return false;
  let total = 0;
  for (const p of paths) {
    const st = p === "-" ? null : await Deno.stat(p).catch(() => null);
    if (!st?.isFile) return false;
    total += st.size;
  }
  return total <= SMALL_INPUT;
}

/** Loads `--engine`'s signatures; says on stderr what the default engine cannot use. */
export async function loadEngine(
  opts: SigOptions & {
    engine: "default" | "clamav";
    memory: boolean;
    quiet?: boolean;
    /** Inputs small enough that the prefilter is not set up (see SMALL_INPUT). */
    smallInput?: boolean;
  },
  run: RunRecorder,
): Promise<LoadedEngine> {
  if (opts.engine === "clamav") {
    if (opts.database.length === 0) {
      throw new UsageError(
        "--engine clamav needs -d/--database (libclamav has no built-in signatures)",
      );
    }
    let m: ClamavMatcher;
    try {
      m = ClamavMatcher.load(opts.database, opts.clamscanNames);
    } catch (e) {
      // A database libclamav refuses: exit 2, as clamscan (its loader named the line on stderr).
      throw new UsageError((e as Error).message);
    }
    return {
      matcher: m,
      hashes: [],
      signatures: m.signatures,
      cached: false,
      close: () => m.close(),
    };
  }
  const sigs = await loadSignatures({
    ...opts,
    prefilter: (n) => !(opts.smallInput && n >= LARGE_DB) && prefilterEnabled(),
  });
  const pf = sigs.matcher.prefilterInfo();
  run.metric("prefiltered_signatures", pf.sigsPrefiltered, "", { prefilter: pf.state });
  run.metric("key_loop_signatures", pf.sigsKeyLoop, "", { prefilter: pf.state });
  run.metric("prefilter_memory", pf.databaseBytes + pf.scratchBytes, "B");
  const summary = unsupportedSummary(sigs.db);
  if (summary && !opts.quiet) console.error(`virtav: ${summary}`);
  if (opts.memory) noteHashesNotApplied(sigs.db, opts.quiet ?? false, run);
  return {
    matcher: sigs.matcher,
    hashes: sigs.db.hashes,
    signatures: sigs.db.bodyCount + sigs.db.hashes.length,
    cached: sigs.cached,
    sigs,
    close: () => sigs.matcher.close(),
  };
}

/** One page-table walk: its root, its depth (undefined: detect from the tables), NX. */
interface Walk {
  cr3: bigint;
  la57?: boolean;
  ignoreNx: boolean;
}

/**
 * The walks `--qmp` asks for: every vCPU's CR3 (or the `--cr3` roots given), at the depth
 * CR4.LA57 says, honouring NX as EFER.NXE says. Refuses a VM whose vCPUs have no long-mode
 * paging, and a `--la57`/`--no-la57` that contradicts CR4.
 */
async function walksFromQmp(
  socket: string,
  cr3s: bigint[],
  opts: { la57?: boolean; ignoreNx: boolean; quiet?: boolean },
  run: RunRecorder,
): Promise<Walk[]> {
  const { QmpClient } = await import("../../lib/qemu/qmp.ts");
  const { readPaging } = await import("../../lib/virtav/cpu_paging.ts");
  const qmp = await QmpClient.connect(socket, { timeoutMs: 10_000 }).catch((e) => {
    throw new ToolError(`cannot attach to QMP at ${socket}: ${(e as Error).message}`);
  });
  let cpus;
  try {
    cpus = (await readPaging(qmp)).filter((c) => c.paging);
  } catch (e) {
    throw new ToolError(`QMP ${socket}: ${(e as Error).message}`);
  } finally {
    qmp.close();
  }
  if (cpus.length === 0) {
    throw new ToolError(`QMP ${socket}: no vCPU has long-mode paging on (CR0.PG and EFER.LMA)`);
  }
  const la57 = cpus[0].la57;
  if (cpus.some((c) => c.la57 !== la57)) {
    throw new ToolError(`QMP ${socket}: the vCPUs disagree on CR4.LA57`);
  }
  if (opts.la57 !== undefined && opts.la57 !== la57) {
    throw new UsageError(
      `--${opts.la57 ? "" : "no-"}la57: the vCPUs run ${la57 ? 5 : 4}-level paging ` +
        `(CR4.LA57=${la57 ? 1 : 0}, read over QMP)`,
    );
  }
  const ignoreNx = opts.ignoreNx || cpus.some((c) => !c.nxe);
  const roots = cr3s.length > 0 ? cr3s : [...new Set(cpus.map((c) => c.cr3))];
  for (const c of cpus) {
    run.event("vcpu_paging", { cpu: c.cpu, cr3: hexAddr(c.cr3), la57: c.la57, nxe: c.nxe });
  }
  if (!opts.quiet) {
    console.error(
      `virtav: QMP: ${cpus.length} vCPUs, ${la57 ? 5 : 4}-level paging, CR3 ` +
        cpus.map((c) => `${c.cpu}:${hexAddr(c.cr3)}`).join(" "),
    );
  }
  return roots.map((cr3) => ({ cr3, la57, ignoreNx }));
}

/** The paging depth of `cr3` told from the tables (no `--la57`/`--no-la57`, no `--qmp`). */
function detectedDepth(
  mem: GuestMemory,
  path: string,
  cr3: bigint,
  ignoreNx: boolean,
  quiet: boolean | undefined,
  run: RunRecorder,
): boolean {
  const g = detectPagingDepth(mem, cr3, { ignoreNx });
  run.event("paging_depth", { cr3: hexAddr(cr3), ...g });
  if (g.la57 === null) {
    throw new ToolError(
      `${path} cr3=${hexAddr(cr3)}: cannot tell 4- from 5-level paging from the tables: ` +
        `${g.why}; give --la57 or --no-la57, or --qmp SOCKET to read CR4`,
    );
  }
  if (!quiet) {
    console.error(
      `virtav: ${path} cr3=${hexAddr(cr3)}: ${g.la57 ? 5 : 4}-level paging, told from the ` +
        `tables (kernel text: ${g.kernelBytes5} bytes walked as 5-level, ${g.kernelBytes4} as 4-level)`,
    );
  }
  return g.la57;
}
