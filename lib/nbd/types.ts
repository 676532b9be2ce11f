/**
 * What the NBD server exports and how it reports.
 *
 * @module
 */
import type { BlockDevice } from "../block/block_device.ts";

/** One export: a name clients ask for and the device behind it. */
export interface NbdExport {
  /** The name clients select (`""` selects the first export too). */
  name: string;
  description?: string;
  device: BlockDevice;
  /** Export read-only even if the device is writable (like qemu-nbd --read-only). */
  readOnly?: boolean;
}

/** Where the server writes its log lines (bad input, connections). */
export type NbdLogger = (level: "info" | "warn", message: string) => void;

/** Counters the server keeps across connections. */
export interface NbdServerStats {
  connections: number;
  activeConnections: number;
  requests: number;
  /** Requests answered with an error. */
  errors: number;
  /** Connections dropped for a protocol violation or a vanished client. */
  dropped: number;
  /** Connections refused because the most allowed were open. */
  refused: number;
}
