/**
 * The NBD server: exports any BlockDevice (proto.md, fixed newstyle).
 *
 * @module
 */
export * from "./server.ts";
export * from "./types.ts";
export { transmissionFlags } from "./handshake.ts";
