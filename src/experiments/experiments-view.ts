/**
 * What the admin API and the metrics read: the experiments of the config in force, analysed against the route
 * weights in force and the route's per-version window (guardrails). Each read is a look: it updates the running
 * minimum of the always-valid p-values. A stop freezes one experiment's totals and persists them (experiment-stop.ts);
 * with `fleet:` it is stored in Redis first (fleet-experiment-stop.ts), so every replica freezes the same totals.
 */
import { Counter, type Registry } from 'prom-client';
import type { Controller } from '../control/controller.js';
import { ConflictError } from '../control/controller.js';
import type { EventLog } from '../control/event-log.js';
import { SplitgateError } from '../errors.js';
import { FleetUnavailableError } from '../fleet/errors.js';
import type { SeriesBook } from '../metrics/metrics.js';
import type { WindowSnapshot } from '../metrics/rolling-window.js';
import type { TableStore } from '../state/table-store.js';
import { analyseExperiment, type ExperimentReport } from './analysis.js';
import type { ExperimentBook } from './experiment-book.js';
import { parseFrozenExperiments, type FrozenExperiment } from './experiment-stop.js';
import type { FleetStops } from './fleet-experiments.js';
import { evaluateGuardrails, GUARDRAIL_WINDOW_SECONDS, NO_PER_ARM_METRICS, UNREAD_FLEET_GUARDRAILS, type GuardrailReport } from './guardrails.js';
import { ARM_NAMES, type CompiledExperiment } from './plan.js';

export interface ExperimentsView {
  list(): ExperimentReport[];
  /** undefined: no experiment with that key in the config in force. */
  get(key: string): ExperimentReport | undefined;
  /**
   * Freezes the totals (404 unknown key, 409 already stopped, here or anywhere in the fleet; 503 SG_FLEET_UNAVAILABLE
   * when the fleet's Redis does not take the stop, and then nothing is stopped); resolves with the report once persisted.
   */
  stop(key: string, actor: string): Promise<ExperimentReport & { warning?: string }>;
  /**
   * Ships an arm to everyone: the declared winner, or `arm` ("A" or "B") when the operator names one (409 when
   * neither). Stops the experiment first if it runs (the report stays as it was at the ship), then pins the flag's
   * default variant to the arm's (flag arms) or moves the route's weight to the arm's version (route split: B is
   * promoted to 100 %, A sets 0 %). `assertSteerable` refuses a route a rollout is steering.
   */
  ship(key: string, arm: unknown, actor: string, assertSteerable: (route: string) => void): Promise<ShipResult>;
  /** With `fleet:`: reads the fleet's guardrail counts that list and get report (bounded, never fails). */
  refresh(): Promise<void>;
}

export interface ShipResult {
  readonly experiment: string;
  readonly arm: 'A' | 'B';
  /** What changed: the flag pinned to a variant, or the route's weight. */
  readonly shipped: { readonly flag: string; readonly variant: string } | { readonly route: string; readonly weight: number };
  readonly report: ExperimentReport;
  readonly change: unknown;
}

export interface ExperimentsViewDeps {
  readonly series: SeriesBook;
  readonly controller: Controller;
  readonly events: EventLog;
  /** With `fleet:`: where a stop is stored first (fleet-experiments.ts). */
  readonly fleet?: FleetStops | null;
  /**
   * With `fleet:`: every member's traffic per minute (fleet/fleet-counts.ts), which route-split guardrails judge
   * instead of this replica's own share.
   */
  readonly fleetCounts?: { guardrailWindow(route: string, version: 'stable' | 'canary', nowMs: number, seconds: number): Promise<WindowSnapshot | null> } | null;
  readonly now?: () => number;
}

/**
 * Another replica stopped `key` (read from the fleet's Redis, already in the book): kept in this replica's state file
 * too, so a restart that cannot reach Redis still reports it stopped.
 */
export function keepFleetStop(deps: Pick<ExperimentsViewDeps, 'controller' | 'events'>, key: string, frozen: FrozenExperiment): void {
  deps.controller.saveExperimentStop(key, frozen).then(
    (warning) =>
      deps.events.record({
        actor: frozen.stopped.actor,
        action: 'experiment.stopped',
        after: { experiment: key, users: frozen.arms.map((a) => a.users), fleet: true },
        message: `experiment ${key} stopped on another replica at ${frozen.stopped.at}: totals frozen${warning === null ? '' : `; ${warning}`}`,
      }),
    () => undefined,
  );
}

