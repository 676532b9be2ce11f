/** FFI symbols of the virtav part of native/ (filled in by its issue). */
export const virtavSymbols = {} as const satisfies Deno.ForeignLibraryInterface;
