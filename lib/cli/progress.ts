/**
 * Progress on a terminal, silence in a pipe: writes a self-overwriting status line to stderr
 * only when stderr is a TTY and the user did not ask for `-q`. Updates are rate-limited.
 *
 * @example
 * ```ts
 * import { Progress } from "./progress.ts";
 * const p = new Progress({ quiet: false });
 * p.update("12000 requests");
 * p.done();
 * ```
 */
export class Progress {
  readonly enabled: boolean;
  #last = 0;
  #shown = false;
  #enc = new TextEncoder();

  constructor(opts: { quiet?: boolean } = {}) {
    this.enabled = !opts.quiet && Deno.stderr.isTerminal();
  }

  /** Shows `text` (at most 10 times a second). */
  update(text: string): void {
    if (!this.enabled) return;
    const now = performance.now();
    if (now - this.#last < 100) return;
    this.#last = now;
    this.#shown = true;
    Deno.stderr.writeSync(this.#enc.encode(`\r\x1b[2K${text}`));
  }

  /** Clears the status line. */
  done(): void {
    if (this.enabled && this.#shown) Deno.stderr.writeSync(this.#enc.encode("\r\x1b[2K"));
    this.#shown = false;
  }
}
