/**
 * Runs one route's rollout: a timer fires every `interval`, the runner gathers the window's numbers (its own
 * counters, mirror comparisons, Prometheus queries, rollout webhooks), asks the pure machine what comes next and
 * carries out the effects through the controller, so a step, a rollback or a promotion is one atomic table swap
 * plus one persisted state. Ticks never overlap; an answer that arrives after the rollout moved on (an operator
 * abort during a slow webhook) is dropped by its sequence number.
 */
import type { RolloutConfig } from '../config/schema.js';
import type { Controller } from '../control/controller.js';
import { ConflictError } from '../control/controller.js';
import type { EventLog } from '../control/event-log.js';
import type { Logger } from '../log.js';
import type { Metrics, SeriesBook } from '../metrics/metrics.js';
import type { MirrorBook } from '../mirror/mirror-records.js';
import type { TableStore } from '../state/table-store.js';
import { evaluateCheck, windowVerdict, type CheckResult } from './checks.js';
import {
  afterInitialization,
  afterWindow,
  begin,
  idleStatus,
  operatorAction,
  PHASES,
  RolloutConflict,
  type OperatorAction,
  type RolloutStatus,
  type Transition,
  type WindowReport,
} from './machine.js';
import { queryPrometheus } from './prometheus-query.js';
import { callWebhook, callWebhooks, type HookPayload } from './webhooks.js';

export interface RolloutDeps {
  readonly controller: Controller;
  readonly store: TableStore;
  readonly series: SeriesBook;
  readonly mirrors: MirrorBook;
  readonly metrics: Metrics;
  readonly events: EventLog;
  readonly logger: Logger;
  readonly now: () => Date;
  /** Brings in counters kept elsewhere (a supervisor's workers) before a window is judged; bounded, never fails. */
  readonly collect?: () => Promise<void>;
}

export class RolloutRunner {
  readonly route: string;
  readonly spec: RolloutConfig;
  readonly revision: string;
  readonly #startWeight: number;
  readonly #deps: RolloutDeps;
  #status: RolloutStatus;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #stopped = false;
  #mirrorMark = { compared: 0, matched: 0 };
  /** The canary guard's ejection count at the previous window: an ejection since fails the window. */
  #ejectionMark = 0;

  constructor(route: string, spec: RolloutConfig, revision: string, startWeight: number, persisted: RolloutStatus | null, deps: RolloutDeps) {
    this.route = route;
    this.spec = spec;
    this.revision = revision;
    this.#startWeight = startWeight;
    this.#deps = deps;
    // Same revision: resume where it was (a finished rollout stays finished). New revision: start over.
    this.#status = persisted !== null && persisted.revision === revision ? persisted : idleStatus(revision, startWeight, deps.now());
    this.#markMirror();
    this.#ejectionMark = deps.store.current.table.routes.find((r) => r.name === route)?.guard?.ejections ?? 0;
  }

  get status(): RolloutStatus {
    return this.#status;
  }

