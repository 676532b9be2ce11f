/**
 * The guest launcher: QEMU (KVM when it works here, else TCG) booting the test guest, its
 * disk from an NBD Unix socket or an image file, guest RAM optionally in a shared
 * `memory-backend-file` (so other processes can read it), a QMP socket, the serial console
 * captured to a file, a hard timeout, and cleanup that never leaves QEMU behind.
 *
 * @module
 */
import { type AccelChoice, type AccelRequest, kvmUsable, readVerdict } from "./accel.ts";
import { requestedAccel, writeVerdict } from "./accel.ts";
import { GuestFailedError, GuestSetupError, GuestTimeoutError } from "./errors.ts";
import { buildGuest, type GuestImage } from "./guest.ts";
import { type GuardedProcess, spawnGuarded } from "./guarded_process.ts";
import { QmpClient } from "./qmp.ts";
import { type GuestLine, parseSerial, serialTail } from "./serial.ts";

/** Where QEMU is looked for (`HVKIT_QEMU` overrides). */
export const QEMU_BINARY = "/usr/bin/qemu-system-x86_64";

/** What to boot and how. */
export interface LaunchOptions {
  /** The guest (default: `await buildGuest()`). */
  guest?: GuestImage;
  /** The disk: an NBD server's Unix socket (qemu-nbd, nbdkit, `qbic-cache serve`, ...). */
  nbdSocket?: string;
  /** NBD export name (default: the server's default export, ""). */
  nbdExport?: string;
  /** The disk: an image file instead of NBD. */
  diskImage?: string;
  /** Its format (default raw). */
  diskFormat?: "raw" | "qcow2";
  /** Extra virtio-blk-pci properties, e.g. `iommu_platform=on,disable-legacy=on`. */
  diskDeviceProps?: string;
  /** The workload: a name in fixtures/guest/workloads (`boot`, `fsync-small`, ...); `a+b` runs a then b. */
  workload: string;
  /** Its parameters (names: lower-case letters, digits, _; values: no spaces or commas). */
  workloadArgs?: Record<string, string | number | boolean>;
  /** Guest RAM in MiB (default 256). */
  memMiB?: number;
  /** vCPUs (default 1). */
  cpus?: number;
  /**
   * Put guest RAM in this file (memory-backend-file, share=on): readable from outside while
   * the guest runs. QEMU creates it; the caller removes it.
   */
  sharedMemPath?: string;
  /** QMP socket path (default: in a private temporary folder). */
  qmpSocket?: string;
  /** Serial log path (default: in the temporary folder; read it with `serialText()`). */
  serialLog?: string;
  /** Hard limit for the whole run; then QEMU is killed (default 120 000 ms). */
  timeoutMs?: number;
  /** `auto` (default; `HVKIT_ACCEL` overrides), `kvm` or `tcg`. */
  accel?: AccelRequest;
  /** Machine type (default q35). */
  machine?: string;
  /** More QEMU arguments, e.g. `["-device", "intel-iommu,intremap=off"]`. */
  extraQemuArgs?: string[];
  /** More kernel command-line words, e.g. `["intel_iommu=on"]`. */
  kernelArgs?: string[];
}

/** What a finished guest reported. */
export interface GuestOutcome {
  accel: "kvm" | "tcg";
  /** QEMU's exit code. */
  exitCode: number;
  /** The `HVKIT-BOOT` line's object, if the guest got that far. */
  boot: Record<string, unknown> | null;
  /** Every `HVKIT-RESULT` object, in order. */
  results: Record<string, unknown>[];
  /** Every `HVKIT-ERROR` object. */
  errors: Record<string, unknown>[];
  /** The `HVKIT-DONE` object (`status` 0 is success), or null if the guest never finished. */
  done: Record<string, unknown> | null;
  /** Wall time from launch to exit, ms. */
  ms: number;
}

