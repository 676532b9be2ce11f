/**
 * The test guest builder: Debian's kernel (`linux-image-amd64`) and a gzip'd cpio initramfs
 * holding `busybox-static`, the kernel modules for virtio block and ext4 (resolved in
 * dependency order from modules.dep), the init script and workloads from fixtures/guest/,
 * and the exec-marker program. Cached under `.cache/guest/<content hash>/`, rebuilt when
 * any input changes.
 *
 * @module
 */
import { GuestSetupError } from "./errors.ts";
import { buildMarkerElf, EXEC_MARKER_HEX } from "./marker_elf.ts";
import { resolveModules } from "./modules.ts";

/** The modules the guest loads: the dependency resolver adds what these need. */
export const GUEST_MODULES: readonly string[] = [
  // modules.dep does not tie virtio_blk to a transport: virtio_pci (and its
  // virtio_pci_{modern,legacy}_dev helpers) must be asked for, or /dev/vda never appears.
  "virtio_pci",
  "virtio_blk",
  // ext4 asks the crypto API for "crc32c" at mount time (no modules.dep edge);
  // crc32c-intel may refuse under TCG, the generic one always works.
  "crc32c_generic",
  "ext4",
];

/** A built guest: what `launchGuest` boots. */
export interface GuestImage {
  /** The kernel (a copy of /boot/vmlinuz-VERSION in the cache folder). */
  kernel: string;
  /** The initramfs (cpio, gzip). */
  initramfs: string;
  /** The kernel version, e.g. `6.1.0-56-amd64`. */
  kernelVersion: string;
  /** Content hash of every input (hex SHA-256, first 16 characters): the cache key. */
  hash: string;
  /** The modules in load order (file names under /lib/modules in the initramfs). */
  modules: string[];
  /** The workloads this guest can run (names). */
  workloads: string[];
  /** The bytes of the exec-marker program's code marker, as hex. */
  execMarkerHex: string;
  /** True when this call built it; false when it came from the cache. */
  built: boolean;
}

/** Options for {@linkcode buildGuest}. */
export interface BuildGuestOptions {
  /** Kernel version (default: `HVKIT_GUEST_KERNEL`, else the newest /boot/vmlinuz-*). */
  kernelVersion?: string;
  /** Cache root (default: `HVKIT_GUEST_CACHE`, else `<repo>/.cache/guest`). */
  cacheDir?: string;
  /** Where /boot and /lib/modules are (default `/`; for tests). */
  root?: string;
  /** busybox binary (default `/bin/busybox`; must be static). */
  busybox?: string;
}

const REPO = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
const FIXTURES = `${REPO}/fixtures/guest`;
/** Bump when the layout of the initramfs changes in a way the inputs do not show. */
const BUILDER_VERSION = "hvkit-guest-1";

/**
 * Builds the guest (or returns the cached one): kernel path + initramfs path.
 *
 * @example
 * ```ts
 * import { buildGuest } from "./guest.ts";
 * const g = await buildGuest();
 * console.log(g.kernel, g.initramfs, g.workloads);
 * ```
 */
export async function buildGuest(opts: BuildGuestOptions = {}): Promise<GuestImage> {
  const root = (opts.root ?? "/").replace(/\/$/, "");
  const version = opts.kernelVersion ?? Deno.env.get("HVKIT_GUEST_KERNEL") ??
    newestKernel(root);
  const kernelSrc = `${root}/boot/vmlinuz-${version}`;
  const modDir = `${root}/lib/modules/${version}`;
  const busybox = opts.busybox ?? "/bin/busybox";
  await checkHostInputs(kernelSrc, modDir, version, busybox);
  const depText = await Deno.readTextFile(`${modDir}/modules.dep`);
  const order = resolveModules(depText, GUEST_MODULES);
  const workloads = listWorkloads();

  const marker = buildMarkerElf();
  const hash = await guestHash({ kernelSrc, busybox, marker, workloads, modDir, order });

  const cacheRoot = opts.cacheDir ?? Deno.env.get("HVKIT_GUEST_CACHE") ?? `${REPO}/.cache/guest`;
  const dir = `${cacheRoot}/${hash}`;
  const modules = order.map(koName);
  const image = (built: boolean): GuestImage => ({
    kernel: `${dir}/vmlinuz`,
    initramfs: `${dir}/initramfs.cpio.gz`,
    kernelVersion: version,
    hash,
    modules,
    workloads,
    execMarkerHex: EXEC_MARKER_HEX,
    built,
  });
  if (exists(`${dir}/initramfs.cpio.gz`) && exists(`${dir}/vmlinuz`)) return image(false);

  await Deno.mkdir(cacheRoot, { recursive: true });
  const tmp = await Deno.makeTempDir({ dir: cacheRoot, prefix: `.build-${hash}-` });
  try {
    const stage = `${tmp}/root`;
    await stageRoot(stage, { busybox, marker, workloads, modDir, order, modules });
    await Deno.writeTextFile(
      `${stage}/etc/hvkit-guest.json`,
      JSON.stringify({ hash, kernelVersion: version, modules, workloads }) + "\n",
    );
    await makeCpioGz(stage, `${tmp}/initramfs.cpio.gz`);
    await Deno.chmod(tmp, 0o755);
    await Deno.copyFile(kernelSrc, `${tmp}/vmlinuz`);
    await Deno.remove(stage, { recursive: true });
    try {
      await Deno.rename(tmp, dir);
    } catch (e) {
      // another process built the same hash first: use theirs
      if (!exists(`${dir}/initramfs.cpio.gz`)) throw e;
      await Deno.remove(tmp, { recursive: true });
    }
  } catch (e) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw e;
  }
  return image(true);
}

