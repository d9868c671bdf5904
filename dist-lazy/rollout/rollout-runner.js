import { ConflictError } from '../control/controller.js';
import { FencedError } from '../fleet/errors.js';
import { ownGuardState } from '../proxy/canary-guard.js';
import { analysisWindow } from './analysis-window.js';
import { ejectionCheck, evaluateCheck, windowVerdict } from './checks.js';
import { afterInitialization, afterWindow, begin, idleStatus, operatorAction, PHASES, RolloutConflict, stageWait, stageWebhookCheck, } from './machine.js';
import { queryPrometheus } from './prometheus-query.js';
import { paceRollout, readBudget } from './error-budget.js';
import { readPrometheusBudget } from './prometheus-sli.js';
import { SloLedgerBook } from '../metrics/slo-ledger.js';
import { publishBudget, seriesSloSeconds, SloFeed } from '../metrics/slo-feed.js';
import { callWebhook, callWebhooks } from './webhooks.js';
const DEFAULT_PACING = { fastBurn: 'rollback', slowBurn: 'hold', budgetFloor: 25 };
export const DEFAULT_MAX_STALENESS_MS = 60_000;
export class RolloutRunner {
    route;
    spec;
    revision;
    #startWeight;
    #deps;
    #slo;
    #sloFeed;
    #status;
    #timer = null;
    #running = null;
    #stopped = false;
    #mirrorMark = { compared: 0, matched: 0 };
    #ejectionMark = 0;
    #fleetEjectionsThrough = null;
    #fencedEpoch = null;
    #stale = false;
    #budgetRemaining = null;
    #storesInFlight = 0;
    #lastStored;
    constructor(route, spec, revision, startWeight, persisted, deps, slo = null) {
        this.route = route;
        this.#slo = slo;
        this.#sloFeed = deps.sloFeed ?? new SloFeed({ book: deps.sloLedgers ?? new SloLedgerBook(), seconds: seriesSloSeconds(deps.series), now: () => deps.now().getTime(), events: deps.events, logger: deps.logger });
        this.spec = spec;
        this.revision = revision;
        this.#startWeight = startWeight;
        this.#deps = deps;
        this.#status = persisted !== null && persisted.revision === revision ? persisted : idleStatus(revision, startWeight, deps.now());
        this.#lastStored = this.#status;
        this.#markMirror();
        this.#ejectionMark = this.#guard()?.ejections ?? 0;
    }
    get ejectionsSinceWindow() {
        if (this.#deps.fleet && this.#leaderEpoch() === null)
            return 0;
        const guard = this.#guard();
        return guard ? Math.max(0, guard.ejections - this.#ejectionMark) : 0;
    }
    get budgetRemaining() {
        if (this.#deps.fleet && this.#leaderEpoch() === null)
            return null;
        return this.#budgetRemaining;
    }
    get slo() {
        return this.#slo;
    }
    get status() {
        if (this.#deps.fleet && !this.#stopped)
            this.#follow(this.#leaderEpoch() !== null);
        return this.#storesInFlight > 0 ? this.#lastStored : this.#status;
    }
    get decidedStatus() {
        if (this.#deps.fleet && !this.#stopped)
            this.#follow(this.#leaderEpoch() !== null);
        return this.#status;
    }
    async start() {
        if (this.#deps.fleet) {
            this.#publishMetrics();
            this.#schedule(this.#status.phase === 'Idle' || this.#status.phase === 'Initializing' ? 0 : this.spec.interval);
            return;
        }
        this.#publishMetrics();
        if (this.#status.phase === 'Idle') {
            const previous = this.#deps.controller.rolloutState(this.route);
            const transition = begin(this.#status, this.#startWeight, this.#deps.now());
            const effects = previous?.engagedKill ? [{ kind: 'release-kill' }, ...transition.effects] : transition.effects;
            await this.#apply({ status: transition.status, effects });
            this.#schedule(0);
        }
        else if (this.#status.phase === 'Initializing') {
            this.#schedule(0);
        }
        else {
            this.#schedule(this.spec.interval);
        }
    }
    stop() {
        this.#stopped = true;
        if (this.#timer !== null)
            clearTimeout(this.#timer);
        this.#timer = null;
        if (this.#stale)
            this.#setStale(false, 'rollout runner stopped');
    }
    leadershipChanged(leading) {
        if (!this.#deps.fleet || this.#stopped || !leading)
            return;
        this.#follow(false);
        this.#markMirror();
        this.#schedule(this.#status.phase === 'Idle' || this.#status.phase === 'Initializing' ? 0 : this.spec.interval);
    }
    async act(action) {
        let transition;
        if (this.#deps.fleet)
            this.#follow(this.#leaderEpoch() !== null);
        try {
            transition = operatorAction(this.spec, this.#status, action, this.#startWeight, this.#deps.now());
        }
        catch (error) {
            if (error instanceof RolloutConflict)
                throw new ConflictError(error.message);
            throw error;
        }
        await this.#apply(transition);
        if (!isTerminal(this.#status))
            this.#schedule(this.#status.phase === 'Initializing' ? 0 : this.spec.interval);
        return this.#status;
    }
    tick() {
        this.#running ??= this.#tick().finally(() => {
            this.#running = null;
        });
        return this.#running;
    }
    async #tick() {
        if (this.#stopped)
            return;
        const fleet = this.#deps.fleet;
        let epoch = null;
        if (fleet) {
            epoch = this.#leaderEpoch();
            this.#follow(epoch !== null);
            this.#checkStaleness();
            if (epoch === null) {
                this.#markMirror();
                this.#schedule(this.spec.interval);
                return;
            }
        }
        const status = this.#status;
        const route = this.#deps.store.current.table.routes.find((r) => r.name === this.route);
        let next = this.spec.interval;
        try {
            if (fleet && status.phase === 'Idle') {
                const previous = this.#deps.controller.rolloutState(this.route);
                const transition = begin(status, this.#startWeight, this.#deps.now());
                const effects = previous?.engagedKill ? [{ kind: 'release-kill' }, ...transition.effects] : transition.effects;
                await this.#apply({ status: transition.status, effects }, epoch);
                if (this.#status.phase === 'Initializing')
                    next = 0;
                return;
            }
            if (route?.killed && !status.engagedKill && !this.#stale) {
                this.#markMirror();
                return;
            }
            if (status.phase === 'Initializing') {
                const payload = this.#payload();
                const gate = await callWebhooks(this.spec.webhooks, 'confirm-rollout', payload);
                const pre = gate.ok ? await callWebhooks(this.spec.webhooks, 'pre-rollout', payload) : { ok: true, detail: 'not run' };
                if (this.#status.seq !== status.seq || this.#stopped)
                    return;
                await this.#apply(afterInitialization(this.spec, status, { confirmed: gate.ok, detail: gate.detail }, pre, this.#deps.now()), epoch);
                return;
            }
            if (status.phase === 'Progressing' || status.phase === 'AwaitingApproval' || (status.phase === 'Paused' && status.pausedBy === 'inconclusive')) {
                const report = await this.#evaluateWindow();
                if (report === null) {
                    this.#deps.logger.warn({ route: this.route, epoch }, 'rollout: no step, the fleet window counts cannot be read');
                    return;
                }
                let promotion = null;
                const leaving = stageWait(this.spec, { ...status, stageRequests: (status.stageRequests ?? 0) + (report.canaryRequests ?? 0) }, this.#deps.now()) === null && this.spec.stages?.[status.step]?.approval !== true;
                if (report.verdict === 'pass' && status.step === this.spec.steps.length - 1 && leaving) {
                    const gate = await callWebhooks(this.spec.webhooks, 'confirm-promotion', this.#payload());
                    promotion = { confirmed: gate.ok, detail: gate.detail };
                }
                if (this.#status.seq !== status.seq || this.#stopped)
                    return;
                await this.#apply(afterWindow(this.spec, status, report, promotion, this.#deps.now()), epoch);
            }
        }
        catch (error) {
            this.#deps.logger.error({ route: this.route, err: error }, 'rollout tick failed');
        }
        finally {
            if (!this.#stopped && (fleet || !isTerminal(this.#status)))
                this.#schedule(next);
        }
    }
    #leaderEpoch() {
        const fleet = this.#deps.fleet;
        if (!fleet || !fleet.leading())
            return null;
        const epoch = fleet.epoch();
        return epoch === null || epoch === this.#fencedEpoch ? null : epoch;
    }
    #follow(leading) {
        const stored = parsePersistedStatus(this.#deps.controller.rolloutState(this.route));
        if (stored === null || stored === this.#status || stored.revision !== this.revision)
            return;
        if ((leading || this.#storesInFlight > 0) && stored.seq <= this.#status.seq)
            return;
        this.#status = stored;
        this.#publishMetrics();
    }
    #checkStaleness() {
        const fleet = this.#deps.fleet;
        const status = this.#status;
        const limit = Math.max(fleet.maxStalenessMs ?? DEFAULT_MAX_STALENESS_MS, 2 * this.spec.interval);
        const automated = status.phase === 'Initializing' || status.phase === 'Progressing' || status.phase === 'AwaitingApproval' || status.phase === 'Promoting' || (status.phase === 'Paused' && status.pausedBy === 'inconclusive');
        const killed = this.#deps.controller.runtimeState.routes[this.route]?.killed === true;
        const age = this.#deps.now().getTime() - Date.parse(status.updatedAt);
        const stale = automated && !killed && age > limit;
        if (stale === this.#stale)
            return;
        const reason = stale
            ? `rollout status not updated for ${Math.round(age / 1000)} s (maxStaleness ${Math.round(limit / 1000)} s): no leader is watching the canary; its traffic goes to stable on this member`
            : 'rollout status updated again: canary traffic back to the rollout weight';
        this.#setStale(stale, reason);
    }
    #setStale(stale, reason) {
        this.#stale = stale;
        this.#deps.logger.warn({ route: this.route, phase: this.#status.phase, updatedAt: this.#status.updatedAt }, reason);
        this.#deps.events.record({ actor: 'rollout', action: stale ? 'rollout.stale_fallback' : 'rollout.stale_recovered', route: this.route, message: reason });
        try {
            this.#deps.fleet?.fallBack?.(this.route, stale, reason);
        }
        catch (error) {
            this.#deps.logger.error({ route: this.route, err: error }, 'rollout: stale fallback failed');
        }
    }
    async #evaluateWindow() {
        const fleet = this.#deps.fleet;
        if (!fleet)
            await this.#deps.collect?.();
        const { series, mirrors, metrics } = this.#deps;
        const nowMs = this.#deps.now().getTime();
        const { seconds, traffic, checks } = analysisWindow(this.spec, this.#status.step);
        let canary;
        let stable;
        let mirror;
        let ejections = null;
        if (fleet) {
            const mirrored = mirrors.get(this.route) !== undefined && fleet.mirror !== undefined;
            const guarded = this.#guard() !== null && fleet.ejections !== undefined;
            const [fleetCanary, fleetStable, fleetMirror, fleetEjections] = await Promise.all([
                fleet.window(this.route, 'canary', nowMs, seconds, traffic),
                fleet.window(this.route, 'stable', nowMs, seconds, traffic),
                mirrored ? fleet.mirror(this.route, nowMs, seconds) : Promise.resolve(null),
                guarded ? fleet.ejections(this.route, nowMs, seconds, this.#fleetEjectionsThrough) : Promise.resolve(null),
            ]);
            if (fleetCanary === null || fleetStable === null || (mirrored && fleetMirror === null) || (guarded && fleetEjections === null))
                return null;
            canary = fleetCanary;
            stable = fleetStable;
            mirror = fleetMirror;
            if (fleetEjections !== null) {
                ejections = fleetEjections.count;
                this.#fleetEjectionsThrough = fleetEjections.throughSecond;
            }
        }
        else {
            canary = series.get(this.route, 'canary').window.snapshot(nowMs, seconds, traffic);
            stable = series.get(this.route, 'stable').window.snapshot(nowMs, seconds, traffic);
            const summary = mirrors.get(this.route)?.summary();
            mirror = summary ? { compared: summary.compared - this.#mirrorMark.compared, matched: summary.matched - this.#mirrorMark.matched } : null;
            this.#markMirror();
        }
        const queries = {};
        await Promise.all(checks
            .filter((check) => check.prometheus)
            .map(async (check) => {
            queries[check.name] = await queryPrometheus(check.prometheus.address, check.prometheus.query, check.prometheus.timeout);
        }));
        const results = checks.map((check) => evaluateCheck(check, { canary, stable, mirror, queries }, this.spec.minRequests));
        const ejection = this.#ejectionResult(ejections);
        if (ejection !== null)
            results.push(ejection);
        const hooks = this.spec.webhooks.filter((hook) => hook.type === 'rollout');
        const payload = this.#payload();
        for (const [index, hook] of hooks.entries()) {
            const outcome = await callWebhook(hook, payload);
            results.push({ check: `webhook:${hook.name ?? index}`, result: outcome.ok ? 'pass' : 'fail', value: null, threshold: '2xx', sample: { canary: 0 }, detail: outcome.detail });
        }
        const stage = this.spec.stages?.[this.#status.step];
        for (const hook of stage?.webhooks ?? []) {
            const outcome = await callWebhook(hook, payload);
            results.push({ check: stageWebhookCheck(stage.name, hook.name), result: outcome.ok ? 'pass' : 'fail', value: null, threshold: '2xx', sample: { canary: 0 }, detail: outcome.detail });
        }
        for (const result of results)
            metrics.rolloutChecks.inc({ route: this.route, check: result.check, result: result.result });
        const pacing = await this.#pace(nowMs);
        return { at: new Date(nowMs).toISOString(), weight: this.#status.weight, traffic, verdict: windowVerdict(results), results, canaryRequests: canary.requests, ...(pacing === null ? {} : { pacing }) };
    }
    async #pace(nowMs) {
        const slo = this.#slo;
        if (slo === null)
            return null;
        let reading;
        if (slo.sli?.prometheus) {
            const read = await readPrometheusBudget(slo.sli.prometheus, slo);
            if ('error' in read)
                return { action: 'hold', window: null, value: null, reason: `error budget unknown: ${read.error}` };
            reading = read.reading;
        }
        else {
            const ledger = this.#sloFeed.feed(this.route, slo.window, nowMs);
            const fleetCounts = this.#deps.fleet?.slo ? await this.#deps.fleet.slo(this.route, nowMs, slo.window) : undefined;
            if (fleetCounts !== undefined)
                this.#sloFeed.noteFleetCounts(this.route, fleetCounts !== null);
            reading = readBudget(fleetCounts ?? ((spanMs) => ledger.counts(nowMs, spanMs)), slo);
        }
        publishBudget(this.#deps.metrics, this.route, reading);
        this.#budgetRemaining = reading.remaining;
        return paceRollout(reading, this.spec.pacing ?? DEFAULT_PACING);
    }
    async #apply(transition, fenceEpoch = null) {
        const fleet = this.#deps.fleet;
        if (fleet && fenceEpoch !== null && this.#leaderEpoch() !== fenceEpoch) {
            this.#deps.logger.warn({ route: this.route, epoch: fenceEpoch }, 'rollout: step dropped, this member no longer leads');
            return;
        }
        const previous = this.#status;
        this.#status = transition.status;
        if (this.#storesInFlight === 0)
            this.#lastStored = previous;
        this.#storesInFlight++;
        try {
            const stored = await this.#store(transition, previous, fenceEpoch);
            if (stored && transition.status.seq > this.#lastStored.seq)
                this.#lastStored = transition.status;
        }
        finally {
            this.#storesInFlight--;
        }
    }
    async #store(transition, previous, fenceEpoch) {
        const status = transition.status;
        const fleet = this.#deps.fleet;
        const change = {};
        for (const effect of transition.effects) {
            if (effect.kind === 'weight')
                change.weight = effect.weight;
            else if (effect.kind === 'kill')
                change.kill = true;
            else if (effect.kind === 'release-kill')
                change.releaseKill = true;
        }
        if (this.spec.stages !== undefined)
            change.stage = stageInForce(status);
        if (status !== previous || Object.keys(change).length > 0) {
            if (!fleet) {
                await this.#deps.controller.applyRollout(this.route, status, change);
            }
            else {
                const applyRollout = this.#deps.controller.applyRollout.bind(this.#deps.controller);
                try {
                    await applyRollout(this.route, status, change, fenceEpoch !== null ? { fenceEpoch } : undefined);
                }
                catch (error) {
                    if (this.#status === status)
                        this.#status = this.#lastStored;
                    if (fenceEpoch !== null && isFenced(error)) {
                        this.#fencedEpoch = fenceEpoch;
                        this.#deps.logger.warn({ route: this.route, epoch: fenceEpoch }, 'rollout: write refused by the fencing epoch; this member stops acting as leader');
                        fleet.fenced?.(fenceEpoch);
                        return false;
                    }
                    throw error;
                }
            }
        }
        const epochField = fleet ? { epoch: fenceEpoch } : {};
        for (const effect of transition.effects) {
            if (effect.kind === 'event') {
                this.#deps.events.record({ actor: 'rollout', action: effect.action, route: this.route, message: effect.message, after: { phase: status.phase, weight: status.weight, step: status.step + 1, ...epochField }, ...(effect.details !== undefined ? { before: effect.details } : {}) });
                this.#deps.logger.info({ route: this.route, action: effect.action, phase: status.phase, weight: status.weight, ...epochField }, effect.message);
            }
            else if (effect.kind === 'notify') {
                const type = effect.type;
                void callWebhooks(this.spec.webhooks, type, this.#payload(status)).then((outcome) => {
                    if (!outcome.ok)
                        this.#deps.logger.warn({ route: this.route, type, detail: outcome.detail }, 'rollout notification hook failed');
                });
            }
        }
        this.#publishMetrics();
        return true;
    }
    #payload(status = this.#status) {
        return { name: this.route, phase: status.phase, revision: this.revision, weight: status.weight };
    }
    #ejectionResult(counted) {
        const guard = this.#guard();
        if (!guard)
            return null;
        const since = guard.ejections - this.#ejectionMark;
        this.#ejectionMark = guard.ejections;
        return ejectionCheck(guard, counted ?? since);
    }
    #guard() {
        const route = this.#deps.store.current.table.routes.find((r) => r.name === this.route);
        return route === undefined ? null : (this.#deps.guardState ?? ownGuardState)(route);
    }
    #markMirror() {
        const summary = this.#deps.mirrors.get(this.route)?.summary();
        this.#mirrorMark = { compared: summary?.compared ?? 0, matched: summary?.matched ?? 0 };
    }
    #schedule(delayMs) {
        if (this.#stopped)
            return;
        if (this.#timer !== null)
            clearTimeout(this.#timer);
        this.#timer = setTimeout(() => {
            this.#timer = null;
            void this.tick();
        }, delayMs);
        this.#timer.unref();
    }
    #publishMetrics() {
        const { metrics } = this.#deps;
        for (const phase of PHASES)
            metrics.rolloutPhase.set({ route: this.route, phase }, phase === this.#status.phase ? 1 : 0);
        metrics.rolloutStep.set({ route: this.route }, this.#status.step + 1);
    }
}
function isFenced(error) {
    return error instanceof FencedError || error?.code === 'SG_FENCED';
}
function isTerminal(status) {
    return status.phase === 'Succeeded' || status.phase === 'RolledBack' || status.phase === 'Idle' || (status.phase === 'Paused' && (status.pausedBy === 'operator' || status.pausedBy === 'check'));
}
function stageInForce(status) {
    return status.phase === 'Idle' || status.phase === 'Initializing' || status.phase === 'RolledBack' ? -1 : status.step;
}
export function parsePersistedStatus(raw) {
    if (raw === null || typeof raw !== 'object')
        return null;
    const status = raw;
    if (typeof status.revision !== 'string' || !PHASES.includes(status.phase))
        return null;
    if (typeof status.step !== 'number' || typeof status.weight !== 'number' || typeof status.seq !== 'number')
        return null;
    return status;
}
//# sourceMappingURL=rollout-runner.js.map