/**
 * Looking at the first bytes of a stream without losing them (format and compression
 * detection).
 *
 * @module
 */

/**
 * Peeks at least `need` first bytes of a stream (fewer at its end); returns them and a stream
 * that still yields everything. A live pipe is held only until `need` bytes came.
 */
export async function peek(
  stream: ReadableStream<Uint8Array>,
  need = 512,
): Promise<{ head: Uint8Array; stream: ReadableStream<Uint8Array> }> {
  const reader = stream.getReader();
  const parts: Uint8Array[] = [];
  let total = 0, done = false;
  while (total < need && !done) {
    const r = await reader.read();
    if (r.done) done = true;
    else if (r.value.length) {
      parts.push(r.value);
      total += r.value.length;
    }
  }
  const head = new Uint8Array(total);
  let o = 0;
  for (const p of parts) head.set(p, o), o += p.length;
  const rest = new ReadableStream<Uint8Array>({
    start(ctl) {
      for (const p of parts) ctl.enqueue(p);
      if (done) ctl.close();
    },
    async pull(ctl) {
      const r = await reader.read();
      if (r.done) ctl.close();
      else ctl.enqueue(r.value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
  return { head, stream: rest };
}