/** A running guest. Always `kill()` it (or `await using`) in a finally block. */
export interface GuestHandle {
  /** The QMP connection (capabilities already negotiated). */
  readonly qmp: QmpClient;
  readonly qmpSocket: string;
  readonly serialLog: string;
  /** QEMU's pid. */
  readonly pid: number;
  readonly accel: AccelChoice;
  /** The full QEMU command line (for logs and reports). */
  readonly argv: string[];
  /** The serial console text so far. */
  serialText(): Promise<string>;
  /** The `HVKIT-RESULT` objects printed so far. */
  results(): Promise<Record<string, unknown>[]>;
  /**
   * Waits for a guest line matching `pred` (default: the next `HVKIT-RESULT`), failing if
   * QEMU exits or `timeoutMs` passes first.
   */
  waitForLine(pred?: (l: GuestLine) => boolean, timeoutMs?: number): Promise<GuestLine>;
  /**
   * Waits for QEMU to exit. Throws {@linkcode GuestTimeoutError} if it was killed by the
   * timeout, {@linkcode GuestFailedError} if the guest did not finish with status 0 (unless
   * `check: false`). Cleans up either way.
   */
  wait(opts?: { check?: boolean }): Promise<GuestOutcome>;
  /** Kills QEMU (SIGKILL) and cleans up. Safe to call at any time, more than once. */
  kill(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Boots the guest and returns once QMP is connected.
 *
 * @example
 * ```ts
 * import { launchGuest } from "./launch.ts";
 * const vm = await launchGuest({ nbdSocket: "/tmp/disk.sock", workload: "fsync-small",
 *   workloadArgs: { files: 100 } });
 * try {
 *   const out = await vm.wait();
 *   console.log(out.results[0]); // { workload: "fsync-small", files: 100, ms: ..., ok: true }
 * } finally {
 *   await vm.kill();
 * }
 * ```
 */
export async function launchGuest(opts: LaunchOptions): Promise<GuestHandle> {
  const qemu = Deno.env.get("HVKIT_QEMU") ?? QEMU_BINARY;
  try {
    Deno.statSync(qemu);
  } catch {
    throw new GuestSetupError(`${qemu} not found: install the Debian package qemu-system-x86`);
  }
  if (opts.nbdSocket && opts.diskImage) {
    throw new Error("launchGuest: give nbdSocket or diskImage, not both");
  }
  const guest = opts.guest ?? await buildGuest();
  for (const w of opts.workload.split("+")) {
    if (!guest.workloads.includes(w)) {
      throw new Error(
        `unknown workload ${JSON.stringify(w)} (have: ${guest.workloads.join(", ")})`,
      );
    }
  }
  const accel = await chooseAccel(guest, qemu, requestedAccel(opts.accel));
  return await start(qemu, guest, accel, opts);
}

/**
 * Decides KVM or TCG for this guest build (see accel.ts): forced by option or
 * `HVKIT_ACCEL`, else KVM only if the probe passes and a diskless boot under KVM reaches
 * the guest's init (remembered per build).
 */
export async function chooseAccel(
  guest: GuestImage,
  qemu = Deno.env.get("HVKIT_QEMU") ?? QEMU_BINARY,
  req: AccelRequest = requestedAccel(),
): Promise<AccelChoice> {
  if (req === "tcg") return { accel: "tcg", reason: "forced (tcg)" };
  const kvm = await kvmUsable();
  if (req === "kvm") {
    if (!kvm.ok) throw new GuestSetupError(`KVM requested but not usable: ${kvm.detail}`);
    return { accel: "kvm", reason: "forced (kvm)" };
  }
  if (!kvm.ok) return { accel: "tcg", reason: `no KVM: ${kvm.detail}` };
  const known = readVerdict(guest.kernel);
  if (known) {
    return known.boots ? { accel: "kvm", reason: "KVM usable; this guest boots under it" } : {
      accel: "tcg",
      reason: `KVM usable but the guest does not boot under it: ${known.detail}`,
    };
  }
  // the trial: a diskless boot with a short deadline (a working KVM boots in ~1-2 s)
  const trial = await start(qemu, guest, { accel: "kvm", reason: "trial" }, {
    workload: "boot",
    timeoutMs: 20_000,
  });
  let boots = false;
  let detail = "";
  try {
    await trial.waitForLine((l) => l.kind === "BOOT", 15_000);
    boots = true;
    detail = "reached init";
  } catch {
    const tail = serialTail(await trial.serialText(), 1);
    detail = `no HVKIT-BOOT line within 15 s under KVM (last serial line: ${tail || "none"})`;
  } finally {
    await trial.kill();
  }
  writeVerdict(guest.kernel, boots, detail);
  return boots
    ? { accel: "kvm", reason: "KVM usable; this guest boots under it" }
    : { accel: "tcg", reason: `KVM usable but the guest does not boot under it: ${detail}` };
}

/** The kernel command line for a launch. */
export function kernelCommandLine(opts: LaunchOptions, hasDisk: boolean): string {
  const args = Object.entries(opts.workloadArgs ?? {}).map(([k, v]) => {
    if (!/^[a-z0-9_]+$/.test(k)) throw new Error(`workload parameter name: ${JSON.stringify(k)}`);
    const s = String(v);
    if (!/^[A-Za-z0-9_.:/+-]*$/.test(s)) {
      throw new Error(`workload parameter ${k}: value ${JSON.stringify(s)} has a space or comma`);
    }
    return `${k}=${s}`;
  });
  const words = [
    "console=ttyS0",
    "panic=-1",
    "quiet",
    "loglevel=3",
    `hvkit_workload=${opts.workload}`,
    `hvkit_disk=${hasDisk ? "vda" : "none"}`,
  ];
  if (args.length > 0) words.push(`hvkit_args=${args.join(",")}`);
  return [...words, ...(opts.kernelArgs ?? [])].join(" ");
}

/** The files of one launch: a private temporary folder and the paths QEMU writes. */
interface LaunchFiles {
  tmp: string;
  qmpSocket: string;
  serialLog: string;
  stderrLog: string;
}

/** The QEMU arguments of a launch (everything after the binary's name). */
export function qemuArgs(
  guest: GuestImage,
  accel: AccelChoice,
  opts: LaunchOptions,
  files: { qmpSocket: string; serialLog: string },
): string[] {
  const memMiB = opts.memMiB ?? 256;
  const hasDisk = Boolean(opts.nbdSocket || opts.diskImage);
  const machine = [opts.machine ?? "q35"];
  const argv: string[] = [];
  if (opts.sharedMemPath) {
    argv.push(
      "-object",
      `memory-backend-file,id=hvkit-mem,size=${memMiB}M,mem-path=${opts.sharedMemPath},share=on`,
    );
    machine.push("memory-backend=hvkit-mem");
  }
  argv.push(
    "-machine",
    machine.join(","),
    "-accel",
    accel.accel,
    "-cpu",
    accel.accel === "kvm" ? "host" : "max",
    "-smp",
    String(opts.cpus ?? 1),
    "-m",
    `${memMiB}M`,
    "-nodefaults",
    "-no-user-config",
    "-display",
    "none",
    "-no-reboot",
    "-chardev",
    `file,id=hvkit-serial,path=${files.serialLog}`,
    "-serial",
    "chardev:hvkit-serial",
    "-qmp",
    `unix:${files.qmpSocket},server=on,wait=off`,
    "-kernel",
    guest.kernel,
    "-initrd",
    guest.initramfs,
    "-append",
    kernelCommandLine(opts, hasDisk),
  );
  if (hasDisk) argv.push(...diskArgs(opts));
  argv.push(...(opts.extraQemuArgs ?? []));
  return argv;
}

/** `-blockdev` and `-device` for the disk: an NBD Unix socket or an image file. */
function diskArgs(opts: LaunchOptions): string[] {
  const file = opts.nbdSocket
    ? {
      driver: "nbd",
      server: { type: "unix", path: opts.nbdSocket },
      ...(opts.nbdExport !== undefined ? { export: opts.nbdExport } : {}),
    }
    : { driver: "file", filename: opts.diskImage };
  return [
    "-blockdev",
    JSON.stringify({
      driver: opts.diskFormat ?? "raw",
      "node-name": "hvkit-disk0",
      cache: { direct: false, "no-flush": false },
      file,
    }),
    "-device",
    ["virtio-blk-pci", "drive=hvkit-disk0", "id=hvkit-vda", opts.diskDeviceProps]
      .filter(Boolean).join(","),
  ];
}

/** Starts QEMU and connects QMP; a failure at either step leaves nothing behind. */
async function start(
  qemu: string,
  guest: GuestImage,
  accel: AccelChoice,
  opts: LaunchOptions,
): Promise<GuestHandle> {
  const tmp = await Deno.makeTempDir({ prefix: "hvkit-guest-" });
  const files: LaunchFiles = {
    tmp,
    qmpSocket: opts.qmpSocket ?? `${tmp}/qmp.sock`,
    serialLog: opts.serialLog ?? `${tmp}/serial.log`,
    stderrLog: `${tmp}/qemu.stderr`,
  };
  const timeoutMs = opts.timeoutMs ?? 120_000;
  await Deno.writeTextFile(files.serialLog, "");
  const argv = qemuArgs(guest, accel, opts, files);
  const t0 = performance.now();
  let proc: GuardedProcess;
  try {
    proc = await spawnGuarded(qemu, argv, {
      timeoutMs: timeoutMs + 5000,
      stderrPath: files.stderrLog,
    });
  } catch (e) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw e;
  }
  const vm = new RunningGuest(proc, files, accel, [qemu, ...argv], opts.workload, timeoutMs, t0);
  await vm.connect();
  return vm;
}

/** A started QEMU: its timeout, its serial console, and the cleanup that runs once. */
class RunningGuest implements GuestHandle {
  readonly qmpSocket: string;
  readonly serialLog: string;
  readonly pid: number;
  #qmp: QmpClient | null = null;
  #timedOut = false;
  #timer: ReturnType<typeof setTimeout>;
  #finalSerial: string | null = null;
  #finalStderr = "";
  #cleaned: Promise<void> | null = null;

