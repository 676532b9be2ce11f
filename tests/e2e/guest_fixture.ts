/**
 * What the end-to-end tests that boot the test guest (lib/qemu) share: whether the guest can
 * boot on this machine (and a line saying why not), a temp folder removed afterwards, a guest
 * killed afterwards, and byte search in guest RAM.
 *
 * @module
 */
import {
  type GuestHandle,
  launchGuest,
  type LaunchOptions,
  QEMU_BINARY,
} from "../../lib/qemu/launch.ts";

/** True when `path` exists (anything stat can see). */
export function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** The kernels in /boot (`vmlinuz-VERSION` names); none when /boot cannot be read. */
export function bootKernels(): string[] {
  try {
    return [...Deno.readDirSync("/boot")].map((e) => e.name).filter((n) =>
      n.startsWith("vmlinuz-")
    );
  } catch {
    return [];
  }
}

/**
 * What the test guest needs that this machine lacks: QEMU, busybox, the `extra` paths a test
 * also needs, and a kernel in /boot. When anything is missing, logs one line for `test`
 * naming it all, so the skip says why.
 */
export function guestMissing(test: string, extra: readonly string[] = []): string[] {
  const missing = [QEMU_BINARY, "/bin/busybox", ...extra].filter((p) => !exists(p));
  if (bootKernels().length === 0) missing.push("/boot/vmlinuz-*");
  if (missing.length > 0) console.log(`${test}: skipping: missing ${missing.join(", ")}`);
  return missing;
}

/** Runs `fn` in a new temp folder, removed afterwards whatever happens. */
export async function withTempDir<T>(
  prefix: string,
  fn: (dir: string) => Promise<T>,
): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Boots the test guest, runs `fn` with it, and kills QEMU afterwards whatever happens. */
export async function withGuest<T>(
  opts: LaunchOptions,
  fn: (vm: GuestHandle) => Promise<T>,
): Promise<T> {
  const vm = await launchGuest(opts);
  try {
    return await fn(vm);
  } finally {
    await vm.kill();
  }
}

/** Offset of the first `needle` in `hay` at or after `from`, or -1. */
export function indexOfBytes(hay: Uint8Array, needle: Uint8Array, from = 0): number {
  let i = hay.indexOf(needle[0], from);
  while (i >= 0 && i <= hay.length - needle.length) {
    let j = 1;
    while (j < needle.length && hay[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
    i = hay.indexOf(needle[0], i + 1);
  }
  return -1;
}

/** Every offset of `needle` in `hay`, overlapping ones included. */
export function findAllBytes(hay: Uint8Array, needle: Uint8Array): number[] {
  const hits: number[] = [];
  for (let i = indexOfBytes(hay, needle); i >= 0; i = indexOfBytes(hay, needle, i + 1)) {
    hits.push(i);
  }
  return hits;
}