/** The host's kernel, its modules and a static busybox: each missing one names its package. */
async function checkHostInputs(
  kernelSrc: string,
  modDir: string,
  version: string,
  busybox: string,
): Promise<void> {
  if (!exists(kernelSrc)) {
    throw new GuestSetupError(
      `no kernel at ${kernelSrc}: install the Debian package linux-image-amd64`,
    );
  }
  if (!exists(`${modDir}/modules.dep`)) {
    throw new GuestSetupError(
      `no ${modDir}/modules.dep: install linux-image-${version} (linux-image-amd64) with its modules`,
    );
  }
  if (!exists(busybox)) {
    throw new GuestSetupError(`no ${busybox}: install the Debian package busybox-static`);
  }
  await checkStatic(busybox);
}

/** What goes into the initramfs besides its generated files. */
interface GuestParts {
  busybox: string;
  marker: Uint8Array;
  workloads: string[];
  modDir: string;
  /** Module paths under modDir, in load order. */
  order: string[];
}

/** The cache key: a hash of every input's bytes (and the builder's version). */
async function guestHash(parts: GuestParts & { kernelSrc: string }): Promise<string> {
  const inputs: [string, Uint8Array][] = [
    ["builder", new TextEncoder().encode(BUILDER_VERSION)],
    ["kernel", await Deno.readFile(parts.kernelSrc)],
    ["busybox", await Deno.readFile(parts.busybox)],
    ["init", await Deno.readFile(`${FIXTURES}/init`)],
    ["marker", parts.marker],
  ];
  for (const w of parts.workloads) {
    inputs.push([`w:${w}`, await Deno.readFile(`${FIXTURES}/workloads/${w}.sh`)]);
  }
  for (const m of parts.order) inputs.push([`m:${m}`, await Deno.readFile(`${parts.modDir}/${m}`)]);
  return await hashInputs(inputs);
}

/** Lays out the initramfs root: busybox, init, workloads, the marker program, the modules. */
async function stageRoot(
  stage: string,
  parts: GuestParts & { modules: string[] },
): Promise<void> {
  for (const d of ["bin", "sbin", "etc", "dev", "proc", "sys", "tmp", "mnt", "lib/modules"]) {
    await Deno.mkdir(`${stage}/${d}`, { recursive: true });
  }
  await Deno.copyFile(parts.busybox, `${stage}/bin/busybox`);
  await Deno.chmod(`${stage}/bin/busybox`, 0o755);
  await Deno.copyFile(`${FIXTURES}/init`, `${stage}/init`);
  await Deno.chmod(`${stage}/init`, 0o755);
  await Deno.mkdir(`${stage}/workloads`);
  for (const w of parts.workloads) {
    await Deno.copyFile(`${FIXTURES}/workloads/${w}.sh`, `${stage}/workloads/${w}.sh`);
  }
  await Deno.writeFile(`${stage}/bin/hvkit-marker`, parts.marker, { mode: 0o755 });
  await Deno.chmod(`${stage}/bin/hvkit-marker`, 0o755);
  await Deno.writeTextFile(`${stage}/etc/hvkit-marker.hex`, EXEC_MARKER_HEX + "\n");
  for (const m of parts.order) {
    await copyModule(`${parts.modDir}/${m}`, `${stage}/lib/modules/${koName(m)}`);
  }
  await Deno.writeTextFile(`${stage}/lib/modules/load.order`, parts.modules.join("\n") + "\n");
}

