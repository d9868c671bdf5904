import { pairsFor, readBudget } from '../rollout/error-budget.js';
import { formatDuration } from '../rollout/machine.js';
import { SLOTS } from './rolling-window.js';
export const LATE_SECONDS = 5;
export function seriesSloSeconds(series) {
    return (route, fromSecond, toSecond) => {
        const bySecond = new Map();
        for (const version of ['stable', 'canary']) {
            for (const slot of series.find(route, version)?.window.slotsBetween(fromSecond, toSecond) ?? []) {
                const counts = bySecond.get(slot.second);
                if (counts === undefined)
                    bySecond.set(slot.second, { second: slot.second, requests: slot.requests, errors: slot.sloErrors });
                else {
                    counts.requests += slot.requests;
                    counts.errors += slot.sloErrors;
                }
            }
        }
        return bySecond.values();
    };
}
export function countedSlos(routes) {
    return new Map(routes.filter((route) => route.slo !== undefined && route.slo.sli?.prometheus === undefined).map((route) => [route.name, route.slo]));
}
export function publishBudget(metrics, route, reading) {
    for (const pair of reading.pairs) {
        const [long, short] = pair.windows.split('/');
        if (pair.longRate !== null)
            metrics.sloBurnRate.set({ route, window: long }, pair.longRate);
        if (pair.shortRate !== null)
            metrics.sloBurnRate.set({ route, window: short }, pair.shortRate);
    }
    if (reading.remaining !== null)
        metrics.sloErrorBudgetRemaining.set({ route }, reading.remaining);
}
export class SloFeed {
    #options;
    #routes = new Map();
    #added = new WeakMap();
    #timer = null;
    #stopped = false;
    #publishedAt = -Infinity;
    #publishing = null;
    #localRoutes = new Set();
    constructor(options) {
        this.#options = options;
    }
    track(routes) {
        const metrics = this.#options.metrics;
        for (const [route, slo] of this.#routes) {
            if (metrics !== undefined && routes.get(route)?.window !== slo.window)
                withdrawGauges(metrics, route, slo);
        }
        this.#routes = routes;
        this.#options.book.retain(new Set(routes.keys()));
        if (routes.size > 0 && this.#timer === null && !this.#stopped) {
            this.#timer = setInterval(() => this.pass(), this.#options.everyMs ?? 1_000);
            this.#timer.unref();
        }
        else if (routes.size === 0 && this.#timer !== null) {
            clearInterval(this.#timer);
            this.#timer = null;
        }
    }
    pass() {
        const nowMs = this.#options.now();
        const ledgers = this.#feedAll(nowMs);
        const metrics = this.#options.metrics;
        if (metrics === undefined)
            return;
        if (nowMs - this.#publishedAt >= (this.#options.publishEveryMs ?? 5_000) || nowMs < this.#publishedAt)
            this.#publishedAt = nowMs;
        else
            return;
        const fleet = this.#options.fleet;
        if (fleet === undefined) {
            for (const [route, slo] of this.#routes)
                publishBudget(metrics, route, readBudget((spanMs) => ledgers.get(route).counts(nowMs, spanMs), slo));
        }
        else if (!fleet.leading()) {
            this.#withdrawAll(metrics);
        }
        else {
            this.#publishing ??= this.#publishFromFleet(metrics, fleet, nowMs, ledgers).finally(() => {
                this.#publishing = null;
            });
        }
    }
    noteFleetCounts(route, fromFleet) {
        if (fromFleet !== this.#localRoutes.has(route))
            return;
        if (fromFleet)
            this.#localRoutes.delete(route);
        else
            this.#localRoutes.add(route);
        const message = fromFleet
            ? 'error budget from the fleet\'s counts again'
            : 'error budget from this member\'s own counts: the fleet\'s SLO counts cannot be read (Redis unreachable)';
        this.#options.logger?.warn({ route }, message);
        this.#options.events?.record({ actor: 'slo', action: fromFleet ? 'slo.fleet_counts' : 'slo.local_counts', route, message });
    }
    #feedAll(nowMs) {
        const ledgers = new Map();
        for (const [route, slo] of this.#routes)
            ledgers.set(route, this.feed(route, slo.window, nowMs));
        this.#options.book.saveSoon();
        return ledgers;
    }
    async #publishFromFleet(metrics, fleet, nowMs, ledgers) {
        const routes = [...this.#routes];
        const counts = await Promise.all(routes.map(([route, slo]) => (fleet.slo ? fleet.slo(route, nowMs, slo.window).catch(() => null) : Promise.resolve(null))));
        if (this.#stopped || !fleet.leading())
            return;
        for (const [index, [route, slo]] of routes.entries()) {
            if (this.#routes.get(route) !== slo)
                continue;
            if (fleet.slo)
                this.noteFleetCounts(route, counts[index] !== null);
            const ledger = ledgers.get(route);
            publishBudget(metrics, route, readBudget(counts[index] ?? ((spanMs) => ledger.counts(nowMs, spanMs)), slo));
        }
    }
    #withdrawAll(metrics) {
        for (const [route, slo] of this.#routes)
            withdrawGauges(metrics, route, slo);
    }
    feed(route, windowMs, nowMs) {
        const entry = this.#options.book.entryFor(route, windowMs);
        let added = this.#added.get(entry);
        if (added === undefined) {
            added = new Map();
            this.#added.set(entry, added);
        }
        const toSecond = Math.floor(nowMs / 1000) - 1;
        if (entry.fedThroughSecond > toSecond)
            entry.fedThroughSecond = toSecond;
        const fromSecond = Math.max(entry.fedThroughSecond - LATE_SECONDS + 1, toSecond - SLOTS + 1);
        if (fromSecond > toSecond)
            return entry.ledger;
        for (const counts of this.#options.seconds(route, fromSecond, toSecond)) {
            const before = added.get(counts.second);
            const requests = counts.requests - (before?.requests ?? 0);
            const errors = counts.errors - (before?.errors ?? 0);
            if (requests <= 0 && errors <= 0)
                continue;
            entry.ledger.add(counts.second * 1000, Math.max(0, requests), Math.max(0, errors));
            added.set(counts.second, { requests: counts.requests, errors: counts.errors });
        }
        entry.fedThroughSecond = Math.max(entry.fedThroughSecond, toSecond);
        for (const second of added.keys())
            if (second <= entry.fedThroughSecond - LATE_SECONDS)
                added.delete(second);
        return entry.ledger;
    }
    stop() {
        if (this.#stopped)
            return;
        this.#stopped = true;
        if (this.#timer !== null)
            clearInterval(this.#timer);
        this.#timer = null;
        if (this.#routes.size > 0)
            this.#feedAll(this.#options.now());
    }
}
function withdrawGauges(metrics, route, slo) {
    for (const pair of pairsFor(slo.window)) {
        for (const span of [pair.long, pair.short])
            metrics.sloBurnRate.remove({ route, window: formatDuration(span).replaceAll(' ', '') });
    }
    metrics.sloErrorBudgetRemaining.remove({ route });
}
//# sourceMappingURL=slo-feed.js.map