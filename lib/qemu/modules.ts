/**
 * Kernel module load order from `modules.dep`: each target after everything it depends on,
 * each module once. Module names compare with `-` and `_` as the same character, as the
 * kernel does (`crc32c-generic` is `crc32c_generic`).
 *
 * @module
 */
import { GuestSetupError } from "./errors.ts";

/** A module's name from its path: `kernel/fs/ext4/ext4.ko.xz` -> `ext4`. */
export function moduleName(path: string): string {
  return path.split("/").at(-1)!.replace(/\.ko(\.(xz|zst|gz))?$/, "").replaceAll("-", "_");
}

/**
 * Parses modules.dep text (`path: dep dep ...` per line) into name -> { path, deps }.
 * Lines that are not `path:` lines are skipped.
 */
export function parseModulesDep(text: string): Map<string, { path: string; deps: string[] }> {
  const out = new Map<string, { path: string; deps: string[] }>();
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const path = line.slice(0, colon).trim();
    if (!/\.ko(\.(xz|zst|gz))?$/.test(path)) continue;
    const deps = line.slice(colon + 1).trim().split(/\s+/).filter((d) => d.length > 0);
    out.set(moduleName(path), { path, deps });
  }
  return out;
}

/**
 * The module files (paths relative to /lib/modules/VERSION) to load, in order, so that
 * `targets` and all their dependencies load. Throws naming a module modules.dep lacks (for
 * example one built into the kernel would be listed in modules.builtin instead: pass
 * `builtin` to skip those).
 *
 * @example
 * ```ts
 * import { resolveModules } from "./modules.ts";
 * resolveModules("a.ko: b.ko\nb.ko:\n", ["a"]); // ["b.ko", "a.ko"]
 * ```
 */
export function resolveModules(
  depText: string,
  targets: readonly string[],
  builtin: ReadonlySet<string> = new Set(),
): string[] {
  const table = parseModulesDep(depText);
  const order: string[] = [];
  const done = new Set<string>();
  const visiting = new Set<string>();
  const visit = (name: string, from: string | null) => {
    const n = name.replaceAll("-", "_");
    if (done.has(n) || builtin.has(n)) return;
    const entry = table.get(n);
    if (!entry) {
      throw new GuestSetupError(
        `module ${n}${from ? ` (needed by ${from})` : ""} is not in modules.dep`,
      );
    }
    if (visiting.has(n)) throw new GuestSetupError(`module dependency cycle at ${n}`);
    visiting.add(n);
    for (const d of entry.deps) visit(moduleName(d), n);
    visiting.delete(n);
    done.add(n);
    order.push(entry.path);
  };
  for (const t of targets) visit(t, null);
  return order;
}
