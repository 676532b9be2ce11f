/**
 * The read loop of the fixed-size-record readers (hvkit's binary form, libCacheSim's
 * oracleGeneral): each chunk read from the stream goes into one {@linkcode ByteQueue}, which the
 * reader is handed to take whole records off the front; what is left (part of a record) waits
 * for the next chunk without the pending bytes being copied again with each one.
 *
 * @module
 */
import { ByteQueue } from "../bytes/byte_queue.ts";

/**
 * Yields the queue after each chunk is appended; `done` is true once the stream has ended (the
 * queue then holds what was never taken). The queue's `peek()` view is valid until the reader
 * asks for the next step.
 *
 * @example
 * ```ts
 * import { queuedReads } from "./queued_reads.ts";
 * const stream = new Blob([new Uint8Array(50)]).stream();
 * for await (const { queue, done } of queuedReads(stream)) {
 *   queue.skip(queue.length - (queue.length % 24)); // take whole 24-byte records
 *   if (done) console.log(queue.length); // 2 bytes left over
 * }
 * ```
 */
export async function* queuedReads(
  stream: ReadableStream<Uint8Array>,
): AsyncGenerator<{ queue: ByteQueue; done: boolean }> {
  const queue = new ByteQueue(1 << 20);
  const reader = stream.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (value) queue.push(value);
      yield { queue, done };
      if (done) return;
    }
  } finally {
    reader.releaseLock();
  }
}