/** The workloads in fixtures/guest/workloads (names without `.sh`), sorted. */
export function listWorkloads(): string[] {
  const names: string[] = [];
  for (const e of Deno.readDirSync(`${FIXTURES}/workloads`)) {
    if (e.isFile && e.name.endsWith(".sh")) names.push(e.name.slice(0, -3));
  }
  return names.sort();
}

function newestKernel(root: string): string {
  let versions: string[] = [];
  try {
    versions = [...Deno.readDirSync(`${root}/boot`)]
      .filter((e) => e.name.startsWith("vmlinuz-"))
      .map((e) => e.name.slice("vmlinuz-".length));
  } catch {
    // no /boot
  }
  if (versions.length === 0) {
    throw new GuestSetupError(
      `no kernel in ${root}/boot (vmlinuz-*): install the Debian package linux-image-amd64`,
    );
  }
  return versions.sort(compareVersions).at(-1)!;
}

function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/);
  const pb = b.split(/[.-]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? "";
    const y = pb[i] ?? "";
    const nx = Number(x);
    const ny = Number(y);
    const c = Number.isFinite(nx) && Number.isFinite(ny) ? nx - ny : x.localeCompare(y);
    if (c !== 0) return c;
  }
  return 0;
}

/** `kernel/fs/ext4/ext4.ko.xz` -> `ext4.ko` (the initramfs holds them uncompressed). */
function koName(path: string): string {
  return path.split("/").at(-1)!.replace(/\.ko(\.(xz|zst|gz))?$/, ".ko");
}

async function copyModule(src: string, dst: string): Promise<void> {
  const m = src.match(/\.ko\.(xz|zst|gz)$/);
  if (!m) {
    await Deno.copyFile(src, dst);
    return;
  }
  const tool = { xz: ["xz", "-dc"], zst: ["zstd", "-dc"], gz: ["gzip", "-dc"] }[m[1]]!;
  const pkg = { xz: "xz-utils", zst: "zstd", gz: "gzip" }[m[1]]!;
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(tool[0], { args: [tool[1], src], stdout: "piped" }).output();
  } catch {
    throw new GuestSetupError(`cannot decompress ${src}: ${tool[0]} missing (install ${pkg})`);
  }
  if (!out.success) throw new GuestSetupError(`${tool[0]} failed on ${src}`);
  await Deno.writeFile(dst, out.stdout);
}

async function makeCpioGz(stage: string, out: string): Promise<void> {
  // `find . | cpio -o -H newc | gzip`, with a fixed file order
  const script = `cd "$1" && find . -mindepth 1 | LC_ALL=C sort | ` +
    `cpio --quiet -o -H newc -R 0:0 | gzip -n -6 > "$2"`;
  let res: Deno.CommandOutput;
  try {
    res = await new Deno.Command("/bin/bash", {
      args: ["-c", `set -o pipefail; ${script}`, "mkcpio", stage, out],
      stderr: "piped",
    }).output();
  } catch (e) {
    throw new GuestSetupError(`cannot run /bin/bash: ${(e as Error).message}`);
  }
  if (!res.success) {
    const err = new TextDecoder().decode(res.stderr).trim();
    const hint = /cpio: (not found|No such)/.test(err) ? " (install the Debian package cpio)" : "";
    throw new GuestSetupError(`building the initramfs failed: ${err}${hint}`);
  }
}

async function checkStatic(path: string): Promise<void> {
  // a dynamic busybox would need its libc in the initramfs: refuse it clearly
  const f = await Deno.open(path);
  try {
    const head = new Uint8Array(4096);
    const n = (await f.read(head)) ?? 0;
    const text = new TextDecoder("latin1").decode(head.subarray(0, n));
    if (text.includes("/lib64/ld-linux") || text.includes("/lib/ld-linux")) {
      throw new GuestSetupError(
        `${path} is dynamically linked: install the Debian package busybox-static`,
      );
    }
  } finally {
    f.close();
  }
}

async function hashInputs(inputs: [string, Uint8Array][]): Promise<string> {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  for (const [name, bytes] of inputs) {
    const h = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as BufferSource));
    parts.push(enc.encode(`${name}\0${bytes.length}\0`), h);
  }
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    all.set(p, off);
    off += p.length;
  }
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return [...d.subarray(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}
