import { UnknownRouteError, ConflictError } from '../control/controller.js';
import { InvalidRequestError } from '../control/controller.js';
import { OPERATOR_ACTIONS } from './machine.js';
import { SloLedgerBook } from '../metrics/slo-ledger.js';
import { countedSlos, seriesSloSeconds, SloFeed } from '../metrics/slo-feed.js';
import { planView } from './plan-view.js';
import { parsePersistedStatus, RolloutRunner } from './rollout-runner.js';
export function revisionOf(config, routeName) {
    const route = config.routes.find((r) => r.name === routeName);
    return `${config.upstreams[route.canary].url}#${route.rollout?.revision ?? ''}`;
}
export class RolloutManager {
    #deps;
    #runners = new Map();
    #syncing = Promise.resolve();
    #latest = null;
    constructor(deps) {
        const sloLedgers = deps.sloLedgers ?? new SloLedgerBook();
        const sloFeed = new SloFeed({
            book: sloLedgers,
            seconds: seriesSloSeconds(deps.series),
            now: () => deps.now().getTime(),
            metrics: deps.metrics,
            events: deps.events,
            logger: deps.logger,
            ...(deps.fleet ? { fleet: deps.fleet } : {}),
        });
        this.#deps = { ...deps, sloLedgers, sloFeed };
    }
    sync(config) {
        this.#latest = config;
        this.#syncing = this.#syncing.then(() => this.#sync(this.#latest));
        return this.#syncing;
    }
    async #sync(config) {
        this.#deps.sloFeed.track(countedSlos(config.routes));
        const wanted = new Set();
        for (const route of config.routes) {
            if (!route.rollout || route.canary === undefined)
                continue;
            wanted.add(route.name);
            const revision = revisionOf(config, route.name);
            const existing = this.#runners.get(route.name);
            const slo = route.slo ?? null;
            if (existing && existing.revision === revision && JSON.stringify(existing.spec) === JSON.stringify(route.rollout) && JSON.stringify(existing.slo) === JSON.stringify(slo))
                continue;
            existing?.stop();
            const persisted = parsePersistedStatus(this.#deps.controller.rolloutState(route.name));
            const runner = new RolloutRunner(route.name, route.rollout, revision, route.weight, persisted, this.#deps, slo);
            this.#runners.set(route.name, runner);
            await runner.start();
        }
        for (const [name, runner] of this.#runners) {
            if (wanted.has(name))
                continue;
            runner.stop();
            this.#runners.delete(name);
        }
    }
    get(route) {
        return this.#runners.get(route);
    }
    statuses() {
        return Object.fromEntries([...this.#runners].map(([name, runner]) => {
            const plan = planView(runner.spec, runner.status, this.#deps.now());
            return [name, plan === null ? runner.status : { ...runner.status, plan }];
        }));
    }
    plan(route) {
        const runner = this.#runners.get(route);
        if (!runner) {
            if (!this.#deps.controller.config.routes.some((r) => r.name === route))
                throw new UnknownRouteError(route);
            throw new ConflictError(`route "${route}" has no rollout block`);
        }
        const plan = planView(runner.spec, runner.status, this.#deps.now());
        if (plan === null)
            throw new ConflictError(`route "${route}" has a rollout without a release plan (no stages or schedule)`);
        return plan;
    }
    async act(route, action) {
        if (!OPERATOR_ACTIONS.includes(action)) {
            throw new InvalidRequestError(`unknown rollout action "${action}" (one of ${OPERATOR_ACTIONS.join(', ')})`);
        }
        const runner = this.#runners.get(route);
        if (!runner) {
            if (!this.#deps.controller.config.routes.some((r) => r.name === route))
                throw new UnknownRouteError(route);
            throw new ConflictError(`route "${route}" has no rollout block`);
        }
        return runner.act(action);
    }
    leadershipChanged(leading) {
        for (const runner of this.#runners.values())
            runner.leadershipChanged(leading);
    }
    stop() {
        for (const runner of this.#runners.values())
            runner.stop();
        this.#deps.sloFeed.stop();
        return this.#deps.sloLedgers.save();
    }
}
//# sourceMappingURL=rollout-manager.js.map