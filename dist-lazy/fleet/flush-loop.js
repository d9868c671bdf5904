export class FlushLoop {
    everyMs;
    #flush;
    #timer = null;
    #flushing = null;
    #stopped = false;
    constructor(everyMs, flush) {
        this.everyMs = everyMs;
        this.#flush = flush;
    }
    get stopped() {
        return this.#stopped;
    }
    start() {
        if (this.#timer !== null || this.#stopped)
            return;
        this.#timer = setInterval(() => {
            this.#flushing ??= this.#flush(false)
                .catch(() => { })
                .finally(() => {
                this.#flushing = null;
            });
        }, this.everyMs);
        this.#timer.unref();
    }
    async stop() {
        if (this.#stopped)
            return;
        this.#stopped = true;
        if (this.#timer !== null)
            clearInterval(this.#timer);
        this.#timer = null;
        await this.#flushing;
        await this.#flush(true).catch(() => { });
    }
}
//# sourceMappingURL=flush-loop.js.map