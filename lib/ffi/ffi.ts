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
 * Opens libhvkit.so once and returns its symbols.
 *
 * @example
 * ```ts
 * import { native } from "./ffi.ts";
 * console.log(native().hv_abi_version());
 * ```
 */
export function native(): Native {
  if (!lib) {
    const path = libraryPath();
    try {
      lib = Deno.dlopen(path, symbols);
    } catch (cause) {
      throw new Error(
        `cannot load the native library ${path} (build it with ./dev setup, or set HVKIT_NATIVE_LIB): ${
          (cause as Error).message
        }`,
        { cause },
      );
    }
  }
  return lib.symbols;
}

/** Reads a NUL-terminated C string returned by the library (null stays empty). */
export function cString(ptr: Deno.PointerValue): string {
  return ptr === null ? "" : Deno.UnsafePointerView.getCString(ptr);
}
