import { LRUCache } from 'lru-cache';
import { storedValue } from '../diff/stored-value.js';
import { SplitgateError } from '../errors.js';
import { DurationCounts } from '../metrics/metrics.js';
import { ComparisonWindow } from './comparison-window.js';
import { Comparisons } from './comparisons.js';
import { CopyControllers } from './shadow-client.js';
export const MIRROR_OUTCOMES = [
    'sent',
    'match',
    'diff',
    'shadow_error',
    'shadow_timeout',
    'primary_error',
    'dropped',
    'skipped_body',
    'skipped_method',
    'compare_error',
    'compare_dropped',
];
const MAX_FIELDS = 1_000;
const MAX_FIELD_LABELS = 20;
const LIKELY_NOISE_SHARE = 0.9;
const LIKELY_NOISE_MIN_COMPARED = 20;
const NOISE_SHARE = 0.5;
export class MirrorRecords {
    route;
    copies;
    comparisons;
    #metrics;
    #outcomes;
    #fieldCounts = new Map();
    #noise = new Map();
    #labelledFields = new Set();
    #store;
    #nextId = 1;
    #compared = 0;
    #matched = 0;
    #noiseSamples = 0;
    inFlight = 0;
    duration = new DurationCounts();
    window = new ComparisonWindow();
    constructor(route, metrics, keep, copies = new CopyControllers(), comparisons = new Comparisons()) {
        this.route = route;
        this.copies = copies;
        this.comparisons = comparisons;
        this.#metrics = metrics;
        this.#outcomes = Object.fromEntries(MIRROR_OUTCOMES.map((o) => [o, 0]));
        this.#store = keep > 0 ? new LRUCache({ max: keep }) : null;
    }
    resize(keep) {
        if (keep === (this.#store?.max ?? 0))
            return;
        const previous = this.#store ? [...this.#store.values()].reverse() : [];
        this.#store = keep > 0 ? new LRUCache({ max: keep }) : null;
        for (const entry of previous)
            this.#store?.set(entry.id, entry);
    }
    count(outcome) {
        this.#outcomes[outcome]++;
        this.#metrics.mirrorRequests.inc({ route: this.route, outcome });
    }
    observeShadow(seconds) {
        this.duration.observe(seconds);
    }
    trackInFlight(delta) {
        this.inFlight += delta;
        this.#metrics.mirrorInFlight.set({ route: this.route }, this.inFlight);
    }
    isNoise(field) {
        if (field === 'status')
            return false;
        const seen = this.#noise.get(field);
        return seen !== undefined && seen >= Math.max(1, NOISE_SHARE * this.#noiseSamples);
    }
    learnNoise(differences) {
        this.#noiseSamples++;
        for (const difference of differences) {
            const field = difference.field;
            const seen = this.#noise.get(field);
            if (seen !== undefined)
                this.#noise.set(field, seen + 1);
            else if (this.#noise.size < MAX_FIELDS)
                this.#noise.set(field, 1);
        }
    }
    recordComparison(differences, entry, nowMs = Date.now()) {
        this.#compared++;
        this.window.add(nowMs, 1, differences.length === 0 ? 1 : 0);
        if (differences.length === 0) {
            this.#matched++;
            this.count('match');
            return null;
        }
        this.count('diff');
        const fields = new Set();
        for (const difference of differences)
            fields.add(difference.field);
        for (const field of fields) {
            const key = this.#fieldCounts.has(field) || this.#fieldCounts.size < MAX_FIELDS ? field : 'other';
            this.#fieldCounts.set(key, (this.#fieldCounts.get(key) ?? 0) + 1);
            this.#metrics.mirrorDiffs.inc({ route: this.route, field: this.#fieldLabel(field) });
        }
        if (entry === null || this.#store === null)
            return null;
        const stored = {
            id: this.#nextId++,
            ...entry,
            differences: differences.slice(0, 50).map((d) => ({
                field: d.field,
                path: d.path,
                primary: storedValue(d.primary),
                shadow: storedValue(d.shadow),
            })),
        };
        this.#store.set(stored.id, stored);
        return stored;
    }
    recent(limit = Infinity) {
        if (this.#store === null)
            return [];
        const out = [];
        for (const entry of this.#store.values()) {
            out.push(entry);
            if (out.length >= limit)
                break;
        }
        return out.sort((a, b) => b.id - a.id);
    }
    summary(topK = 10) {
        const compared = this.#compared;
        const topFields = [...this.#fieldCounts.entries()]
            .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
            .slice(0, topK)
            .map(([field, count]) => ({
            field,
            count,
            likelyNoise: compared >= LIKELY_NOISE_MIN_COMPARED && count / compared >= LIKELY_NOISE_SHARE,
        }));
        return {
            route: this.route,
            compared,
            matched: this.#matched,
            matchRate: compared === 0 ? null : this.#matched / compared,
            outcomes: { ...this.#outcomes },
            topFields,
            noiseFields: [...this.#noise.entries()]
                .filter(([field]) => this.isNoise(field))
                .sort((a, b) => b[1] - a[1])
                .map(([field, count]) => ({ field, count })),
            noiseSamples: this.#noiseSamples,
            inFlight: this.inFlight,
        };
    }
    get keep() {
        return this.#store?.max ?? 0;
    }
    counts() {
        return {
            outcomes: this.#outcomes,
            compared: this.#compared,
            matched: this.#matched,
            fields: this.#fieldCounts,
            noise: this.#noise,
            noiseSamples: this.#noiseSamples,
            inFlight: this.inFlight,
            duration: this.duration,
            lastStoredId: this.#nextId - 1,
        };
    }
    storedAfter(afterId, limit) {
        const out = [];
        if (this.#store === null || limit <= 0)
            return out;
        for (const entry of this.#store.values()) {
            if (entry.id <= afterId)
                break;
            out.push(entry);
            if (out.length >= limit)
                break;
        }
        return out.reverse();
    }
    addCounts(delta, nowMs = Date.now()) {
        for (const [outcome, count] of delta.outcomes) {
            if (this.#outcomes[outcome] === undefined || count === 0)
                continue;
            this.#outcomes[outcome] += count;
            this.#metrics.mirrorRequests.inc({ route: this.route, outcome }, count);
        }
        this.#compared += delta.compared;
        this.#matched += delta.matched;
        if (delta.compared !== 0)
            this.window.add(nowMs, delta.compared, delta.matched);
        for (const [field, count] of delta.fields) {
            const key = this.#fieldCounts.has(field) || this.#fieldCounts.size < MAX_FIELDS ? field : 'other';
            this.#fieldCounts.set(key, (this.#fieldCounts.get(key) ?? 0) + count);
            this.#metrics.mirrorDiffs.inc({ route: this.route, field: this.#fieldLabel(field) }, count);
        }
        this.#noiseSamples += delta.noiseSamples;
        for (const [field, count] of delta.noise) {
            const seen = this.#noise.get(field);
            if (seen !== undefined)
                this.#noise.set(field, seen + count);
            else if (this.#noise.size < MAX_FIELDS)
                this.#noise.set(field, count);
        }
        if (delta.inFlight !== 0) {
            this.inFlight += delta.inFlight;
            this.#metrics.mirrorInFlight.set({ route: this.route }, this.inFlight);
        }
        if (delta.duration !== null)
            this.duration.add(delta.duration.buckets, delta.duration.sum, delta.duration.count);
        if (this.#store === null)
            return;
        for (const entry of delta.stored) {
            const stored = { ...entry, id: this.#nextId++ };
            this.#store.set(stored.id, stored);
        }
    }
    #fieldLabel(field) {
        if (this.#labelledFields.has(field))
            return field;
        if (this.#labelledFields.size < MAX_FIELD_LABELS) {
            this.#labelledFields.add(field);
            return field;
        }
        return 'other';
    }
}
export class MirrorBook {
    #metrics;
    #byRoute = new Map();
    #copies = new CopyControllers();
    #comparisons = new Comparisons();
    constructor(metrics) {
        this.#metrics = metrics;
        metrics.mirrorBooks.push(this);
    }
    recordsFor(route, keep) {
        let records = this.#byRoute.get(route);
        if (records === undefined) {
            records = new MirrorRecords(route, this.#metrics, keep, this.#copies, this.#comparisons);
            this.#byRoute.set(route, records);
        }
        else {
            records.resize(keep);
        }
        return records;
    }
    get(route) {
        return this.#byRoute.get(route);
    }
    all() {
        return [...this.#byRoute.values()];
    }
    abortCopies() {
        this.#copies.abortAll(new SplitgateError('SG_STOPPING', 'splitgate is stopping', 503));
    }
    close() {
        return this.#comparisons.close();
    }
}
//# sourceMappingURL=mirror-records.js.map