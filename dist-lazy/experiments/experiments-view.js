import { Counter } from 'prom-client';
import { ConflictError } from '../control/controller.js';
import { SplitgateError } from '../errors.js';
import { FleetUnavailableError } from '../fleet/errors.js';
import { analyseExperiment } from './analysis.js';
import { parseFrozenExperiments } from './experiment-stop.js';
import { evaluateGuardrails, GUARDRAIL_WINDOW_SECONDS, NO_PER_ARM_METRICS, UNREAD_FLEET_GUARDRAILS } from './guardrails.js';
import { ARM_NAMES } from './plan.js';
export function keepFleetStop(deps, key, frozen) {
    deps.controller.saveExperimentStop(key, frozen).then((warning) => deps.events.record({
        actor: frozen.stopped.actor,
        action: 'experiment.stopped',
        after: { experiment: key, users: frozen.arms.map((a) => a.users), fleet: true },
        message: `experiment ${key} stopped on another replica at ${frozen.stopped.at}: totals frozen${warning === null ? '' : `; ${warning}`}`,
    }), () => undefined);
}
export function createExperimentsView(book, store, deps) {
    const now = deps.now ?? Date.now;
    const warnings = [];
    book.restoreStopped(parseFrozenExperiments(deps.controller.runtimeState.experiments, warnings));
    if (warnings.length > 0)
        deps.events.record({ actor: 'splitgate', action: 'state.partly_ignored', message: warnings.join('; ') });
    let fleetWindows = new Map();
    let refreshesStarted = 0;
    let refreshApplied = 0;
    const guardrailsOf = (experiment) => {
        if (experiment.arms !== 'route-split')
            return NO_PER_ARM_METRICS;
        if (deps.fleetCounts) {
            const windows = fleetWindows.get(experiment.route);
            return windows ? evaluateGuardrails(experiment.guardrails, windows.stable, windows.canary) : UNREAD_FLEET_GUARDRAILS;
        }
        const at = now();
        const window = (version) => deps.series.get(experiment.route, version).window.snapshot(at, GUARDRAIL_WINDOW_SECONDS);
        return evaluateGuardrails(experiment.guardrails, window('stable'), window('canary'));
    };
    const report = (key) => {
        const active = store.current;
        const experiment = book.planOf(active.config).all.find((e) => e.key === key);
        const record = book.record(key);
        if (experiment === undefined || record === undefined)
            return undefined;
        const route = active.table.routes.find((r) => r.name === experiment.route);
        const guardrails = record.stopped !== null ? (record.frozenGuardrails ?? guardrailsOf(experiment)) : guardrailsOf(experiment);
        const treatmentPercent = record.frozenTreatmentPercent ?? experiment.flag?.treatmentPercent ?? route?.weight ?? 0;
        const analysed = analyseExperiment(experiment, record, treatmentPercent, guardrails);
        for (const [name, p] of analysed.minimumPValues)
            record.minimumPValues.set(name, p);
        return analysed.report;
    };
    const refresh = async () => {
        const counts = deps.fleetCounts;
        if (!counts)
            return;
        const at = now();
        const started = ++refreshesStarted;
        const routes = new Set(book.planOf(store.current.config).all.filter((e) => e.arms === 'route-split').map((e) => e.route));
        const read = new Map();
        await Promise.all([...routes].map(async (route) => {
            const [stable, canary] = await Promise.all([counts.guardrailWindow(route, 'stable', at, GUARDRAIL_WINDOW_SECONDS), counts.guardrailWindow(route, 'canary', at, GUARDRAIL_WINDOW_SECONDS)]);
            read.set(route, stable !== null && canary !== null ? { stable, canary } : null);
        }));
        if (started < refreshApplied)
            return;
        refreshApplied = started;
        fleetWindows = read;
    };
    const stopExperiment = async (key, actor, refreshFirst) => {
        const experiment = book.planOf(store.current.config).all.find((e) => e.key === key);
        const record = book.record(key);
        if (experiment === undefined || record === undefined)
            throw new SplitgateError('SG_UNKNOWN_EXPERIMENT', `no experiment with key "${key}"`, 404);
        if (record.stopped !== null)
            throw new ConflictError(`experiment "${key}" was stopped at ${record.stopped.at}`);
        if (refreshFirst)
            await refresh();
        assertGuardrailsRead(experiment);
        let warning;
        if (deps.fleet) {
            const outcome = await deps.fleet.stopExperiment(experiment, () => {
                const before = report(key);
                return {
                    stopped: { at: new Date(now()).toISOString(), actor },
                    guardrails: before.guardrails,
                    treatmentPercent: before.arms[1].expectedShare * 100,
                    minimumPValues: Object.fromEntries(record.minimumPValues),
                    evictions: record.evictions,
                    trackedUsers: record.trackedUsers,
                };
            });
            warning = await deps.controller.saveExperimentStop(key, outcome.frozen);
            if (!outcome.won)
                throw new ConflictError(`experiment "${key}" was stopped at ${outcome.frozen.stopped.at} (by ${outcome.frozen.stopped.actor}, in the fleet)`);
        }
        else {
            const before = report(key);
            record.stop({ at: new Date(now()).toISOString(), actor }, before.guardrails, before.arms[1].expectedShare * 100);
            warning = await deps.controller.saveExperimentStop(key, record.freeze());
        }
        const after = report(key);
        deps.events.record({
            actor,
            action: 'experiment.stopped',
            route: experiment.route,
            after: { experiment: key, users: after.arms.map((a) => a.users), verdict: after.verdict },
            message: `experiment ${key} stopped: totals frozen`,
        });
        return warning === null ? after : { ...after, warning };
    };
    const assertGuardrailsRead = (experiment) => {
        if (!deps.fleetCounts || experiment.arms !== 'route-split' || fleetWindows.get(experiment.route))
            return;
        throw new FleetUnavailableError(`the fleet's guardrail counts of route "${experiment.route}" could not be read from Redis: experiment "${experiment.key}" left as it was`);
    };
    const view = {
        refresh,
        list: () => book.planOf(store.current.config).all.flatMap((e) => report(e.key) ?? []),
        get: report,
        stop: (key, actor) => stopExperiment(key, actor, true),
        async ship(key, requested, actor, assertSteerable) {
            await refresh();
            const current = report(key);
            if (current === undefined)
                throw new SplitgateError('SG_UNKNOWN_EXPERIMENT', `no experiment with key "${key}"`, 404);
            if (requested !== undefined && requested !== 'A' && requested !== 'B')
                throw new SplitgateError('SG_INVALID', 'arm must be "A" or "B"', 400);
            const arm = requested ?? current.winner;
            if (arm === null)
                throw new ConflictError(`experiment "${key}" declares no winner (${current.verdict}); name the arm to ship anyway: {"arm": "B"}`);
            if (current.armsFrom === 'route-split')
                assertSteerable(current.route);
            let shippedReport = current;
            if (current.stopped === null) {
                try {
                    shippedReport = await stopExperiment(key, actor, false);
                }
                catch (error) {
                    if (error instanceof ConflictError && deps.fleet && book.record(key)?.stopped)
                        return view.ship(key, requested, actor, assertSteerable);
                    throw error;
                }
            }
            const version = current.arms[arm === 'A' ? 0 : 1].version;
            let shipped;
            let change;
            if (current.flag !== null) {
                shipped = { flag: current.flag, variant: version };
                change = await deps.controller.setFlagOverride(current.flag, { defaultVariant: version }, actor);
            }
            else {
                shipped = { route: current.route, weight: arm === 'B' ? 100 : 0 };
                change = arm === 'B' ? await deps.controller.promote(current.route, actor) : await deps.controller.setWeight(current.route, 0, actor);
            }
            deps.events.record({ actor, action: 'experiment.shipped', route: current.route, after: { experiment: key, arm, ...shipped, verdict: shippedReport.verdict }, message: `experiment ${key}: arm ${arm} (${version}) shipped` });
            return { experiment: key, arm, shipped, report: shippedReport, change };
        },
    };
    return view;
}
export function registerExperimentMetrics(registry, book) {
    const registers = [registry];
    new Counter({
        name: 'splitgate_experiment_users_total',
        help: 'Users exposed to an A/B experiment, each counted once, by experiment and arm (A = control/stable, B = treatment/canary).',
        labelNames: ['experiment', 'arm'],
        registers,
        collect() {
            this.reset();
            for (const experiment of book.plan?.all ?? []) {
                const record = book.record(experiment.key);
                if (record === undefined)
                    continue;
                for (const i of [0, 1])
                    this.inc({ experiment: experiment.key, arm: ARM_NAMES[i] }, record.arms[i].users);
            }
        },
    });
    new Counter({
        name: 'splitgate_experiment_conversions_total',
        help: 'Exposed users who converted (each at most once per conversion), by experiment, arm and conversion.',
        labelNames: ['experiment', 'arm', 'conversion'],
        registers,
        collect() {
            this.reset();
            for (const experiment of book.plan?.all ?? []) {
                const record = book.record(experiment.key);
                if (record === undefined)
                    continue;
                for (const i of [0, 1]) {
                    for (const conversion of experiment.conversions) {
                        this.inc({ experiment: experiment.key, arm: ARM_NAMES[i], conversion: conversion.name }, record.arms[i].conversions.get(conversion.name)?.converters ?? 0);
                    }
                }
            }
        },
    });
}
//# sourceMappingURL=experiments-view.js.map