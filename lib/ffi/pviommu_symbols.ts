/** FFI symbols of the pviommu part of native/ (filled in by its issue). */
export const pviommuSymbols = {} as const satisfies Deno.ForeignLibraryInterface;
