import { DURATION_BUCKETS } from './metrics.js';
import { quantileOf } from './rolling-window.js';
export const STEP_SECONDS = 10;
export const POINTS = 90;
const SETTLE_SECONDS = 3;
class Ring {
    steps = new Float64Array(POINTS).fill(-1);
    requests = new Float64Array(POINTS);
    errors = new Float64Array(POINTS);
    p99Ms = new Float64Array(POINTS);
}
export class SeriesHistory {
    #book;
    #routes;
    #rings = new Map();
    #recorded = new Map();
    #timer = null;
    constructor(book, routes) {
        this.#book = book;
        this.#routes = routes;
    }
    start() {
        this.#timer ??= setInterval(() => this.sample(Date.now()), STEP_SECONDS * 1000);
        this.#timer.unref();
    }
    stop() {
        if (this.#timer !== null)
            clearInterval(this.#timer);
        this.#timer = null;
    }
    sample(nowMs) {
        const routes = this.#routes();
        const wanted = new Set(routes.map((r) => r.name));
        for (const key of this.#rings.keys())
            if (!wanted.has(key.slice(0, key.lastIndexOf('\n'))))
                this.#rings.delete(key);
        for (const name of this.#recorded.keys())
            if (!wanted.has(name))
                this.#recorded.delete(name);
        const lastComplete = Math.floor((nowMs / 1000 - SETTLE_SECONDS) / STEP_SECONDS) - 1;
        for (const { name: route, versions } of routes) {
            const first = Math.max((this.#recorded.get(route) ?? -Infinity) + 1, lastComplete - POINTS + 1, Math.ceil((nowMs / 1000 - 590) / STEP_SECONDS));
            for (let step = first; step <= lastComplete; step++) {
                for (const version of versions) {
                    const totals = this.#sum(route, version, step);
                    const ring = this.#ring(route, version);
                    const at = step % POINTS;
                    ring.steps[at] = step;
                    ring.requests[at] = totals.requests;
                    ring.errors[at] = totals.errors;
                    ring.p99Ms[at] = totals.p99Ms ?? Number.NaN;
                }
            }
            this.#recorded.set(route, Math.max(this.#recorded.get(route) ?? -Infinity, lastComplete));
        }
    }
    read(charted, nowMs) {
        this.sample(nowMs);
        const route = charted.name;
        const current = Math.floor(nowMs / 1000 / STEP_SECONDS);
        const elapsed = Math.max(1, Math.floor(nowMs / 1000) - current * STEP_SECONDS + 1);
        const t = [];
        const empty = () => ({ rps: [], errorRate: [], p99Ms: [] });
        const versions = { stable: empty(), canary: charted.versions.includes('canary') ? empty() : null };
        for (let step = current - POINTS + 1; step <= current; step++) {
            t.push(step * STEP_SECONDS);
            for (const version of charted.versions) {
                const column = versions[version];
                const ring = this.#rings.get(`${route}\n${version}`);
                const at = ((step % POINTS) + POINTS) % POINTS;
                const totals = ring !== undefined && ring.steps[at] === step ? { requests: ring.requests[at], errors: ring.errors[at], p99Ms: Number.isNaN(ring.p99Ms[at]) ? null : ring.p99Ms[at] } : step > (this.#recorded.get(route) ?? -Infinity) ? this.#sum(route, version, step) : null;
                const seconds = step === current ? elapsed : STEP_SECONDS;
                const seen = totals !== null && totals.requests > 0;
                column.rps.push(totals === null ? null : round(totals.requests / seconds));
                column.errorRate.push(seen ? round((totals.errors / totals.requests) * 100) : null);
                column.p99Ms.push(seen ? totals.p99Ms : null);
            }
        }
        return { route, stepSeconds: STEP_SECONDS, t, versions };
    }
    #sum(route, version, step) {
        const buckets = new Array(DURATION_BUCKETS.length + 1).fill(0);
        let requests = 0;
        let errors = 0;
        const from = step * STEP_SECONDS;
        for (const slot of this.#book.get(route, version).window.slotsBetween(from, from + STEP_SECONDS - 1)) {
            requests += slot.requests;
            errors += slot.errors;
            for (let i = 0; i < buckets.length; i++)
                buckets[i] += slot.buckets[i];
        }
        const p99 = quantileOf(buckets, 0.99);
        return { requests, errors, p99Ms: p99 === null ? null : round(p99 * 1000) };
    }
    #ring(route, version) {
        const key = `${route}\n${version}`;
        let ring = this.#rings.get(key);
        if (ring === undefined) {
            ring = new Ring();
            this.#rings.set(key, ring);
        }
        return ring;
    }
}
function round(value) {
    return Math.round(value * 1000) / 1000;
}
export function chartedRoutesOf(routes) {
    return routes.map((route) => ({ name: route.name, versions: route.upstreams.canary === null ? ['stable'] : ['stable', 'canary'] }));
}
//# sourceMappingURL=series-history.js.map