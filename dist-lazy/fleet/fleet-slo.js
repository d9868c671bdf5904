import { asHash, withTimeout } from './leader-lease.js';
const MINUTE = 60_000;
const HOUR = 3_600_000;
const MINUTES_PER_HOUR = 60;
export const FINAL_AFTER_MS = 5 * MINUTE;
const RETAIN_MARGIN_SECONDS = 2 * 3600;
export function sloKey(fleet, route, hour) {
    return `sg:{${fleet}}:slo:${route}:${hour}`;
}
export function sloWindowOf(config, route) {
    const slo = config.routes.find((r) => r.name === route)?.slo;
    return slo === undefined || slo.sli?.prometheus !== undefined ? null : slo.window;
}
export class SloMinuteTally {
    #counts = new Map();
    add(route, second, requestsDelta, errorsDelta) {
        const requests = Math.max(0, requestsDelta);
        const errors = Math.max(0, errorsDelta);
        if (requests === 0 && errors === 0)
            return;
        const minute = Math.floor(second / 60);
        const id = `${route}\n${minute}`;
        const entry = this.#counts.get(id);
        if (entry === undefined)
            this.#counts.set(id, { route, minute, requests, errors });
        else {
            entry.requests += requests;
            entry.errors += errors;
        }
    }
    commands(fleet, windowMs) {
        const commands = [];
        const expiries = new Map();
        for (const { route, minute, requests, errors } of this.#counts.values()) {
            const window = windowMs(route);
            if (window === null)
                continue;
            const key = sloKey(fleet, route, Math.floor(minute / MINUTES_PER_HOUR));
            if (requests > 0)
                commands.push(['HINCRBY', key, `${minute}:r`, String(requests)]);
            if (errors > 0)
                commands.push(['HINCRBY', key, `${minute}:e`, String(errors)]);
            expiries.set(key, Math.ceil(window / 1000) + RETAIN_MARGIN_SECONDS);
        }
        for (const [key, seconds] of expiries)
            commands.push(['EXPIRE', key, String(seconds)]);
        return commands;
    }
}
export class FleetSloReader {
    #options;
    #finalHours = new Map();
    constructor(options) {
        this.#options = options;
    }
    async countsOver(route, nowMs, windowMs) {
        const firstHour = Math.floor((nowMs - windowMs) / HOUR);
        const lastHour = Math.floor(nowMs / HOUR);
        const hours = new Map();
        const reads = [];
        const sloWindow = this.#options.sloWindow;
        for (const cached of this.#finalHours.keys())
            if (cached !== route && sloWindow?.(cached) === null)
                this.#finalHours.delete(cached);
        let final = this.#finalHours.get(route);
        if (final === undefined) {
            final = new Map();
            this.#finalHours.set(route, final);
        }
        for (const hour of final.keys())
            if (hour < firstHour)
                final.delete(hour);
        for (let hour = firstHour; hour <= lastHour; hour++) {
            const cached = final.get(hour);
            if (cached !== undefined) {
                hours.set(hour, cached);
                continue;
            }
            reads.push(this.#options.client.sendCommand(['HGETALL', sloKey(this.#options.fleet, route, hour)]).then((reply) => {
                const counts = parseHour(reply, hour);
                hours.set(hour, counts);
                if ((hour + 1) * HOUR + FINAL_AFTER_MS <= nowMs)
                    final.set(hour, counts);
            }));
        }
        try {
            await withTimeout(Promise.all(reads), this.#options.timeoutMs ?? 2_000);
        }
        catch (error) {
            this.#options.logger.warn({ err: error, route }, 'fleet: could not read the fleet SLO counts');
            return null;
        }
        return (spanMs) => {
            const last = Math.floor(nowMs / MINUTE);
            const first = Math.floor((nowMs - Math.min(spanMs, windowMs)) / MINUTE) + 1;
            let requests = 0;
            let errors = 0;
            for (let minute = first; minute <= last; minute++) {
                const hour = hours.get(Math.floor(minute / MINUTES_PER_HOUR));
                if (hour === undefined)
                    continue;
                const index = minute % MINUTES_PER_HOUR;
                requests += hour.requests[index];
                errors += hour.errors[index];
            }
            return { requests, errors };
        };
    }
}
function parseHour(reply, hour) {
    const counts = { requests: new Float64Array(MINUTES_PER_HOUR), errors: new Float64Array(MINUTES_PER_HOUR) };
    for (const [field, raw] of Object.entries(asHash(reply))) {
        const match = /^(\d+):([re])$/.exec(field);
        const value = Number(String(raw));
        if (match === null || !Number.isFinite(value))
            continue;
        const index = Number(match[1]) - hour * MINUTES_PER_HOUR;
        if (index < 0 || index >= MINUTES_PER_HOUR)
            continue;
        (match[2] === 'r' ? counts.requests : counts.errors)[index] += value;
    }
    return counts;
}
//# sourceMappingURL=fleet-slo.js.map