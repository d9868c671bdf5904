import { undiciCore } from './undici-core.js';
export class HealthChecker {
    upstream;
    config;
    #pool;
    #onChange;
    #healthy = true;
    #passes = 0;
    #failures = 0;
    #checks = 0;
    #lastCheck = null;
    #lastFailure = null;
    #timer = null;
    #stopped = false;
    constructor(upstream, config, pool, onChange) {
        this.upstream = upstream;
        this.config = config;
        this.#pool = pool;
        this.#onChange = onChange;
    }
    get healthy() {
        return this.#healthy;
    }
    start() {
        this.#schedule(0);
    }
    stop() {
        this.#stopped = true;
        if (this.#timer !== null)
            clearTimeout(this.#timer);
        this.#timer = null;
    }
    status() {
        return { upstream: this.upstream, path: this.config.path, healthy: this.#healthy, lastCheck: this.#lastCheck, lastFailure: this.#lastFailure, checks: this.#checks };
    }
    async check() {
        const failure = await this.#probe();
        if (this.#stopped)
            return;
        this.#checks++;
        this.#lastCheck = new Date().toISOString();
        if (failure === null) {
            this.#failures = 0;
            if (++this.#passes >= this.config.healthy && !this.#healthy)
                this.#set(true, `${this.#passes} health checks passed in a row`);
        }
        else {
            this.#lastFailure = failure;
            this.#passes = 0;
            if (++this.#failures >= this.config.unhealthy && this.#healthy)
                this.#set(false, `${this.#failures} health checks failed in a row (last: ${failure})`);
        }
    }
    #set(healthy, reason) {
        this.#healthy = healthy;
        this.#onChange(this.upstream, healthy, reason);
    }
    async #probe() {
        const timeout = this.config.timeout;
        try {
            const response = await undiciCore().request.call(this.#pool, {
                path: this.config.path,
                method: 'GET',
                headers: { 'user-agent': 'splitgate-health-check' },
                headersTimeout: timeout,
                bodyTimeout: timeout,
                signal: AbortSignal.timeout(timeout),
            });
            await response.body.dump();
            return response.statusCode >= 200 && response.statusCode < 400 ? null : `status ${response.statusCode}`;
        }
        catch (error) {
            const code = error.code ?? error.name;
            return typeof code === 'string' ? code : 'error';
        }
    }
    #schedule(delayMs) {
        if (this.#stopped)
            return;
        this.#timer = setTimeout(() => {
            this.#timer = null;
            void this.check().finally(() => this.#schedule(this.config.interval));
        }, delayMs);
        this.#timer.unref();
    }
}
//# sourceMappingURL=health-check.js.map