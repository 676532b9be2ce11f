/** FFI symbols of the cache part of native/ (filled in by its issue). */
export const cacheSymbols = {} as const satisfies Deno.ForeignLibraryInterface;
