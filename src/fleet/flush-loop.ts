/**
 * A periodic flush to Redis, as the fleet's writers of counts and experiment totals run it: every `everyMs` (one at
 * a time: a slow Redis never stacks flushes), then on stop one last, final flush after the one in progress, so a
 * member leaving hands in what it saw. A failed flush is the writer's to log; the loop only keeps going.
 */
export class FlushLoop {
  readonly everyMs: number;
  readonly #flush: (final: boolean) => Promise<unknown>;
  #timer: NodeJS.Timeout | null = null;
  #flushing: Promise<unknown> | null = null;
  #stopped = false;

  constructor(everyMs: number, flush: (final: boolean) => Promise<unknown>) {
    this.everyMs = everyMs;
    this.#flush = flush;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  start(): void {
    if (this.#timer !== null || this.#stopped) return;
    this.#timer = setInterval(() => {
      this.#flushing ??= this.#flush(false)
        .catch(() => {})
        .finally(() => {
          this.#flushing = null;
        });
    }, this.everyMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    await this.#flushing;
    await this.#flush(true).catch(() => {});
  }
}
