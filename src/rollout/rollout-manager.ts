/**
 * One RolloutRunner per route that has a `rollout` block, kept in line with the config in force. A runner
 * survives a reload when its route's canary revision (canary upstream URL + `rollout.revision`) and rollout spec
 * are unchanged; a new revision starts a new rollout from the first step, as Flagger does on a new image. It also
 * owns the SLO ledgers and their feed (slo-feed.ts), which count every route with an `slo:`, rollout or not.
 */
import type { Config } from '../config/schema.js';
import { UnknownRouteError, ConflictError } from '../control/controller.js';
import { InvalidRequestError } from '../control/controller.js';
import { OPERATOR_ACTIONS, type OperatorAction, type RolloutStatus } from './machine.js';
import { SloLedgerBook } from '../metrics/slo-ledger.js';
import { countedSlos, seriesSloSeconds, SloFeed } from '../metrics/slo-feed.js';
import { planView, type PlanView } from './plan-view.js';
import { parsePersistedStatus, RolloutRunner, type RolloutDeps } from './rollout-runner.js';

export function revisionOf(config: Config, routeName: string): string {
  const route = config.routes.find((r) => r.name === routeName)!;
  return `${config.upstreams[route.canary!].url}#${route.rollout?.revision ?? ''}`;
}

export class RolloutManager {
  readonly #deps: RolloutDeps;
  readonly #runners = new Map<string, RolloutRunner>();
  #syncing: Promise<void> = Promise.resolve();
  #latest: Config | null = null;

  constructor(deps: RolloutDeps) {
    // One ledger book for all runners, so a reload that replaces a runner keeps its route's error-budget history;
    // one feed keeping it fed for every route with an `slo:`, rollout or not.
    const sloLedgers = deps.sloLedgers ?? new SloLedgerBook();
    // In a fleet it sets the gauges only while this member leads, from the fleet's counts (slo-feed.ts).
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

  /**
   * Brings the runners in line with `config`. Calls are serialized and each one applies the newest config given
   * so far, so two quick reloads can never leave a runner of the older one behind.
   */
  sync(config: Config): Promise<void> {
    this.#latest = config;
    this.#syncing = this.#syncing.then(() => this.#sync(this.#latest!));
    return this.#syncing;
  }

  async #sync(config: Config): Promise<void> {
    this.#deps.sloFeed!.track(countedSlos(config.routes));
    const wanted = new Set<string>();
    for (const route of config.routes) {
      if (!route.rollout || route.canary === undefined) continue;
      wanted.add(route.name);
      const revision = revisionOf(config, route.name);
      const existing = this.#runners.get(route.name);
      const slo = route.slo ?? null;
      if (existing && existing.revision === revision && JSON.stringify(existing.spec) === JSON.stringify(route.rollout) && JSON.stringify(existing.slo) === JSON.stringify(slo)) continue;
      existing?.stop();
      const persisted = parsePersistedStatus(this.#deps.controller.rolloutState(route.name));
      const runner = new RolloutRunner(route.name, route.rollout, revision, route.weight, persisted, this.#deps, slo);
      this.#runners.set(route.name, runner);
      await runner.start();
    }
    for (const [name, runner] of this.#runners) {
      if (wanted.has(name)) continue;
      runner.stop();
      this.#runners.delete(name);
    }
  }

  get(route: string): RolloutRunner | undefined {
    return this.#runners.get(route);
  }

  /** Each rollout's status; a release plan's also carries its timeline (`plan`). */
  statuses(): Record<string, RolloutStatus & { plan?: PlanView }> {
    return Object.fromEntries(
      [...this.#runners].map(([name, runner]) => {
        const plan = planView(runner.spec, runner.status, this.#deps.now());
        return [name, plan === null ? runner.status : { ...runner.status, plan }];
      }),
    );
  }

  /** A route's release plan as a timeline; 404 for an unknown route, 409 for one without a plan. */
  plan(route: string): PlanView {
    const runner = this.#runners.get(route);
    if (!runner) {
      if (!this.#deps.controller.config.routes.some((r) => r.name === route)) throw new UnknownRouteError(route);
      throw new ConflictError(`route "${route}" has no rollout block`);
    }
    const plan = planView(runner.spec, runner.status, this.#deps.now());
    if (plan === null) throw new ConflictError(`route "${route}" has a rollout without a release plan (no stages or schedule)`);
    return plan;
  }

  async act(route: string, action: string): Promise<RolloutStatus> {
    if (!OPERATOR_ACTIONS.includes(action as OperatorAction)) {
      throw new InvalidRequestError(`unknown rollout action "${action}" (one of ${OPERATOR_ACTIONS.join(', ')})`);
    }
    const runner = this.#runners.get(route);
    if (!runner) {
      if (!this.#deps.controller.config.routes.some((r) => r.name === route)) throw new UnknownRouteError(route);
      throw new ConflictError(`route "${route}" has no rollout block`);
    }
    return runner.act(action as OperatorAction);
  }

  /** Fleet leadership moved (wire it to LeaderLease's onChange): a new leader's runners resume from the stored status. */
  leadershipChanged(leading: boolean): void {
    for (const runner of this.#runners.values()) runner.leadershipChanged(leading);
  }

  /** Stops the runners and the SLO feed; resolves once the SLO ledgers are saved (never rejects). */
  stop(): Promise<void> {
    for (const runner of this.#runners.values()) runner.stop();
    this.#deps.sloFeed!.stop();
    return this.#deps.sloLedgers!.save();
  }
}
