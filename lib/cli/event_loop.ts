/**
 * Turns of the event loop for long synchronous work in JavaScript: signal listeners (and any
 * other callback) run only when the loop gets a turn, and microtasks (`await` on a settled
 * promise, async generators) do not give it one. A loop calls `Breather.maybe()` often; every
 * `everyMs` it waits for one macrotask, so SIGINT/SIGTERM are seen within that time.
 *
 * @module
 */

/** Resolves after one macrotask: pending callbacks (signal listeners too) run first. */
export function eventLoopTurn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** Gives the event loop a turn at most every `everyMs` of work. */
export class Breather {
  #last = performance.now();
  constructor(readonly everyMs = 50) {}

  /** True when `everyMs` has passed since the last turn (cheap; call it often). */
  due(): boolean {
    return performance.now() - this.#last >= this.everyMs;
  }

  /** A turn of the event loop if one is due, else nothing. */
  async maybe(): Promise<void> {
    if (!this.due()) return;
    await eventLoopTurn();
    this.#last = performance.now();
  }
}

/**
 * Iterates `source` until `signal` aborts: a pending `next()` (a read from a pipe that is not
 * writing) is abandoned at the abort instead of holding the loop until more input comes.
 */
export async function* untilAborted<T>(
  source: AsyncIterable<T>,
  signal?: AbortSignal,
): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  if (!signal) {
    yield* { [Symbol.asyncIterator]: () => it };
    return;
  }
  // A fresh abort promise each step: racing every read against one long-lived promise would
  // hang a reaction holding each read's result on it until the end, so every chunk read would
  // stay in memory (a 100M-request trace held whole).
  let onAbort = () => {};
  try {
    for (;;) {
      if (signal.aborted) break;
      const aborted = new Promise<"aborted">((resolve) => {
        onAbort = () => resolve("aborted");
        signal.addEventListener("abort", onAbort, { once: true });
      });
      const r = await Promise.race([it.next(), aborted]);
      signal.removeEventListener("abort", onAbort);
      if (r === "aborted" || r.done) break;
      yield r.value;
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
    // Not awaited: a generator suspended in a read cannot return until the read settles.
    it.return?.()?.catch(() => {});
  }
}
