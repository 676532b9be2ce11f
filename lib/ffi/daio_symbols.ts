/** FFI symbols of the daio part of native/ (filled in by its issue). */
export const daioSymbols = {} as const satisfies Deno.ForeignLibraryInterface;