  constructor(
    private readonly proc: GuardedProcess,
    private readonly files: LaunchFiles,
    readonly accel: AccelChoice,
    readonly argv: string[],
    private readonly workload: string,
    private readonly timeoutMs: number,
    private readonly t0: number,
  ) {
    this.qmpSocket = files.qmpSocket;
    this.serialLog = files.serialLog;
    this.pid = proc.pid;
    this.#timer = setTimeout(() => {
      this.#timedOut = true;
      proc.kill().catch(() => {});
    }, timeoutMs);
    proc.status.finally(() => clearTimeout(this.#timer));
  }

  get qmp(): QmpClient {
    if (this.#qmp === null) throw new Error("the guest's QMP is not connected");
    return this.#qmp;
  }

  /** Connects QMP, or cleans up and throws when QEMU exits first. */
  async connect(): Promise<void> {
    try {
      this.#qmp = await Promise.race([
        QmpClient.connect(this.qmpSocket, { timeoutMs: 15_000 }),
        this.proc.status.then(() => null),
      ]);
      if (this.#qmp === null) {
        const err = await this.#readStderr();
        await this.#cleanup();
        throw new GuestFailedError(
          `QEMU exited at start: ${err.split("\n")[0] || "(no message)"}`,
          serialTail(this.#finalSerial ?? ""),
        );
      }
    } catch (e) {
      await this.#cleanup();
      throw e;
    }
  }

  async serialText(): Promise<string> {
    return this.#finalSerial ?? await Deno.readTextFile(this.serialLog).catch(() => "");
  }

  async results(): Promise<Record<string, unknown>[]> {
    return parseSerial(await this.serialText()).filter((l) => l.kind === "RESULT").map((l) =>
      l.data
    );
  }

  async waitForLine(
    pred: (l: GuestLine) => boolean = (l) => l.kind === "RESULT",
    waitMs = this.timeoutMs,
  ): Promise<GuestLine> {
    const deadline = performance.now() + waitMs;
    while (true) {
      const hit = parseSerial(await this.serialText()).find(pred);
      if (hit) return hit;
      if (this.proc.exited) {
        throw new GuestFailedError(
          this.#timedOut ? "guest killed by the timeout" : "QEMU exited before the line appeared",
          serialTail(await this.serialText()),
        );
      }
      if (performance.now() > deadline) {
        throw new GuestTimeoutError(
          `no matching guest line in ${waitMs} ms`,
          serialTail(await this.serialText()),
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async wait(w: { check?: boolean } = {}): Promise<GuestOutcome> {
    await this.proc.status;
    const out = await this.#outcome();
    await this.#cleanup();
    const tail = serialTail(this.#finalSerial ?? "");
    if (this.#timedOut) {
      throw new GuestTimeoutError(
        `guest (${this.workload}, ${this.accel.accel}) did not finish in ${this.timeoutMs} ms: ` +
          "killed",
        tail,
      );
    }
    if (w.check ?? true) this.#checkFinished(out, tail);
    return out;
  }

  async kill(): Promise<void> {
    await this.#cleanup();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#cleanup();
  }

  /** Throws unless the guest printed HVKIT-DONE with status 0. */
  #checkFinished(out: GuestOutcome, tail: string): void {
    if (out.done === null) {
      const err = this.#finalStderr.split("\n")[0];
      throw new GuestFailedError(
        `QEMU exited (code ${out.exitCode}) before the guest finished` + (err ? `: ${err}` : ""),
        tail,
      );
    }
    if (out.done.status !== 0) {
      const why = out.errors.map((e) => JSON.stringify(e)).join("; ");
      throw new GuestFailedError(
        `workload ${this.workload} failed (status ${out.done.status})${why ? `: ${why}` : ""}`,
        tail,
      );
    }
  }

  async #outcome(): Promise<GuestOutcome> {
    const st = await this.proc.status;
    const ms = performance.now() - this.t0;
    const lines = parseSerial(await this.serialText());
    return {
      accel: this.accel.accel,
      exitCode: st.code,
      boot: lines.find((l) => l.kind === "BOOT")?.data ?? null,
      results: lines.filter((l) => l.kind === "RESULT").map((l) => l.data),
      errors: lines.filter((l) => l.kind === "ERROR").map((l) => l.data),
      done: lines.find((l) => l.kind === "DONE")?.data ?? null,
      ms,
    };
  }

  async #readStderr(): Promise<string> {
    return this.#finalStderr ||
      await Deno.readTextFile(this.files.stderrLog).catch(() => "").then((s) => s.trim());
  }

  /** Kills QEMU, keeps the final serial and stderr text, removes the temporary folder. */
  #cleanup(): Promise<void> {
    this.#cleaned ??= (async () => {
      await this.proc.kill();
      clearTimeout(this.#timer);
      this.#qmp?.close();
      this.#finalSerial = await Deno.readTextFile(this.serialLog).catch(() => "");
      this.#finalStderr = await this.#readStderr();
      await Deno.remove(this.files.tmp, { recursive: true }).catch(() => {});
    })();
    return this.#cleaned;
  }
}
