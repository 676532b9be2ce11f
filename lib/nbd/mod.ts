/**
 * The NBD server: exports any BlockDevice (proto.md, fixed newstyle).
 *
 * @module
 */
export * from "./server.ts";
export * from "./types.ts";
export { transmissionFlags } from "./handshake.ts";
export { CONNECTION_RESERVE, DEFAULT_LIMITS, type NbdLimits, REPLY_CHARGE } from "./budget.ts";
