import { LRUCache } from 'lru-cache';
import { conversionValue, exposureMatches } from './user-state.js';
export const MAX_QUEUED = 100_000;
export const MAX_PENDING = 16;
export class ExperimentEventQueue {
    #reported = new Map();
    #events = [];
    #batch = 0;
    dropped = 0;
    observeKeyed(experiment, user, arm, response, nowMs) {
        let reported = this.#reported.get(experiment.key);
        if (reported === undefined) {
            reported = new LRUCache({ max: experiment.maxUsers });
            this.#reported.set(experiment.key, reported);
        }
        const seen = reported.get(user) ?? { exposure: false, conversions: 0, batch: -1, batchConversions: 0, latestSlots: null };
        let changed = false;
        if (!seen.exposure && exposureMatches(experiment, response)) {
            seen.exposure = true;
            changed = true;
            this.push({ experiment: experiment.key, user, arm, at: nowMs, conversion: null, value: 0 });
        }
        if (seen.batch !== this.#batch) {
            seen.batch = this.#batch;
            seen.batchConversions = 0;
            seen.latestSlots = null;
        }
        for (const conversion of experiment.conversions) {
            const mask = 1 << conversion.bit;
            if ((seen.conversions & mask) !== 0)
                continue;
            const value = conversionValue(conversion, response);
            if (value === undefined)
                continue;
            changed = true;
            const event = { experiment: experiment.key, user, arm, at: nowMs, conversion: conversion.name, value };
            if (seen.exposure)
                seen.conversions |= mask;
            else if ((seen.batchConversions & mask) === 0)
                seen.batchConversions |= mask;
            else {
                const slots = (seen.latestSlots ??= []);
                const slot = slots[conversion.bit];
                if (slot !== undefined)
                    this.#events[slot] = event;
                else if (this.push(event))
                    slots[conversion.bit] = this.#events.length - 1;
                continue;
            }
            this.push(event);
        }
        if (changed)
            reported.set(user, seen);
    }
    push(event) {
        if (this.#events.length >= MAX_QUEUED) {
            this.dropped++;
            return false;
        }
        this.#events.push(event);
        return true;
    }
    take() {
        this.#batch++;
        if (this.#events.length === 0)
            return null;
        const events = this.#events;
        this.#events = [];
        return events;
    }
}
const NO_CHANGES = [];
export function mergeEvent(experiment, user, event) {
    if (event.conversion !== null)
        return { arm: user.arm, exposed: false, changes: considerConversion(experiment, user, event) };
    if (user.exposedAt !== null && event.at >= user.exposedAt)
        return { arm: user.arm, exposed: false, changes: NO_CHANGES };
    const first = user.exposedAt === null;
    user.exposedAt = event.at;
    if (first)
        user.arm = event.arm;
    const changes = [];
    for (const [name, counted] of user.converted) {
        if (withinWindow(experiment, event.at, counted.at))
            continue;
        user.converted.delete(name);
        changes.push({ name, value: counted.value, removed: true });
    }
    const held = user.pending;
    user.pending = null;
    if (held !== null)
        for (const e of held)
            changes.push(...considerConversion(experiment, user, e));
    return { arm: user.arm, exposed: first, changes };
}
function considerConversion(experiment, user, event) {
    const name = event.conversion;
    if (!experiment.conversions.some((c) => c.name === name))
        return NO_CHANGES;
    if (user.exposedAt === null || event.at < user.exposedAt) {
        const pending = (user.pending ??= []);
        if (pending.length >= MAX_PENDING)
            pending.shift();
        pending.push(event);
        return NO_CHANGES;
    }
    if (!withinWindow(experiment, user.exposedAt, event.at))
        return NO_CHANGES;
    const counted = user.converted.get(name);
    if (counted === undefined) {
        user.converted.set(name, { at: event.at, value: event.value });
        return [{ name, value: event.value }];
    }
    if (event.at >= counted.at)
        return NO_CHANGES;
    user.converted.set(name, { at: event.at, value: event.value });
    return [{ name, value: event.value, previous: counted.value }];
}
function withinWindow(experiment, exposedAtMs, atMs) {
    return Math.floor(atMs / 1000) - Math.floor(exposedAtMs / 1000) <= experiment.windowMs / 1000;
}
//# sourceMappingURL=worker-events.js.map