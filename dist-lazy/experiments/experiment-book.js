import { hash } from 'node:crypto';
import { compileExperimentPlan } from './plan.js';
import { newCookieId, readExperimentCookie, signExperimentCookie } from './signed-cookie.js';
import { parseReportedConversions, responseCounts, stepUser } from './user-state.js';
import { ExperimentEventQueue, mergeEvent } from './worker-events.js';
import { resolveFlag } from '../flags/flag-set.js';
import { buildFlagContext } from '../flags/route-flags.js';
import { UserLru } from './user-lru.js';
export class ExperimentRecord {
    key;
    maxUsers;
    arms = [newArm(), newArm()];
    minimumPValues = new Map();
    evictions = 0;
    users;
    merged = null;
    fleet = null;
    stopped = null;
    frozenGuardrails = null;
    frozenTreatmentPercent = null;
    #frozenUsers = 0;
    #restoredUsers = 0;
    constructor(key, maxUsers) {
        this.key = key;
        this.maxUsers = maxUsers;
        this.users = new UserLru(maxUsers, this.#removed);
    }
    get trackedUsers() {
        return this.stopped !== null ? this.#frozenUsers : this.users.size + (this.merged?.size ?? 0);
    }
    get totals() {
        return this.fleet ?? this.arms;
    }
    stop(mark, guardrails, treatmentPercent = null) {
        if (this.fleet !== null) {
            this.fleet.forEach((arm, i) => {
                this.arms[i].users = arm.users;
                this.arms[i].conversions.clear();
                for (const [name, totals] of arm.conversions)
                    this.arms[i].conversions.set(name, { ...totals });
            });
            this.fleet = null;
        }
        this.#frozenUsers = this.trackedUsers;
        this.stopped = mark;
        this.frozenGuardrails = guardrails;
        this.frozenTreatmentPercent = treatmentPercent;
        this.users.clear();
        this.merged = null;
    }
    freeze() {
        return {
            stopped: this.stopped,
            arms: this.arms.map((arm) => ({ users: arm.users, conversions: Object.fromEntries(arm.conversions) })),
            minimumPValues: Object.fromEntries(this.minimumPValues),
            evictions: this.evictions,
            trackedUsers: this.#frozenUsers,
            guardrails: this.frozenGuardrails,
            treatmentPercent: this.frozenTreatmentPercent,
        };
    }
    thaw(frozen) {
        this.fleet = null;
        frozen.arms.forEach((arm, i) => {
            this.arms[i].users = arm.users;
            this.arms[i].conversions.clear();
            for (const [name, totals] of Object.entries(arm.conversions))
                this.arms[i].conversions.set(name, { ...totals });
        });
        this.minimumPValues.clear();
        for (const [name, p] of Object.entries(frozen.minimumPValues))
            this.minimumPValues.set(name, p);
        this.evictions = frozen.evictions;
        this.#frozenUsers = frozen.trackedUsers;
        this.stopped = frozen.stopped;
        this.frozenGuardrails = frozen.guardrails;
        this.frozenTreatmentPercent = frozen.treatmentPercent;
        this.users.clear();
        this.merged = null;
    }
    mergedUsers() {
        this.merged ??= new UserLru(this.maxUsers, this.#removed);
        return this.merged;
    }
    #removed = (key, reason) => {
        if (reason === 'evict')
            this.evictions++;
        if (isSavedUserKey(key))
            this.#restoredUsers--;
    };
    userState(key, experiment, response) {
        const known = this.users.get(key);
        if (known !== undefined || this.#restoredUsers === 0 || !responseCounts(experiment, response))
            return known;
        return this.#adopt(this.users, key);
    }
    mergedUser(key) {
        const users = this.mergedUsers();
        return this.#restoredUsers === 0 ? users.get(key) : this.#adopt(users, key);
    }
    #restore(users, key, user) {
        this.#restoredUsers++;
        users.set(key, user);
    }
    #adopt(users, key) {
        const known = users.get(key);
        if (known !== undefined)
            return known;
        const saved = savedUserKey(key);
        const restored = users.get(saved);
        if (restored !== undefined) {
            users.delete(saved);
            users.set(key, restored);
        }
        return restored;
    }
    restoreRunning(saved, users) {
        saved.arms.forEach((arm, i) => {
            this.arms[i].users = arm.users;
            this.arms[i].conversions.clear();
            for (const [name, totals] of Object.entries(arm.conversions))
                this.arms[i].conversions.set(name, { ...totals });
        });
        this.minimumPValues.clear();
        for (const [name, p] of Object.entries(saved.minimumPValues))
            this.minimumPValues.set(name, p);
        if (users.into === 'users')
            for (const [key, user] of users.entries)
                this.#restore(this.users, key, user);
        else
            for (const [key, user] of users.entries)
                this.#restore(this.mergedUsers(), key, user);
        this.evictions += saved.evictions;
    }
    conversion(arm, name) {
        const conversions = this.arms[arm].conversions;
        let totals = conversions.get(name);
        if (totals === undefined) {
            totals = { converters: 0, valueSum: 0, valueSquares: 0 };
            conversions.set(name, totals);
        }
        return totals;
    }
}
function addConversion(record, arm, name, value) {
    const totals = record.conversion(arm, name);
    totals.converters++;
    totals.valueSum += value;
    totals.valueSquares += value * value;
}
function pushAnonymous(queue, experiment, user, step, at) {
    const state = step.state;
    if (state === undefined)
        return;
    if (step.exposed)
        queue.push({ experiment: experiment.key, user, arm: state.arm, at, conversion: null, value: 0 });
    for (const { conversion, value } of step.conversions)
        queue.push({ experiment: experiment.key, user, arm: state.arm, at, conversion: conversion.name, value });
}
export function anonymousUserKey(cookieId) {
    return `~${cookieId}`;
}
function newArm() {
    return { users: 0, conversions: new Map() };
}
export class ExperimentBook {
    #records = new Map();
    #plans = new WeakMap();
    #now;
    #plan = null;
    #queue;
    #fleetQueue = null;
    #frozen = new Map();
    #running = new Map();
    constructor(options = {}) {
        this.#now = options.now ?? Date.now;
        this.#queue = options.reportToSupervisor ? new ExperimentEventQueue() : null;
    }
    takeEvents() {
        return this.#queue?.take() ?? null;
    }
    shareWithFleet() {
        this.#fleetQueue ??= new ExperimentEventQueue();
    }
    takeFleetEvents() {
        return this.#fleetQueue?.take() ?? null;
    }
    get droppedEvents() {
        return this.#queue?.dropped ?? 0;
    }
    applyEvents(events) {
        const plan = this.#plan;
        if (plan === null)
            return;
        for (const event of events) {
            const experiment = plan.all.find((e) => e.key === event.experiment);
            if (experiment === undefined)
                continue;
            const record = this.#recordOf(experiment);
            if (record.stopped !== null)
                continue;
            this.#fleetQueue?.push(event);
            if (event.user === null) {
                if (event.conversion === null)
                    record.arms[event.arm].users++;
                else
                    addConversion(record, event.arm, event.conversion, event.value);
                continue;
            }
            let user = record.mergedUser(event.user);
            if (user === undefined) {
                user = { arm: event.arm, exposedAt: null, converted: new Map(), pending: null };
                record.mergedUsers().set(event.user, user);
            }
            const step = mergeEvent(experiment, user, event);
            if (step.exposed)
                record.arms[step.arm].users++;
            for (const change of step.changes) {
                if (change.previous === undefined && change.removed === undefined) {
                    addConversion(record, step.arm, change.name, change.value);
                    continue;
                }
                const totals = record.conversion(step.arm, change.name);
                if (change.removed) {
                    totals.converters--;
                    totals.valueSum -= change.value;
                    totals.valueSquares -= change.value * change.value;
                    continue;
                }
                const previous = change.previous ?? 0;
                totals.valueSum += change.value - previous;
                totals.valueSquares += change.value * change.value - previous * previous;
            }
        }
    }
    planOf(config) {
        let plan = this.#plans.get(config);
        if (plan === undefined) {
            plan = compileExperimentPlan(config);
            this.#plans.set(config, plan);
            for (const experiment of plan.all)
                this.#recordOf(experiment);
        }
        this.#plan = plan;
        return plan;
    }
    get plan() {
        return this.#plan;
    }
    record(key) {
        return this.#records.get(key);
    }
    restoreStopped(frozen) {
        for (const [key, value] of frozen) {
            this.#frozen.set(key, value);
            this.#records.get(key)?.thaw(value);
        }
    }
    restoreRunning(saved) {
        for (const [key, restore] of saved) {
            const experiment = this.#plan?.all.find((e) => e.key === key);
            const record = this.#records.get(key);
            if (experiment === undefined || record === undefined)
                this.#running.set(key, restore);
            else if (record.stopped === null && !this.#frozen.has(key))
                restore(experiment, record);
        }
    }
    begin(config, route, version, stickyKey, method, url, cookieHeader, flagSet = null, routed = null) {
        if (config.experiments.length === 0)
            return null;
        const plan = this.planOf(config);
        const experiments = plan.byRoute.get(route);
        if (experiments === undefined)
            return null;
        const byVersion = plan.versionArms.get(route)[version === 'canary' ? 1 : 0];
        const arms = plan.flagRoutes.has(route) ? flagArms(experiments, byVersion, flagSet, routed) : byVersion;
        const query = url.indexOf('?');
        return new ExperimentVisit(this, plan, experiments, arms, boundedUserKey(stickyKey), method, query === -1 ? url : url.slice(0, query), cookieHeader);
    }
    observeKeyed(experiment, userKey, arm, response) {
        if (this.#queue !== null) {
            this.#queue.observeKeyed(experiment, userKey, arm, response, this.#now());
            return;
        }
        const record = this.#recordOf(experiment);
        if (record.stopped !== null)
            return;
        const before = record.userState(userKey, experiment, response);
        const step = stepUser(experiment, before, arm, response, Math.floor(this.#now() / 1000));
        if (step.state !== before && step.state !== undefined)
            record.users.set(userKey, step.state);
        this.#apply(record, step.state, step.exposed, step.conversions);
        this.#fleetQueue?.observeKeyed(experiment, userKey, arm, response, this.#now());
    }
    observeAnonymous(experiment, before, arm, response, cookieId) {
        const record = this.#recordOf(experiment);
        if (record.stopped !== null)
            return before;
        const user = anonymousUserKey(cookieId);
        if (this.#queue !== null) {
            const step = stepUser(experiment, before, arm, response, Math.floor(this.#now() / 1000));
            pushAnonymous(this.#queue, experiment, user, step, this.#now());
            return step.state;
        }
        const remembered = record.userState(user, experiment, response);
        const step = stepUser(experiment, remembered ?? before, arm, response, Math.floor(this.#now() / 1000));
        if (step.state !== undefined && step.state !== remembered)
            record.users.set(user, step.state);
        this.#apply(record, step.state, step.exposed, step.conversions);
        if (this.#fleetQueue !== null)
            pushAnonymous(this.#fleetQueue, experiment, user, step, this.#now());
        return step.state;
    }
    #apply(record, state, exposed, conversions) {
        if (state === undefined)
            return;
        if (exposed)
            record.arms[state.arm].users++;
        for (const { conversion, value } of conversions)
            addConversion(record, state.arm, conversion.name, value);
    }
    #recordOf(experiment) {
        let record = this.#records.get(experiment.key);
        if (record === undefined) {
            record = new ExperimentRecord(experiment.key, experiment.maxUsers);
            const frozen = this.#frozen.get(experiment.key);
            if (frozen !== undefined)
                record.thaw(frozen);
            this.#records.set(experiment.key, record);
            const running = this.#running.get(experiment.key);
            this.#running.delete(experiment.key);
            if (running !== undefined && frozen === undefined)
                running(experiment, record);
        }
        return record;
    }
}
export class ExperimentVisit {
    book;
    plan;
    experiments;
    arms;
    userKey;
    method;
    path;
    cookieHeader;
    constructor(book, plan, experiments, arms, userKey, method, path, cookieHeader) {
        this.book = book;
        this.plan = plan;
        this.experiments = experiments;
        this.arms = arms;
        this.userKey = userKey;
        this.method = method;
        this.path = path;
        this.cookieHeader = cookieHeader;
    }
    responded(status, headers) {
        const reported = takeConversionHeader(headers, this.plan.conversionHeader);
        const response = { method: this.method, path: this.path, status, reported };
        if (this.userKey !== null) {
            for (let i = 0; i < this.experiments.length; i++) {
                const arm = this.arms[i];
                if (arm !== null)
                    this.book.observeKeyed(this.experiments[i], this.userKey, arm, response);
            }
            return null;
        }
        const secret = this.plan.cookieSecret;
        if (secret === null)
            return null;
        const cookie = readExperimentCookie(cookieValue(this.cookieHeader, this.plan.cookieName), secret);
        const states = cookie.states;
        const id = cookie.id ?? newCookieId();
        let changed = cookie.id === null && states.size > 0;
        for (let i = 0; i < this.experiments.length; i++) {
            const experiment = this.experiments[i];
            const arm = this.arms[i];
            if (arm === null)
                continue;
            const before = states.get(experiment.key);
            const after = this.book.observeAnonymous(experiment, before, arm, response, id);
            if (after !== undefined && (before === undefined || after.converted !== before.converted || after.exposedAt !== before.exposedAt || after.arm !== before.arm)) {
                states.set(experiment.key, after);
                changed = true;
            }
        }
        if (!changed)
            return null;
        for (const key of states.keys())
            if (!this.plan.all.some((e) => e.key === key))
                states.delete(key);
        return `${this.plan.cookieName}=${signExperimentCookie(states, secret, id)}; Max-Age=${this.plan.cookieMaxAgeSeconds}; Path=/; HttpOnly; SameSite=Lax`;
    }
}
function flagArms(experiments, byVersion, flagSet, routed) {
    const routeFlags = routed?.route.flags ?? null;
    const context = routeFlags === null ? null : buildFlagContext(routeFlags, routed.context, routed.claims);
    return experiments.map((experiment, i) => {
        if (experiment.flag === null)
            return byVersion[i];
        const flag = flagSet?.flags.get(experiment.flag.key);
        if (flag === undefined || context === null)
            return null;
        const outcome = resolveFlag(flag, context);
        if (outcome.reason !== 'SPLIT')
            return null;
        return outcome.variant === experiment.flag.variants[0] ? 0 : outcome.variant === experiment.flag.variants[1] ? 1 : null;
    });
}
function takeConversionHeader(headers, name) {
    let joined = null;
    for (let i = headers.length - 2; i >= 0; i -= 2) {
        if (headers[i].length !== name.length || headers[i].toLowerCase() !== name)
            continue;
        joined = joined === null ? headers[i + 1] : `${headers[i + 1]},${joined}`;
        headers.splice(i, 2);
    }
    return joined === null ? null : parseReportedConversions(joined);
}
function cookieValue(header, name) {
    if (header === undefined)
        return undefined;
    for (const part of header.split(';')) {
        const eq = part.indexOf('=');
        if (eq !== -1 && part.slice(0, eq).trim() === name)
            return part.slice(eq + 1).trim();
    }
    return undefined;
}
export const MAX_STORED_KEY_LENGTH = 64;
export function boundedUserKey(key) {
    if (key === null || key.length <= MAX_STORED_KEY_LENGTH)
        return key;
    return `#${keyDigest(key).toString('base64url')}`;
}
export function savedUserKey(key) {
    return `\0${keyDigest(key).toString('latin1', 0, 8)}`;
}
export function keyDigest(key) {
    return hash('sha256', Buffer.from(key, 'latin1'), 'buffer');
}
export function isSavedUserKey(key) {
    return key.charCodeAt(0) === 0;
}
//# sourceMappingURL=experiment-book.js.map