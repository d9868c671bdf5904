import { DURATION_BUCKETS } from './metrics.js';
export const SLOTS = 600;
class Slot {
    second = -1;
    requests = 0;
    errors = 0;
    buckets = new Float64Array(DURATION_BUCKETS.length + 1);
    weightedRequests = 0;
    weightedErrors = 0;
    weightedBuckets = new Float64Array(DURATION_BUCKETS.length + 1);
    sloErrors = 0;
    reset(second) {
        this.second = second;
        this.requests = 0;
        this.errors = 0;
        this.buckets.fill(0);
        this.weightedRequests = 0;
        this.weightedErrors = 0;
        this.weightedBuckets.fill(0);
        this.sloErrors = 0;
    }
}
export function bucketIndex(seconds) {
    let bucket = 0;
    while (bucket < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[bucket])
        bucket++;
    return bucket;
}
export class RollingWindow {
    #slots = Array.from({ length: SLOTS }, () => new Slot());
    observe(nowMs, failed, bucket, weighted = false, sloError = failed) {
        const second = Math.floor(nowMs / 1000);
        const slot = this.#slots[second % SLOTS];
        if (slot.second !== second)
            slot.reset(second);
        slot.requests++;
        if (failed)
            slot.errors++;
        if (sloError)
            slot.sloErrors++;
        slot.buckets[bucket]++;
        if (weighted) {
            slot.weightedRequests++;
            if (failed)
                slot.weightedErrors++;
            slot.weightedBuckets[bucket]++;
        }
    }
    slotsBetween(fromSecond, toSecond) {
        const out = [];
        if (toSecond - fromSecond + 1 >= SLOTS) {
            for (const slot of this.#slots)
                if (slot.second >= fromSecond && slot.second <= toSecond && slot.requests > 0)
                    out.push(slot);
            return out;
        }
        for (let second = fromSecond; second <= toSecond; second++) {
            const slot = this.#slots[second % SLOTS];
            if (slot.second === second && slot.requests > 0)
                out.push(slot);
        }
        return out;
    }
    add(counts, nowMs) {
        const second = counts.second;
        if (second <= Math.floor(nowMs / 1000) - SLOTS)
            return;
        const slot = this.#slots[second % SLOTS];
        if (slot.second > second)
            return;
        if (slot.second !== second)
            slot.reset(second);
        slot.requests += counts.requests;
        slot.errors += counts.errors;
        slot.weightedRequests += counts.weightedRequests;
        slot.weightedErrors += counts.weightedErrors;
        slot.sloErrors += counts.sloErrors;
        for (let i = 0; i < slot.buckets.length; i++) {
            slot.buckets[i] += counts.buckets[i];
            slot.weightedBuckets[i] += counts.weightedBuckets[i];
        }
    }
    snapshot(nowMs, spanSeconds, traffic = 'all') {
        const span = Math.max(1, Math.min(spanSeconds, SLOTS));
        const now = Math.floor(nowMs / 1000);
        const weighted = traffic === 'weighted';
        let requests = 0;
        let errors = 0;
        const buckets = new Array(DURATION_BUCKETS.length + 1).fill(0);
        for (const slot of this.#slots) {
            if (slot.second <= now - span || slot.second > now)
                continue;
            requests += weighted ? slot.weightedRequests : slot.requests;
            errors += weighted ? slot.weightedErrors : slot.errors;
            const counts = weighted ? slot.weightedBuckets : slot.buckets;
            for (let i = 0; i < buckets.length; i++)
                buckets[i] += counts[i];
        }
        return { seconds: span, requests, errors, buckets };
    }
}
export function quantileOf(buckets, q) {
    const total = buckets.reduce((sum, count) => sum + count, 0);
    if (total === 0)
        return null;
    const rank = q * total;
    let seen = 0;
    for (let i = 0; i < buckets.length; i++) {
        const count = buckets[i];
        if (seen + count >= rank && count > 0) {
            if (i >= DURATION_BUCKETS.length)
                return DURATION_BUCKETS[DURATION_BUCKETS.length - 1];
            const lower = i === 0 ? 0 : DURATION_BUCKETS[i - 1];
            const upper = DURATION_BUCKETS[i];
            return lower + (upper - lower) * ((rank - seen) / count);
        }
        seen += count;
    }
    return DURATION_BUCKETS[DURATION_BUCKETS.length - 1];
}
//# sourceMappingURL=rolling-window.js.map