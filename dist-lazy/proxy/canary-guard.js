const RETRY_ON_BITS = {
    'connect-failure': 1,
    'refused-stream': 2,
    'reset-before-response': 4,
    'headers-timeout': 8,
    '503': 16,
};
export const SUCCESSES_PER_RETRY_CREDIT = 10;
export function compileRetryPolicy(config) {
    if (config === false)
        return null;
    let on = 0;
    for (const condition of config.on)
        on |= RETRY_ON_BITS[condition];
    return Object.freeze({ on, methods: new Set(config.methods), budgetPercent: config.budget, minRetryConcurrency: config.minRetryConcurrency, burst: config.burst });
}
export const ownGuardState = (route) => route.guard;
export class CanaryGuard {
    route;
    upstream;
    admitPercent = 100;
    active = 0;
    activeRetries = 0;
    activeRedirects = 0;
    retries = { ok: 0, failed: 0, budget_exhausted: 0 };
    ejections = 0;
    #phase = 'closed';
    #settings;
    #failures = 0;
    #connectFailures = 0;
    #successesOwed = 0;
    #multiplier = 0;
    #lastChange = 0;
    #ejectedUntil = 0;
    #timer = null;
    #unhealthy = false;
    #deps;
    constructor(route, upstream, settings, deps) {
        this.route = route;
        this.upstream = upstream;
        this.#settings = settings;
        this.#deps = deps;
    }
    get phase() {
        return this.#phase;
    }
    get ejected() {
        return this.admitPercent === 0;
    }
    get unhealthy() {
        return this.#unhealthy;
    }
    get ejectedUntil() {
        return this.#phase === 'ejected' ? this.#ejectedUntil : 0;
    }
    configure(settings) {
        this.#settings = settings;
        if (settings === null && this.#phase !== 'closed')
            this.#restore('outlier detection turned off');
    }
    record(outcome) {
        const settings = this.#settings;
        if (settings === null)
            return;
        if (outcome === 0) {
            this.#failures = 0;
            this.#connectFailures = 0;
            if (this.#phase === 'probing')
                this.#restore('a probe succeeded');
            return;
        }
        if (this.#phase === 'ejected')
            return;
        if (this.#phase === 'probing') {
            this.#eject('a probe failed');
            return;
        }
        if (outcome === 2) {
            if (++this.#connectFailures >= settings.consecutiveConnectFailures) {
                this.#eject(`${this.#connectFailures} connect failures in a row`);
                return;
            }
        }
        else {
            this.#connectFailures = 0;
        }
        if (++this.#failures >= settings.consecutive5xx)
            this.#eject(`${this.#failures} failures (5xx, reset, timeout or connect) in a row`);
    }
    takeRetry(policy) {
        const allowed = Math.max(policy.minRetryConcurrency, Math.floor((this.active * policy.budgetPercent) / 100));
        if (this.activeRetries >= allowed) {
            if (this.#successesOwed + SUCCESSES_PER_RETRY_CREDIT > policy.burst * SUCCESSES_PER_RETRY_CREDIT) {
                this.retries.budget_exhausted++;
                return false;
            }
            this.#successesOwed += SUCCESSES_PER_RETRY_CREDIT;
        }
        this.activeRetries++;
        return true;
    }
    earnRetryCredit() {
        if (this.#successesOwed > 0)
            this.#successesOwed--;
    }
    get retryCreditSpent() {
        return this.#successesOwed / SUCCESSES_PER_RETRY_CREDIT;
    }
    retryEnded(ok) {
        this.activeRetries--;
        if (ok)
            this.retries.ok++;
        else
            this.retries.failed++;
    }
    takeRedirect() {
        this.activeRedirects++;
    }
    redirectEnded(ok) {
        this.activeRedirects--;
        if (ok)
            this.retries.ok++;
        else
            this.retries.failed++;
    }
    setUnhealthy(unhealthy, reason) {
        if (this.#unhealthy === unhealthy)
            return;
        this.#unhealthy = unhealthy;
        this.#refresh();
        const action = unhealthy ? 'upstream.ejected' : 'upstream.restored';
        this.#deps.emit({ action, route: this.route, upstream: this.upstream, reason, ejections: this.ejections });
    }
    close() {
        if (this.#timer !== null)
            clearTimeout(this.#timer);
        this.#timer = null;
    }
    holdEjected(untilMs, ejectionMs) {
        const now = this.#deps.now();
        const settings = this.#settings;
        if (settings === null || untilMs <= now)
            return;
        if (this.#phase === 'closed')
            this.#decayMultiplier(settings, now);
        this.#multiplier = Math.max(this.#multiplier, Math.round(ejectionMs / settings.baseEjectionTime));
        if (this.#phase === 'ejected' && this.#ejectedUntil >= untilMs)
            return;
        this.#phase = 'ejected';
        this.#lastChange = now;
        this.#ejectedUntil = untilMs;
        this.#failures = 0;
        this.#connectFailures = 0;
        this.#refresh();
        if (this.#timer !== null)
            clearTimeout(this.#timer);
        this.#timer = setTimeout(() => this.#probe(), untilMs - now);
        this.#timer.unref();
    }
    #eject(reason) {
        const settings = this.#settings;
        const now = this.#deps.now();
        if (this.#phase === 'closed')
            this.#decayMultiplier(settings, now);
        this.#multiplier++;
        const ejectionMs = Math.min(settings.maxEjectionTime, settings.baseEjectionTime * this.#multiplier);
        this.#phase = 'ejected';
        this.#lastChange = now;
        this.#ejectedUntil = now + ejectionMs;
        this.#failures = 0;
        this.#connectFailures = 0;
        this.ejections++;
        this.#refresh();
        if (this.#timer !== null)
            clearTimeout(this.#timer);
        this.#timer = setTimeout(() => this.#probe(), ejectionMs);
        this.#timer.unref();
        this.#deps.emit({ action: 'upstream.ejected', route: this.route, upstream: this.upstream, reason, ejectionMs, ejections: this.ejections });
    }
    #decayMultiplier(settings, now) {
        if (this.#multiplier > 0)
            this.#multiplier = Math.max(0, this.#multiplier - Math.floor((now - this.#lastChange) / settings.interval));
    }
    #probe() {
        this.#timer = null;
        if (this.#phase !== 'ejected')
            return;
        this.#phase = 'probing';
        this.#refresh();
    }
    #restore(reason) {
        this.close();
        this.#phase = 'closed';
        this.#lastChange = this.#deps.now();
        this.#refresh();
        this.#deps.emit({ action: 'upstream.restored', route: this.route, upstream: this.upstream, reason, ejections: this.ejections });
    }
    #refresh() {
        if (this.#unhealthy || this.#phase === 'ejected')
            this.admitPercent = 0;
        else if (this.#phase === 'probing')
            this.admitPercent = this.#settings?.probePercent ?? 100;
        else
            this.admitPercent = 100;
    }
}
export function outlierSettings(config) {
    return config === false ? null : config;
}
export class GuardBook {
    #guards = new Map();
    #listeners = [];
    #deps;
    #unhealthy = new Map();
    constructor(emit = () => undefined, now = Date.now) {
        this.#deps = { now, emit: (event) => this.#emit(event) };
        this.#listeners.push(emit);
    }
    onEvent(listener) {
        this.#listeners.push(listener);
    }
    guardFor(route, upstream, settings) {
        const key = `${route}\n${upstream}`;
        let guard = this.#guards.get(key);
        if (guard === undefined) {
            guard = new CanaryGuard(route, upstream, settings, this.#deps);
            const failing = this.#unhealthy.get(upstream);
            if (failing !== undefined)
                guard.setUnhealthy(true, failing);
            this.#guards.set(key, guard);
        }
        else {
            guard.configure(settings);
        }
        return guard;
    }
    find(route, upstream) {
        return this.#guards.get(`${route}\n${upstream}`);
    }
    setUnhealthy(upstream, unhealthy, reason) {
        if (unhealthy)
            this.#unhealthy.set(upstream, reason);
        else
            this.#unhealthy.delete(upstream);
        for (const guard of this.#guards.values())
            if (guard.upstream === upstream)
                guard.setUnhealthy(unhealthy, reason);
    }
    retain(keep) {
        for (const [key, guard] of this.#guards) {
            if (!keep.has(guard) && guard.active === 0) {
                guard.close();
                this.#guards.delete(key);
            }
        }
    }
    all() {
        return this.#guards.values();
    }
    close() {
        for (const guard of this.#guards.values())
            guard.close();
    }
    #emit(event) {
        for (const listener of this.#listeners)
            listener(event);
    }
}
//# sourceMappingURL=canary-guard.js.map