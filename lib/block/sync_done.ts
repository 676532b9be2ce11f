/**
 * How a layer says "this request is already complete" without changing the
 * {@linkcode BlockDevice} interface: it returns the one resolved promise {@linkcode DONE}
 * instead of a new one. A caller that compares the returned promise with `DONE` by identity
 * can skip the `await` (no promise, no microtask) — the NBD server answers cache hits this
 * way. Layers that pass a request through return the promise of the layer below unchanged, so
 * the signal crosses them. Awaiting `DONE` works as for any resolved promise.
 *
 * @module
 */

/** The resolved promise returned for requests completed synchronously. */
export const DONE: Promise<void> = Promise.resolve();
