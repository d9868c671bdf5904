import { FlushLoop } from './flush-loop.js';
import { DURATION_BUCKETS } from '../metrics/metrics.js';
import { SloMinuteTally } from './fleet-slo.js';
import { asHash, withTimeout } from './leader-lease.js';
export { asHash };
export const LOOKBACK_SECONDS = 5;
const BUCKETS = DURATION_BUCKETS.length + 1;
const VERSIONS = ['stable', 'canary'];
export function windowKey(fleet, route, second) {
    return `sg:{${fleet}}:w:${route}:${second}`;
}
export function guardrailKey(fleet, route, minute) {
    return `sg:{${fleet}}:g:${route}:${minute}`;
}
export const GUARDRAIL_RETAIN_SECONDS = 15 * 60;
const FIELDS = Object.fromEntries(VERSIONS.map((version) => [
    version,
    {
        requests: `${version}:r`,
        errors: `${version}:e`,
        weightedRequests: `${version}:wr`,
        weightedErrors: `${version}:we`,
        buckets: Array.from({ length: BUCKETS }, (_, i) => `${version}:b${i}`),
        weightedBuckets: Array.from({ length: BUCKETS }, (_, i) => `${version}:wb${i}`),
    },
]));
const MIRROR_COMPARED = 'm:c';
const MIRROR_MATCHED = 'm:m';
const EJECTIONS = 'o:j';
function emptyPushed() {
    return { requests: 0, errors: 0, weightedRequests: 0, weightedErrors: 0, sloErrors: 0, buckets: new Float64Array(BUCKETS), weightedBuckets: new Float64Array(BUCKETS) };
}
export class FleetCounts {
    flushEveryMs;
    graceMs;
    #options;
    #retainSeconds;
    #timeoutMs;
    #now;
    #pushed = new Map();
    #mirrorPushed = new Map();
    #ejectionsPushed = new Map();
    #loop;
    constructor(options) {
        this.#options = options;
        this.flushEveryMs = options.flushEveryMs ?? 1_000;
        this.#loop = new FlushLoop(this.flushEveryMs, (final) => this.flush(final));
        this.graceMs = options.graceMs ?? 1_000;
        this.#retainSeconds = options.retainSeconds ?? 120;
        this.#timeoutMs = options.timeoutMs ?? 2_000;
        this.#now = options.now ?? Date.now;
    }
    start() {
        this.#loop.start();
    }
    stop() {
        return this.#loop.stop();
    }
    async flush(final = false) {
        if (this.#loop.stopped && !final)
            return true;
        await this.#options.collect?.();
        const nowMs = this.#now();
        const current = Math.floor(nowMs / 1000);
        const commands = [];
        const touched = new Map();
        const { fleet, sloWindow } = this.#options;
        const slo = new SloMinuteTally();
        for (const series of this.#options.series.all()) {
            if (series.version !== 'stable' && series.version !== 'canary')
                continue;
            const windowed = this.#options.include?.(series.route) ?? true;
            const counted = sloWindow !== undefined && sloWindow(series.route) !== null;
            const guarded = this.#options.guardrailed?.(series.route) ?? false;
            if (!windowed && !counted && !guarded)
                continue;
            const fields = FIELDS[series.version];
            const mapKey = `${series.route}\n${series.version}`;
            let pushed = this.#pushed.get(mapKey);
            if (pushed === undefined) {
                pushed = new Map();
                this.#pushed.set(mapKey, pushed);
            }
            for (const second of pushed.keys())
                if (second < current - LOOKBACK_SECONDS)
                    pushed.delete(second);
            for (const slot of series.window.slotsBetween(current - LOOKBACK_SECONDS, current - 1)) {
                let done = pushed.get(slot.second);
                if (done === undefined) {
                    done = emptyPushed();
                    pushed.set(slot.second, done);
                }
                if (counted)
                    slo.add(series.route, slot.second, slot.requests - done.requests, slot.sloErrors - done.sloErrors);
                done.sloErrors = Math.max(done.sloErrors, slot.sloErrors);
                if (!windowed && !guarded) {
                    done.requests = Math.max(done.requests, slot.requests);
                    continue;
                }
                const key = windowed ? windowKey(fleet, series.route, slot.second) : null;
                const minuteKey = guarded ? guardrailKey(fleet, series.route, Math.floor(slot.second / 60)) : null;
                const before = commands.length;
                addDeltas(commands, key, minuteKey, fields, slot, done);
                if (commands.length > before) {
                    if (key !== null)
                        touched.set(key, this.#retainSeconds);
                    if (minuteKey !== null)
                        touched.set(minuteKey, GUARDRAIL_RETAIN_SECONDS);
                }
            }
        }
        if (this.#options.mirrors) {
            for (const records of this.#options.mirrors.all()) {
                const { compared, matched } = records.counts();
                const last = this.#mirrorPushed.get(records.route) ?? { compared: 0, matched: 0 };
                const dc = compared >= last.compared ? compared - last.compared : compared;
                const dm = matched >= last.matched ? matched - last.matched : matched;
                this.#mirrorPushed.set(records.route, { compared, matched });
                if (this.#options.include && !this.#options.include(records.route))
                    continue;
                if (dc === 0 && dm === 0)
                    continue;
                const key = windowKey(fleet, records.route, current - 1);
                if (dc !== 0)
                    commands.push(['HINCRBY', key, MIRROR_COMPARED, String(dc)]);
                if (dm !== 0)
                    commands.push(['HINCRBY', key, MIRROR_MATCHED, String(dm)]);
                touched.set(key, this.#retainSeconds);
            }
        }
        const ejections = this.#ejectionGrowth();
        for (const [route, grown] of ejections.grown) {
            const key = windowKey(fleet, route, current - 1);
            commands.push(['HINCRBY', key, EJECTIONS, String(grown)]);
            touched.set(key, this.#retainSeconds);
        }
        for (const [key, seconds] of touched)
            commands.push(['EXPIRE', key, String(seconds)]);
        if (sloWindow)
            commands.push(...slo.commands(fleet, sloWindow));
        if (commands.length === 0) {
            this.#ejectionsPushed = ejections.seen;
            return true;
        }
        const client = this.#options.client;
        try {
            await withTimeout(Promise.all(commands.map((command) => client.sendCommand(command))), this.#timeoutMs);
            this.#ejectionsPushed = ejections.seen;
            return true;
        }
        catch (error) {
            this.#options.logger.warn({ err: error, commands: commands.length }, 'fleet: could not add this member\'s window counts');
            return false;
        }
    }
    #ejectionGrowth() {
        const grown = new Map();
        const seen = new Map();
        for (const guard of this.#options.guards?.() ?? []) {
            const key = `${guard.route}\n${guard.upstream ?? ''}`;
            const last = this.#ejectionsPushed.get(key);
            seen.set(key, guard.ejections);
            const growth = last === undefined || guard.ejections < last ? guard.ejections : guard.ejections - last;
            if (growth <= 0 || (this.#options.include && !this.#options.include(guard.route)))
                continue;
            grown.set(guard.route, (grown.get(guard.route) ?? 0) + growth);
        }
        return { grown, seen };
    }
    newestCompleteSecond(nowMs) {
        return Math.floor((nowMs - this.flushEveryMs - this.graceMs) / 1000) - 1;
    }
    async window(route, version, nowMs, seconds, traffic = 'all') {
        const hashes = await this.#read(route, nowMs, seconds);
        return hashes === null ? null : { seconds: hashes.length, ...sumCounts(hashes, version, traffic) };
    }
    async mirror(route, nowMs, seconds) {
        const hashes = await this.#read(route, nowMs, seconds);
        if (hashes === null)
            return null;
        let compared = 0;
        let matched = 0;
        for (const hash of hashes) {
            compared += num(hash[MIRROR_COMPARED]);
            matched += num(hash[MIRROR_MATCHED]);
        }
        return { compared, matched };
    }
    async guardrailWindow(route, version, nowMs, seconds) {
        const first = Math.floor((nowMs - seconds * 1000) / 60_000);
        const keys = [];
        for (let minute = first; minute <= Math.floor(nowMs / 60_000); minute++)
            keys.push(guardrailKey(this.#options.fleet, route, minute));
        const hashes = await this.#readKeys(keys, route, 'guardrail');
        return hashes === null ? null : { seconds: Math.round((nowMs - first * 60_000) / 1000), ...sumCounts(hashes, version, 'all') };
    }
    async ejections(route, nowMs, seconds, afterSecond = null) {
        const hashes = await this.#read(route, nowMs, seconds);
        if (hashes === null)
            return null;
        const newest = this.newestCompleteSecond(nowMs);
        const oldest = newest - hashes.length + 1;
        let count = 0;
        for (const [index, hash] of hashes.entries())
            if (afterSecond === null || oldest + index > afterSecond)
                count += num(hash[EJECTIONS]);
        return { count, throughSecond: newest };
    }
    async #read(route, nowMs, seconds) {
        const newest = this.newestCompleteSecond(nowMs);
        const span = Math.max(1, Math.floor(seconds));
        const keys = [];
        for (let second = newest - span + 1; second <= newest; second++)
            keys.push(windowKey(this.#options.fleet, route, second));
        return this.#readKeys(keys, route, 'window');
    }
    async #readKeys(keys, route, what) {
        const client = this.#options.client;
        try {
            const replies = await withTimeout(Promise.all(keys.map((key) => client.sendCommand(['HGETALL', key]))), this.#timeoutMs);
            return replies.map(asHash);
        }
        catch (error) {
            this.#options.logger.warn({ err: error, route }, `fleet: could not read the fleet ${what} counts`);
            return null;
        }
    }
}
function sumCounts(hashes, version, traffic) {
    const fields = FIELDS[version];
    const weighted = traffic === 'weighted';
    const bucketFields = weighted ? fields.weightedBuckets : fields.buckets;
    let requests = 0;
    let errors = 0;
    const buckets = new Array(BUCKETS).fill(0);
    for (const hash of hashes) {
        requests += num(hash[weighted ? fields.weightedRequests : fields.requests]);
        errors += num(hash[weighted ? fields.weightedErrors : fields.errors]);
        for (let i = 0; i < BUCKETS; i++)
            buckets[i] += num(hash[bucketFields[i]]);
    }
    return { requests, errors, buckets };
}
function addDeltas(commands, key, minuteKey, fields, slot, done) {
    const push = (field, now, before, everyMinute) => {
        if (now <= before)
            return;
        const delta = String(now - before);
        if (key !== null)
            commands.push(['HINCRBY', key, field, delta]);
        if (everyMinute && minuteKey !== null)
            commands.push(['HINCRBY', minuteKey, field, delta]);
    };
    push(fields.requests, slot.requests, done.requests, true);
    push(fields.errors, slot.errors, done.errors, true);
    push(fields.weightedRequests, slot.weightedRequests, done.weightedRequests, false);
    push(fields.weightedErrors, slot.weightedErrors, done.weightedErrors, false);
    done.requests = Math.max(done.requests, slot.requests);
    done.errors = Math.max(done.errors, slot.errors);
    done.weightedRequests = Math.max(done.weightedRequests, slot.weightedRequests);
    done.weightedErrors = Math.max(done.weightedErrors, slot.weightedErrors);
    for (let i = 0; i < BUCKETS; i++) {
        push(fields.buckets[i], slot.buckets[i], done.buckets[i], true);
        push(fields.weightedBuckets[i], slot.weightedBuckets[i], done.weightedBuckets[i], false);
        done.buckets[i] = Math.max(done.buckets[i], slot.buckets[i]);
        done.weightedBuckets[i] = Math.max(done.weightedBuckets[i], slot.weightedBuckets[i]);
    }
}
function num(value) {
    return value === undefined ? 0 : Number(value);
}
//# sourceMappingURL=fleet-counts.js.map