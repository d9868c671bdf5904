import { performance } from 'node:perf_hooks';
export const SWEEP_TICK_MS = 1_000;
export class TimeoutSweep {
    #members = new Set();
    #tickMs;
    #now;
    #timer = null;
    constructor(tickMs = SWEEP_TICK_MS, now = () => performance.now()) {
        this.#tickMs = tickMs;
        this.#now = now;
    }
    get size() {
        return this.#members.size;
    }
    add(member) {
        this.#members.add(member);
        if (this.#timer === null) {
            this.#timer = setInterval(tick, this.#tickMs, this);
            this.#timer.unref();
        }
    }
    delete(member) {
        this.#members.delete(member);
    }
    tick() {
        const now = this.#now();
        for (const member of this.#members)
            if (!member.sweep(now))
                this.#members.delete(member);
        if (this.#members.size === 0)
            this.close();
    }
    close() {
        if (this.#timer !== null)
            clearInterval(this.#timer);
        this.#timer = null;
    }
}
function tick(sweep) {
    sweep.tick();
}
//# sourceMappingURL=timeout-sweep.js.map