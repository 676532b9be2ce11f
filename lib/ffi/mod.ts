/**
 * The native layer: libhvkit.so's symbols, errno errors and the capability probe.
 *
 * @module
 */
export * from "./ffi.ts";
export * from "./errno.ts";
export * from "./probe.ts";
export * from "./clock.ts";