export function createExperimentsView(book: ExperimentBook, store: TableStore, deps: ExperimentsViewDeps): ExperimentsView {
  const now = deps.now ?? Date.now;
  const warnings: string[] = [];
  book.restoreStopped(parseFrozenExperiments(deps.controller.runtimeState.experiments, warnings));
  if (warnings.length > 0) deps.events.record({ actor: 'splitgate', action: 'state.partly_ignored', message: warnings.join('; ') });

  /** The fleet's windows by route, as the last refresh read them; null: they could not be read. */
  let fleetWindows = new Map<string, { stable: WindowSnapshot; canary: WindowSnapshot } | null>();
  let refreshesStarted = 0;
  let refreshApplied = 0;
  const guardrailsOf = (experiment: CompiledExperiment): GuardrailReport => {
    if (experiment.arms !== 'route-split') return NO_PER_ARM_METRICS;
    if (deps.fleetCounts) {
      const windows = fleetWindows.get(experiment.route);
      return windows ? evaluateGuardrails(experiment.guardrails, windows.stable, windows.canary) : UNREAD_FLEET_GUARDRAILS;
    }
    const at = now();
    const window = (version: 'stable' | 'canary') => deps.series.get(experiment.route, version).window.snapshot(at, GUARDRAIL_WINDOW_SECONDS);
    return evaluateGuardrails(experiment.guardrails, window('stable'), window('canary'));
  };
  const report = (key: string): ExperimentReport | undefined => {
    const active = store.current;
    const experiment = book.planOf(active.config).all.find((e) => e.key === key);
    const record = book.record(key);
    if (experiment === undefined || record === undefined) return undefined;
    const route = active.table.routes.find((r) => r.name === experiment.route);
    const guardrails = record.stopped !== null ? (record.frozenGuardrails ?? guardrailsOf(experiment)) : guardrailsOf(experiment);
    // The split users are expected in: as at the stop; else the flag's weights, or the route's weight in force.
    const treatmentPercent = record.frozenTreatmentPercent ?? experiment.flag?.treatmentPercent ?? route?.weight ?? 0;
    const analysed = analyseExperiment(experiment, record, treatmentPercent, guardrails);
    for (const [name, p] of analysed.minimumPValues) record.minimumPValues.set(name, p);
    return analysed.report;
  };
  const refresh = async (): Promise<void> => {
    const counts = deps.fleetCounts;
    if (!counts) return;
    const at = now();
    const started = ++refreshesStarted;
    const routes = new Set(book.planOf(store.current.config).all.filter((e) => e.arms === 'route-split').map((e) => e.route));
    const read = new Map<string, { stable: WindowSnapshot; canary: WindowSnapshot } | null>();
    await Promise.all(
      [...routes].map(async (route) => {
        const [stable, canary] = await Promise.all([counts.guardrailWindow(route, 'stable', at, GUARDRAIL_WINDOW_SECONDS), counts.guardrailWindow(route, 'canary', at, GUARDRAIL_WINDOW_SECONDS)]);
        read.set(route, stable !== null && canary !== null ? { stable, canary } : null);
      }),
    );
    // Two refreshes at once (two admin reads): an older read that ends last does not replace a newer one.
    if (started < refreshApplied) return;
    refreshApplied = started;
    fleetWindows = read;
  };
  /** A stop: with `fleet:`, the guardrails it freezes are judged on the fleet's counts, read now (`refreshFirst`). */
  const stopExperiment = async (key: string, actor: string, refreshFirst: boolean): Promise<ExperimentReport & { warning?: string }> => {
    const experiment = book.planOf(store.current.config).all.find((e) => e.key === key);
    const record = book.record(key);
    if (experiment === undefined || record === undefined) throw new SplitgateError('SG_UNKNOWN_EXPERIMENT', `no experiment with key "${key}"`, 404);
    if (record.stopped !== null) throw new ConflictError(`experiment "${key}" was stopped at ${record.stopped.at}`);
    if (refreshFirst) await refresh();
    assertGuardrailsRead(experiment);
    let warning: string | null;
    if (deps.fleet) {
      const outcome = await deps.fleet.stopExperiment(experiment, () => {
        // After this replica's events are in: the look sees the fleet's totals as the stop freezes them.
        const before = report(key)!;
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
      if (!outcome.won) throw new ConflictError(`experiment "${key}" was stopped at ${outcome.frozen.stopped.at} (by ${outcome.frozen.stopped.actor}, in the fleet)`);
    } else {
      // A last look first, so the frozen running minimum includes the data up to the stop.
      const before = report(key)!;
      record.stop({ at: new Date(now()).toISOString(), actor }, before.guardrails, before.arms[1].expectedShare * 100);
      warning = await deps.controller.saveExperimentStop(key, record.freeze());
    }
    const after = report(key)!;
    deps.events.record({
      actor,
      action: 'experiment.stopped',
      route: experiment.route,
      after: { experiment: key, users: after.arms.map((a) => a.users), verdict: after.verdict },
      message: `experiment ${key} stopped: totals frozen`,
    });
    return warning === null ? after : { ...after, warning };
  };
  /** Nothing is frozen or shipped on guardrails a fleet's Redis did not give (they would read "not judged" for good). */
  const assertGuardrailsRead = (experiment: CompiledExperiment): void => {
    if (!deps.fleetCounts || experiment.arms !== 'route-split' || fleetWindows.get(experiment.route)) return;
    throw new FleetUnavailableError(`the fleet's guardrail counts of route "${experiment.route}" could not be read from Redis: experiment "${experiment.key}" left as it was`);
  };
  const view: ExperimentsView = {
    refresh,
    list: () => book.planOf(store.current.config).all.flatMap((e) => report(e.key) ?? []),
    get: report,
    stop: (key, actor) => stopExperiment(key, actor, true),
    async ship(key, requested, actor, assertSteerable) {
      await refresh();
      const current = report(key);
      if (current === undefined) throw new SplitgateError('SG_UNKNOWN_EXPERIMENT', `no experiment with key "${key}"`, 404);
      if (requested !== undefined && requested !== 'A' && requested !== 'B') throw new SplitgateError('SG_INVALID', 'arm must be "A" or "B"', 400);
      const arm = (requested as 'A' | 'B' | undefined) ?? current.winner;
      if (arm === null) throw new ConflictError(`experiment "${key}" declares no winner (${current.verdict}); name the arm to ship anyway: {"arm": "B"}`);
      if (current.armsFrom === 'route-split') assertSteerable(current.route);
      const version = current.arms[arm === 'A' ? 0 : 1].version;
      // Whatever would refuse the ship is asked before the stop, which is final: a refused ship changes nothing.
      if (current.flag !== null) deps.controller.assertFlagOverride(current.flag, { defaultVariant: version });
      else if (arm === 'B') deps.controller.assertPromotable(current.route);
      let shippedReport = current;
      if (current.stopped === null) {
        try {
          shippedReport = await stopExperiment(key, actor, false);
        } catch (error) {
          // Stopped on another replica meanwhile: ship from its frozen report, as if stopped here before.
          if (error instanceof ConflictError && deps.fleet && book.record(key)?.stopped) return view.ship(key, requested, actor, assertSteerable);
          throw error;
        }
      }
      let shipped: ShipResult['shipped'];
      let change: unknown;
      if (current.flag !== null) {
        shipped = { flag: current.flag, variant: version };
        change = await deps.controller.setFlagOverride(current.flag, { defaultVariant: version }, actor);
      } else {
        shipped = { route: current.route, weight: arm === 'B' ? 100 : 0 };
        change = arm === 'B' ? await deps.controller.promote(current.route, actor) : await deps.controller.setWeight(current.route, 0, actor);
      }
      deps.events.record({ actor, action: 'experiment.shipped', route: current.route, after: { experiment: key, arm, ...shipped, verdict: shippedReport.verdict }, message: `experiment ${key}: arm ${arm} (${version}) shipped` });
      return { experiment: key, arm, shipped, report: shippedReport, change };
    },
  };
  return view;
}

/** `splitgate_experiment_users_total{experiment,arm}` and `splitgate_experiment_conversions_total{experiment,arm,conversion}`. */
export function registerExperimentMetrics(registry: Registry, book: ExperimentBook): void {
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
        if (record === undefined) continue;
        for (const i of [0, 1] as const) this.inc({ experiment: experiment.key, arm: ARM_NAMES[i] }, record.arms[i].users);
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
        if (record === undefined) continue;
        for (const i of [0, 1] as const) {
          for (const conversion of experiment.conversions) {
            this.inc({ experiment: experiment.key, arm: ARM_NAMES[i], conversion: conversion.name }, record.arms[i].conversions.get(conversion.name)?.converters ?? 0);
          }
        }
      }
    },
  });
}