  /** Starts a new rollout when there is none in progress, and schedules the analysis. */
  async start(): Promise<void> {
    this.#publishMetrics();
    if (this.#status.phase === 'Idle') {
      const previous = this.#deps.controller.rolloutState(this.route) as RolloutStatus | undefined;
      const transition = begin(this.#status, this.#startWeight, this.#deps.now());
      const effects = previous?.engagedKill ? [{ kind: 'release-kill' as const }, ...transition.effects] : transition.effects;
      await this.#apply({ status: transition.status, effects });
      this.#schedule(0);
    } else if (this.#status.phase === 'Initializing') {
      this.#schedule(0);
    } else {
      this.#schedule(this.spec.interval);
    }
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  /** An operator's command; 409 when it conflicts with the phase. */
  async act(action: OperatorAction): Promise<RolloutStatus> {
    let transition: Transition;
    try {
      transition = operatorAction(this.spec, this.#status, action, this.#startWeight, this.#deps.now());
    } catch (error) {
      if (error instanceof RolloutConflict) throw new ConflictError(error.message);
      throw error;
    }
    await this.#apply(transition);
    if (!isTerminal(this.#status)) this.#schedule(this.#status.phase === 'Initializing' ? 0 : this.spec.interval);
    return this.#status;
  }

  /** One analysis step, now; what the timer runs. Exposed for tests and for `await`ing a tick in flight. */
  tick(): Promise<void> {
    this.#running ??= this.#tick().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  async #tick(): Promise<void> {
    if (this.#stopped) return;
    const status = this.#status;
    const route = this.#deps.store.current.table.routes.find((r) => r.name === this.route);
    try {
      if (route?.killed && !status.engagedKill) {
        // An operator's kill switch: the canary gets no traffic, so there is nothing to judge. Hold.
        this.#markMirror();
        return;
      }
      if (status.phase === 'Initializing') {
        const payload = this.#payload();
        const gate = await callWebhooks(this.spec.webhooks, 'confirm-rollout', payload);
        const pre = gate.ok ? await callWebhooks(this.spec.webhooks, 'pre-rollout', payload) : { ok: true, detail: 'not run' };
        if (this.#status.seq !== status.seq || this.#stopped) return;
        await this.#apply(afterInitialization(this.spec, status, { confirmed: gate.ok, detail: gate.detail }, pre, this.#deps.now()));
        return;
      }
      if (status.phase === 'Progressing' || (status.phase === 'Paused' && status.pausedBy === 'inconclusive')) {
        const report = await this.#evaluateWindow();
        let promotion: { confirmed: boolean; detail: string } | null = null;
        if (report.verdict === 'pass' && status.step === this.spec.steps.length - 1) {
          const gate = await callWebhooks(this.spec.webhooks, 'confirm-promotion', this.#payload());
          promotion = { confirmed: gate.ok, detail: gate.detail };
        }
        if (this.#status.seq !== status.seq || this.#stopped) return;
        await this.#apply(afterWindow(this.spec, status, report, promotion, this.#deps.now()));
      }
    } catch (error) {
      this.#deps.logger.error({ route: this.route, err: error }, 'rollout tick failed');
    } finally {
      if (!this.#stopped && !isTerminal(this.#status)) this.#schedule(this.spec.interval);
    }
  }

  async #evaluateWindow(): Promise<WindowReport> {
    await this.#deps.collect?.();
    const { series, mirrors, metrics } = this.#deps;
    const nowMs = this.#deps.now().getTime();
    // The window's slots are whole seconds and the newest one is still filling, so `interval` slots miss up to a
    // second of the interval (with `interval: 1s`, all but the few ms of the current second gone by). One slot
    // more covers at least [now - interval, now]; the window then overlaps the previous one by under a second.
    const seconds = Math.ceil(this.spec.interval / 1000) + 1;
    // By default only weight-placed requests: an override or a pinned rule lets a client choose its version, and
    // its traffic (failing requests sent only to the canary, or cheap 200s) would steer the comparison.
    const traffic = this.spec.analysis.traffic;
    const canary = series.get(this.route, 'canary').window.snapshot(nowMs, seconds, traffic);
    const stable = series.get(this.route, 'stable').window.snapshot(nowMs, seconds, traffic);
    const summary = mirrors.get(this.route)?.summary();
    const mirror = summary ? { compared: summary.compared - this.#mirrorMark.compared, matched: summary.matched - this.#mirrorMark.matched } : null;
    this.#markMirror();

    const queries: Record<string, number | string> = {};
    await Promise.all(
      this.spec.checks
        .filter((check) => check.prometheus)
        .map(async (check) => {
          queries[check.name] = await queryPrometheus(check.prometheus!.address, check.prometheus!.query, check.prometheus!.timeout);
        }),
    );
    const results: CheckResult[] = this.spec.checks.map((check) => evaluateCheck(check, { canary, stable, mirror, queries }, this.spec.minRequests));
    const ejection = this.#ejectionResult();
    if (ejection !== null) results.push(ejection);
    const hooks = this.spec.webhooks.filter((hook) => hook.type === 'rollout');
    const payload = this.#payload();
    for (const [index, hook] of hooks.entries()) {
      const outcome = await callWebhook(hook, payload);
      results.push({ check: `webhook:${hook.name ?? index}`, result: outcome.ok ? 'pass' : 'fail', value: null, threshold: '2xx', sample: { canary: 0 }, detail: outcome.detail });
    }
    for (const result of results) metrics.rolloutChecks.inc({ route: this.route, check: result.check, result: result.result });
    return { at: new Date(nowMs).toISOString(), weight: this.#status.weight, traffic, verdict: windowVerdict(results), results };
  }

  async #apply(transition: Transition): Promise<void> {
    const previous = this.#status;
    this.#status = transition.status;
    const change: { weight?: number; kill?: boolean; releaseKill?: boolean } = {};
    for (const effect of transition.effects) {
      if (effect.kind === 'weight') change.weight = effect.weight;
      else if (effect.kind === 'kill') change.kill = true;
      else if (effect.kind === 'release-kill') change.releaseKill = true;
    }
    if (transition.status !== previous || Object.keys(change).length > 0) {
      await this.#deps.controller.applyRollout(this.route, this.#status, change);
    }
    for (const effect of transition.effects) {
      if (effect.kind === 'event') {
        this.#deps.events.record({ actor: 'rollout', action: effect.action, route: this.route, message: effect.message, after: { phase: this.#status.phase, weight: this.#status.weight, step: this.#status.step + 1 }, ...(effect.details !== undefined ? { before: effect.details } : {}) });
        this.#deps.logger.info({ route: this.route, action: effect.action, phase: this.#status.phase, weight: this.#status.weight }, effect.message);
      } else if (effect.kind === 'notify') {
        const type = effect.type;
        void callWebhooks(this.spec.webhooks, type, this.#payload()).then((outcome) => {
          if (!outcome.ok) this.#deps.logger.warn({ route: this.route, type, detail: outcome.detail }, 'rollout notification hook failed');
        });
      }
    }
    this.#publishMetrics();
  }

  #payload(): HookPayload {
    return { name: this.route, phase: this.#status.phase, revision: this.revision, weight: this.#status.weight };
  }

  /** Outlier ejection fails the window it happened in (or is still in force during); null otherwise. */
  #ejectionResult(): CheckResult | null {
    const guard = this.#deps.store.current.table.routes.find((r) => r.name === this.route)?.guard;
    if (!guard) return null;
    const since = guard.ejections - this.#ejectionMark;
    this.#ejectionMark = guard.ejections;
    if (since <= 0 && !guard.ejected) return null;
    const detail = guard.ejected ? `canary ejected (${guard.unhealthy ? 'failing health checks' : 'outlier detection'})` : `canary ejected ${since} time(s) in the window`;
    return { check: 'outlier-ejection', result: 'fail', value: since, threshold: 'no ejection', sample: { canary: 0 }, detail };
  }

  #markMirror(): void {
    const summary = this.#deps.mirrors.get(this.route)?.summary();
    this.#mirrorMark = { compared: summary?.compared ?? 0, matched: summary?.matched ?? 0 };
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.tick();
    }, delayMs);
    this.#timer.unref();
  }

  #publishMetrics(): void {
    const { metrics } = this.#deps;
    for (const phase of PHASES) metrics.rolloutPhase.set({ route: this.route, phase }, phase === this.#status.phase ? 1 : 0);
    metrics.rolloutStep.set({ route: this.route }, this.#status.step + 1);
  }
}

function isTerminal(status: RolloutStatus): boolean {
  return status.phase === 'Succeeded' || status.phase === 'RolledBack' || status.phase === 'Idle' || (status.phase === 'Paused' && status.pausedBy === 'operator');
}

/** A persisted status, if it has the shape of one; anything else starts over. */
export function parsePersistedStatus(raw: unknown): RolloutStatus | null {
  if (raw === null || typeof raw !== 'object') return null;
  const status = raw as Partial<RolloutStatus>;
  if (typeof status.revision !== 'string' || !PHASES.includes(status.phase as never)) return null;
  if (typeof status.step !== 'number' || typeof status.weight !== 'number' || typeof status.seq !== 'number') return null;
  return status as RolloutStatus;
}
