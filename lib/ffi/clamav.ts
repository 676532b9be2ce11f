/**
 * libclamav opened through Deno's FFI (the second library lib/ffi opens, lazily: only
 * `virtav scan --engine clamav` and its tests load it). The path is `libclamav.so.12` (the
 * Debian `libclamav12` that clamscan 1.4 uses) unless `HVKIT_CLAMAV_LIB` names another.
 *
 * @module
 */
import { clamavSymbols } from "./clamav_symbols.ts";
import { cString } from "./ffi.ts";

/** The opened libclamav's functions. */
export type Clamav = Deno.DynamicLibrary<typeof clamavSymbols>["symbols"];

let lib: Deno.DynamicLibrary<typeof clamavSymbols> | undefined;

/** Where libclamav is looked for: `HVKIT_CLAMAV_LIB`, else the dynamic linker's `libclamav.so.12`. */
export function clamavLibraryPath(): string {
  return Deno.env.get("HVKIT_CLAMAV_LIB") || "libclamav.so.12";
}

/**
 * Opens libclamav once, runs `cl_init`, and returns its symbols.
 *
 * @example
 * ```ts
 * import { clamav, clamavVersion } from "./clamav.ts";
 * clamav();
 * console.log(clamavVersion()); // "1.4.6"
 * ```
 */
export function clamav(): Clamav {
  if (!lib) {
    const path = clamavLibraryPath();
    let opened: Deno.DynamicLibrary<typeof clamavSymbols>;
    try {
      opened = Deno.dlopen(path, clamavSymbols);
    } catch (cause) {
      throw new Error(
        `cannot load libclamav (${path}; Debian package libclamav12, or set HVKIT_CLAMAV_LIB): ${
          (cause as Error).message
        }`,
        { cause },
      );
    }
    const rc = opened.symbols.cl_init(0 /* CL_INIT_DEFAULT */);
    if (rc !== 0) {
      const text = cString(opened.symbols.cl_strerror(rc));
      opened.close();
      throw new Error(`libclamav: cl_init failed: ${text}`);
    }
    lib = opened;
  }
  return lib.symbols;
}

/** libclamav's version string (`cl_retver`). */
export function clamavVersion(): string {
  return cString(clamav().cl_retver());
}

/** libclamav's text for a `cl_error_t`. */
export function clamavError(code: number): string {
  return cString(clamav().cl_strerror(code));
}
