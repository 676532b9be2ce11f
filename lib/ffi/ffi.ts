/**
 * The only place hvkit calls `Deno.dlopen`. The shared library is built from native/*.c
 * (`make -C native`); its path can be overridden with `HVKIT_NATIVE_LIB`. The symbol table
 * is the union of one table per area (`*_symbols.ts`), each parameter commented with its C type.
 *
 * @module
 */
import { probeSymbols } from "./probe_symbols.ts";
import { daioSymbols } from "./daio_symbols.ts";
import { virtavSymbols } from "./virtav_symbols.ts";
import { virtavPrefilterSymbols } from "./virtav_prefilter_symbols.ts";
import { pviommuSymbols } from "./pviommu_symbols.ts";
import { cacheSymbols } from "./cache_symbols.ts";
import { nbdSymbols } from "./nbd_symbols.ts";
import { clockSymbols } from "./clock_symbols.ts";
import { traceSymbols } from "./trace_symbols.ts";

/** Every symbol of libhvkit.so, one table. */
export const symbols = {
  ...probeSymbols,
  ...daioSymbols,
  ...virtavSymbols,
  ...virtavPrefilterSymbols,
  ...pviommuSymbols,
  ...cacheSymbols,
  ...nbdSymbols,
  ...clockSymbols,
  ...traceSymbols,
} as const satisfies Deno.ForeignLibraryInterface;

/** The opened library's functions. */
export type Native = Deno.DynamicLibrary<typeof symbols>["symbols"];

let lib: Deno.DynamicLibrary<typeof symbols> | undefined;

/** Where libhvkit.so is looked for: `HVKIT_NATIVE_LIB`, else native/build/ in this checkout. */
export function libraryPath(): string {
  const fromEnv = Deno.env.get("HVKIT_NATIVE_LIB");
  if (fromEnv) return fromEnv;
  return new URL("../../native/build/libhvkit.so", import.meta.url).pathname;
}

/**
 * The native ABI this checkout speaks: `HV_ABI_VERSION` in native/hvkit.h, which the library
 * returns from `hv_abi_version()`. Bump both together whenever an exported function's
 * signature or a layout shared with TypeScript changes; a library built before the bump is
 * then refused at load instead of being called with the wrong arguments.
 */
export const ABI_VERSION = 3;

const MAKE_HINT =
  "run `make -C native` (or ./dev setup), or point HVKIT_NATIVE_LIB at a fresh build";

/**
 * Opens a library at `path` with hvkit's symbol table after checking its ABI version.
 * Throws one line naming the file and what to do when it is missing, stale or foreign.
 */
export function openLibrary(path: string): Deno.DynamicLibrary<typeof symbols> {
  let version: number;
  try {
    const probe = Deno.dlopen(path, { hv_abi_version: symbols.hv_abi_version });
    try {
      version = probe.symbols.hv_abi_version();
    } finally {
      probe.close();
    }
  } catch (cause) {
    throw new Error(
      `cannot load the native library ${path} (build it with ./dev setup, or set HVKIT_NATIVE_LIB): ${
        firstLine(cause)
      }`,
      { cause },
    );
  }
  if (version !== ABI_VERSION) {
    throw new Error(
      `the native library ${path} has ABI version ${version}, this checkout needs ${ABI_VERSION}: ${MAKE_HINT}`,
    );
  }
  try {
    return Deno.dlopen(path, symbols);
  } catch (cause) {
    throw new Error(
      `the native library ${path} lacks symbols this checkout uses (${
        firstLine(cause)
      }): ${MAKE_HINT}`,
      { cause },
    );
  }
}

/**
 * Opens a build of libhvkit.so with the simulator's symbols only (lib/ffi/cache_symbols.ts), so
 * that an earlier build (bench/sim --baseline) loads even when this checkout's other symbols are
 * newer than it. No ABI check: the caller compares like with like. Close it when done.
 */
export function openCacheLibrary(path: string): Deno.DynamicLibrary<typeof cacheSymbols> {
  try {
    return Deno.dlopen(path, cacheSymbols);
  } catch (cause) {
    throw new Error(`cannot load the simulator's symbols from ${path}: ${firstLine(cause)}`, {
      cause,
    });
  }
}

function firstLine(e: unknown): string {
  return ((e as Error).message ?? String(e)).split("\n")[0];
}

/**
 * Opens libhvkit.so once (checking its ABI version) and returns its symbols.
 *
 * @example
 * ```ts
 * import { native } from "./ffi.ts";
 * console.log(native().hv_abi_version());
 * ```
 */
export function native(): Native {
  lib ??= openLibrary(libraryPath());
  return lib.symbols;
}

/** Reads a NUL-terminated C string returned by the library (null stays empty). */
export function cString(ptr: Deno.PointerValue): string {
  return ptr === null ? "" : Deno.UnsafePointerView.getCString(ptr);
}
