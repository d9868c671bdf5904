import { DURATION_BUCKETS } from './metrics.js';
import { isProxyDelta } from './proxy-deltas.js';
import { SLOTS } from './rolling-window.js';
export const MAX_STORED_PER_TAKE = 100;
const WINDOW_SLACK_SECONDS = 5;
const BUCKET_COUNT = DURATION_BUCKETS.length + 1;
const shippedSeries = new WeakMap();
const shippedMirrors = new WeakMap();
const shippedFlagCounts = new WeakMap();
export function takeDeltas(series, mirrors, metrics, nowMs = Date.now()) {
    const seriesDeltas = [];
    for (const one of series.all()) {
        const delta = takeSeries(one, nowMs);
        if (delta !== null)
            seriesDeltas.push(delta);
    }
    const mirrorDeltas = [];
    for (const records of mirrors.all()) {
        const delta = takeMirror(records);
        if (delta !== null)
            mirrorDeltas.push(delta);
    }
    const flags = takeFlagCounts(metrics);
    return flags.length === 0 ? { series: seriesDeltas, mirrors: mirrorDeltas } : { series: seriesDeltas, mirrors: mirrorDeltas, flags };
}
function takeFlagCounts(metrics) {
    const flags = [];
    for (const cell of metrics.flagCounts.all()) {
        const shipped = shippedFlagCounts.get(cell) ?? 0;
        if (cell.value === shipped)
            continue;
        flags.push([cell.labels.flag, cell.labels.variant, cell.labels.reason, cell.value - shipped]);
        shippedFlagCounts.set(cell, cell.value);
    }
    return flags;
}
export function isEmptyDelta(deltas) {
    return deltas.series.length === 0 && deltas.mirrors.length === 0 && deltas.proxy === undefined && deltas.experiments === undefined && deltas.flags === undefined;
}
export function applyDeltas(series, mirrors, metrics, deltas, nowMs = Date.now()) {
    for (const [flag, variant, reason, count] of deltas.flags ?? [])
        metrics.flagCounts.cell(flag, variant, reason).value += count;
    for (const delta of deltas.series) {
        const target = series.get(delta.route, delta.version);
        for (const [method, code, count] of delta.requests)
            target.addRequests(method, code, count);
        for (const [reason, count] of delta.decisions)
            target.addDecisions(reason, count);
        for (const [kind, count] of delta.upstreamErrors)
            target.addUpstreamErrors(kind, count);
        for (const [kind, count] of delta.clientTimeouts)
            target.addClientTimeouts(kind, count);
        if (delta.duration !== null)
            target.addDurations(delta.duration.buckets, delta.duration.sum, delta.duration.count);
        for (const slot of delta.window)
            target.window.add(slot, nowMs);
    }
    for (const delta of deltas.mirrors) {
        const records = mirrors.get(delta.route) ?? mirrors.recordsFor(delta.route, delta.keep);
        records.addCounts(delta, nowMs);
    }
}
export function isCounterDeltas(value) {
    if (typeof value !== 'object' || value === null)
        return false;
    const { series, mirrors, proxy, experiments, flags } = value;
    return (Array.isArray(series) &&
        Array.isArray(mirrors) &&
        (proxy === undefined || isProxyDelta(proxy)) &&
        (experiments === undefined || Array.isArray(experiments)) &&
        (flags === undefined || isFlagCounts(flags)));
}
function isFlagCounts(flags) {
    return (Array.isArray(flags) &&
        flags.every((entry) => Array.isArray(entry) && entry.length === 4 && typeof entry[0] === 'string' && typeof entry[1] === 'string' && typeof entry[2] === 'string' && Number.isFinite(entry[3])));
}
export class WorkerShare {
    #inFlight = new Map();
    note(deltas) {
        for (const delta of deltas.mirrors) {
            if (delta.inFlight !== 0)
                this.#inFlight.set(delta.route, (this.#inFlight.get(delta.route) ?? 0) + delta.inFlight);
        }
    }
    withdraw(mirrors) {
        for (const [route, inFlight] of this.#inFlight) {
            if (inFlight !== 0)
                mirrors.get(route)?.addCounts({ ...NOTHING_MIRRORED, inFlight: -inFlight });
        }
        this.#inFlight.clear();
    }
}
const NOTHING_MIRRORED = {
    outcomes: [],
    compared: 0,
    matched: 0,
    fields: [],
    noise: [],
    noiseSamples: 0,
    inFlight: 0,
    duration: null,
    stored: [],
};
function takeSeries(series, nowMs) {
    let shipped = shippedSeries.get(series);
    if (shipped === undefined) {
        shipped = {
            requests: new Map(),
            decisions: new Map(),
            upstreamErrors: new Map(),
            clientTimeouts: new Map(),
            buckets: new Float64Array(BUCKET_COUNT),
            sum: 0,
            count: 0,
            slots: new Map(),
            windowFrom: -Infinity,
        };
        shippedSeries.set(series, shipped);
    }
    const requests = [];
    for (const entry of series.requestCounts()) {
        const count = countDelta(shipped.requests, entry);
        if (count !== 0)
            requests.push([entry.labels.method, entry.labels.code, count]);
    }
    const decisions = labelledDeltas(series.decisionCounts(), shipped.decisions, 'reason');
    const upstreamErrors = labelledDeltas(series.upstreamErrorCounts(), shipped.upstreamErrors, 'kind');
    const clientTimeouts = labelledDeltas(series.clientTimeoutCounts(), shipped.clientTimeouts, 'kind');
    let duration = null;
    if (series.durationCount !== shipped.count) {
        duration = {
            buckets: subtractInto(series.buckets, shipped.buckets),
            sum: series.durationSum - shipped.sum,
            count: series.durationCount - shipped.count,
        };
        shipped.sum = series.durationSum;
        shipped.count = series.durationCount;
    }
    const window = takeWindow(series, shipped, nowMs);
    if (requests.length === 0 && decisions.length === 0 && upstreamErrors.length === 0 && clientTimeouts.length === 0 && duration === null && window.length === 0) {
        return null;
    }
    return { route: series.route, version: series.version, requests, decisions, upstreamErrors, clientTimeouts, duration, window };
}
function takeWindow(series, shipped, nowMs) {
    const nowSecond = Math.floor(nowMs / 1000);
    const out = [];
    const slots = series.window.slotsBetween(Math.max(shipped.windowFrom, nowSecond - SLOTS + 1), nowSecond + WINDOW_SLACK_SECONDS);
    for (const slot of slots) {
        const before = shipped.slots.get(slot.second);
        if (before !== undefined && before.requests === slot.requests)
            continue;
        out.push({
            second: slot.second,
            requests: slot.requests - (before?.requests ?? 0),
            errors: slot.errors - (before?.errors ?? 0),
            buckets: subtract(slot.buckets, before?.buckets),
            weightedRequests: slot.weightedRequests - (before?.weightedRequests ?? 0),
            weightedErrors: slot.weightedErrors - (before?.weightedErrors ?? 0),
            weightedBuckets: subtract(slot.weightedBuckets, before?.weightedBuckets),
            sloErrors: slot.sloErrors - (before?.sloErrors ?? 0),
        });
        shipped.slots.set(slot.second, copySlot(slot));
    }
    const keepFrom = nowSecond - WINDOW_SLACK_SECONDS;
    for (const second of shipped.slots.keys())
        if (second < keepFrom)
            shipped.slots.delete(second);
    shipped.windowFrom = keepFrom;
    return out;
}
function takeMirror(records) {
    const counts = records.counts();
    let shipped = shippedMirrors.get(records);
    if (shipped === undefined) {
        shipped = {
            outcomes: new Map(),
            compared: 0,
            matched: 0,
            fields: new Map(),
            noise: new Map(),
            noiseSamples: 0,
            inFlight: 0,
            buckets: new Float64Array(BUCKET_COUNT),
            sum: 0,
            count: 0,
            lastStoredId: 0,
        };
        shippedMirrors.set(records, shipped);
    }
    const outcomes = [];
    for (const [outcome, total] of Object.entries(counts.outcomes)) {
        const count = total - (shipped.outcomes.get(outcome) ?? 0);
        if (count === 0)
            continue;
        outcomes.push([outcome, count]);
        shipped.outcomes.set(outcome, total);
    }
    const fields = mapDeltas(counts.fields, shipped.fields);
    const noise = mapDeltas(counts.noise, shipped.noise);
    let duration = null;
    if (counts.duration.count !== shipped.count) {
        duration = {
            buckets: subtractInto(counts.duration.buckets, shipped.buckets),
            sum: counts.duration.sum - shipped.sum,
            count: counts.duration.count - shipped.count,
        };
        shipped.sum = counts.duration.sum;
        shipped.count = counts.duration.count;
    }
    const stored = counts.lastStoredId > shipped.lastStoredId ? records.storedAfter(shipped.lastStoredId, Math.min(records.keep, MAX_STORED_PER_TAKE)) : [];
    const delta = {
        route: records.route,
        keep: records.keep,
        outcomes,
        compared: counts.compared - shipped.compared,
        matched: counts.matched - shipped.matched,
        fields,
        noise,
        noiseSamples: counts.noiseSamples - shipped.noiseSamples,
        inFlight: counts.inFlight - shipped.inFlight,
        duration,
        stored,
    };
    shipped.compared = counts.compared;
    shipped.matched = counts.matched;
    shipped.noiseSamples = counts.noiseSamples;
    shipped.inFlight = counts.inFlight;
    shipped.lastStoredId = counts.lastStoredId;
    const empty = outcomes.length === 0 &&
        delta.compared === 0 &&
        delta.matched === 0 &&
        fields.length === 0 &&
        noise.length === 0 &&
        delta.noiseSamples === 0 &&
        delta.inFlight === 0 &&
        duration === null &&
        stored.length === 0;
    return empty ? null : delta;
}
function countDelta(shipped, entry) {
    const count = entry.value - (shipped.get(entry) ?? 0);
    if (count !== 0)
        shipped.set(entry, entry.value);
    return count;
}
function labelledDeltas(entries, shipped, label) {
    const out = [];
    for (const entry of entries) {
        const count = countDelta(shipped, entry);
        if (count !== 0)
            out.push([entry.labels[label], count]);
    }
    return out;
}
function mapDeltas(totals, shipped) {
    const out = [];
    for (const [key, total] of totals) {
        const count = total - (shipped.get(key) ?? 0);
        if (count === 0)
            continue;
        out.push([key, count]);
        shipped.set(key, total);
    }
    return out;
}
function subtractInto(current, shipped) {
    const out = new Array(BUCKET_COUNT);
    for (let i = 0; i < BUCKET_COUNT; i++) {
        out[i] = current[i] - shipped[i];
        shipped[i] = current[i];
    }
    return out;
}
function subtract(current, before) {
    const out = new Array(BUCKET_COUNT);
    for (let i = 0; i < BUCKET_COUNT; i++)
        out[i] = current[i] - (before === undefined ? 0 : before[i]);
    return out;
}
function copySlot(slot) {
    return {
        second: slot.second,
        requests: slot.requests,
        errors: slot.errors,
        buckets: Float64Array.from(slot.buckets),
        weightedRequests: slot.weightedRequests,
        weightedErrors: slot.weightedErrors,
        weightedBuckets: Float64Array.from(slot.weightedBuckets),
        sloErrors: slot.sloErrors,
    };
}
//# sourceMappingURL=series-delta.js.map