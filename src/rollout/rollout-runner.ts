/**
 * Runs one route's rollout: a timer fires every `interval`, the runner gathers the window's numbers (its own
 * counters, mirror comparisons, Prometheus queries, rollout webhooks), asks the pure machine what comes next and
 * carries out the effects through the controller, so a step, a rollback or a promotion is one atomic table swap
 * plus one persisted state. Ticks never overlap; an answer that arrives after the rollout moved on (an operator
 * abort during a slow webhook) is dropped by its sequence number.
 *
 * In a fleet (`deps.fleet`), every member runs a runner per rollout, but only the elected leader's take steps: a
 * runner that does not lead follows the stored status (the fleet's shared document, applied locally) and takes no
 * step; on becoming leader it resumes from the stored status (its step and weight, never above the weight reached).
 * Each of its writes carries the leader's fencing epoch, checked by the store in the same script as the write; a
 * refusal (SG_FENCED) stops it at once. Windows come from the fleet's counts, and no step is taken while they
 * cannot be read; the error budget comes from the fleet's per-minute counts (this member's own while those cannot be
 * read). Every member also watches the stored status's age: an automated rollout that nobody has moved for
 * longer than `maxStalenessMs` has no live leader watching it, and its canary traffic goes to stable locally.
 */
import type { RolloutConfig } from '../config/schema.js';
import type { Controller } from '../control/controller.js';
import { ConflictError } from '../control/controller.js';
import type { EventLog } from '../control/event-log.js';
import type { Logger } from '../log.js';
import type { Metrics, SeriesBook } from '../metrics/metrics.js';
import type { WindowSnapshot, WindowTraffic } from '../metrics/rolling-window.js';
import type { Version } from '../routing/table.js';
import type { MirrorBook } from '../mirror/mirror-records.js';
import type { TableStore } from '../state/table-store.js';
import { FencedError } from '../fleet/errors.js';
import { ownGuardState, type GuardState, type GuardStateOf } from '../proxy/canary-guard.js';
import { analysisWindow } from './analysis-window.js';
import { ejectionCheck, evaluateCheck, windowVerdict, type CheckResult } from './checks.js';
import {
  afterInitialization,
  afterWindow,
  begin,
  idleStatus,
  operatorAction,
  PHASES,
  RolloutConflict,
  stageWait,
  stageWebhookCheck,
  type OperatorAction,
  type RolloutStatus,
  type Transition,
  type WindowReport,
} from './machine.js';
import { queryPrometheus } from './prometheus-query.js';
import { paceRollout, readBudget, type BudgetReading, type CountsOver, type PacingRules, type PacingVerdict, type SloSpec } from './error-budget.js';
import { readPrometheusBudget } from './prometheus-sli.js';
import { SloLedgerBook } from '../metrics/slo-ledger.js';
import { publishBudget, seriesSloSeconds, SloFeed } from '../metrics/slo-feed.js';
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
  /** Set with `fleet:` (issue 16): leader gating, fenced writes, fleet-wide windows, staleness fallback. */
  readonly fleet?: RolloutFleet;
  /** Where routes with `slo:` keep their long-window counts; one book per process (RolloutManager makes one). */
  readonly sloLedgers?: SloLedgerBook;
  /** Feeds those ledgers (RolloutManager makes one over `sloLedgers`). */
  readonly sloFeed?: SloFeed;
  /** A route's canary guard as this machine sees it (a supervisor: its workers'); the table's own by default. */
  readonly guardState?: GuardStateOf;
}

/** Pacing when a route has `slo:` and its rollout says nothing: the "fast burn rolls back, slow burn holds". */
const DEFAULT_PACING: PacingRules = { fastBurn: 'rollback', slowBurn: 'hold', budgetFloor: 25 };

/** What a fleet member's rollouts need from the fleet (the lease, the fleet counts, a local fallback). */
export interface RolloutFleet {
  /** This member is the rollout leader now (LeaderLease.leading: checks its own deadline). */
  leading(): boolean;
  /** The leader's fencing epoch, null when not leading. */
  epoch(): number | null;
  /** The fleet's counts of (route, version) over complete seconds; null when they cannot be read. */
  window(route: string, version: Version, nowMs: number, seconds: number, traffic: WindowTraffic): Promise<WindowSnapshot | null>;
  /** The fleet's mirror comparisons over the same seconds; null when they cannot be read. */
  mirror?(route: string, nowMs: number, seconds: number): Promise<{ compared: number; matched: number } | null>;
  /**
   * The canary's outlier ejections by any member over the same seconds, after `afterSecond` (the newest second of the
   * previous count, null for all of them), and the newest second read; null when they cannot be read.
   */
  ejections?(route: string, nowMs: number, seconds: number, afterSecond: number | null): Promise<{ count: number; throughSecond: number } | null>;
  /** An automated rollout whose stored status is older than this has nobody watching it. Default 60 s. */
  readonly maxStalenessMs?: number;
  /**
   * Local only (never written to the fleet): `stale` true sends this member's canary traffic of `route` to stable,
   * false stops doing so. Without it, staleness is only logged.
   */
  fallBack?(route: string, stale: boolean, reason: string): void;
  /** A write of ours was fenced: the lease may step down at once rather than at its next renewal. */
  fenced?(epoch: number): void;
  /** The fleet's SLO counts of the route (fleet-slo.ts); null when they cannot be read (pacing then uses local counts). */
  slo?(route: string, nowMs: number, windowMs: number): Promise<CountsOver | null>;
}

export const DEFAULT_MAX_STALENESS_MS = 60_000;

/** Controller.applyRollout with the fleet's fencing option (fleet-state adds it to the controller). */
type ApplyRollout = (route: string, rollout: unknown, change: RolloutChange, options?: { fenceEpoch?: number }) => Promise<unknown>;
type RolloutChange = { weight?: number; kill?: boolean; releaseKill?: boolean; stage?: number };

export class RolloutRunner {
  readonly route: string;
  readonly spec: RolloutConfig;
  readonly revision: string;
  readonly #startWeight: number;
  readonly #deps: RolloutDeps;
  readonly #slo: SloSpec | null;
  readonly #sloFeed: SloFeed;
  #status: RolloutStatus;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #stopped = false;
  #mirrorMark = { compared: 0, matched: 0 };
  /** The canary guard's ejection count at the previous window: an ejection since fails the window. */
  #ejectionMark = 0;
  /** In a fleet: the newest second whose ejections a window of this runner counted (windows overlap by a second). */
  #fleetEjectionsThrough: number | null = null;
  /** An epoch a write of ours was refused under: no more steps under it. */
  #fencedEpoch: number | null = null;
  /** The stale fallback is on for this route (this member asked for it). */
  #stale = false;
  /** Share of the error budget left at the last window (null without `slo:` or before one); the dashboard shows it. */
  #budgetRemaining: number | null = null;
  /**
   * Transitions being stored, and the newest status whose store finished: while any is in flight readers see that
   * one, so a phase shows only once it is stored and its events are in the log (a poller that sees RolledBack and
   * then reads /events finds the rollback there). An operator's command may be stored while a tick's is.
   */
  #storesInFlight = 0;
  #lastStored: RolloutStatus;

  constructor(route: string, spec: RolloutConfig, revision: string, startWeight: number, persisted: RolloutStatus | null, deps: RolloutDeps, slo: SloSpec | null = null) {
    this.route = route;
    this.#slo = slo;
    this.#sloFeed = deps.sloFeed ?? new SloFeed({ book: deps.sloLedgers ?? new SloLedgerBook(), seconds: seriesSloSeconds(deps.series), now: () => deps.now().getTime(), events: deps.events, logger: deps.logger });
    this.spec = spec;
    this.revision = revision;
    this.#startWeight = startWeight;
    this.#deps = deps;
    // Same revision: resume where it was (a finished rollout stays finished). New revision: start over.
    this.#status = persisted !== null && persisted.revision === revision ? persisted : idleStatus(revision, startWeight, deps.now());
    this.#lastStored = this.#status;
    this.#markMirror();
    this.#ejectionMark = this.#guard()?.ejections ?? 0;
  }

  /**
   * Ejections of the canary since this runner's last window, which its next window counts against the canary (the
   * dashboard's verdict shows them). 0 on a fleet member that does not lead: it judges no window.
   */
  get ejectionsSinceWindow(): number {
    if (this.#deps.fleet && this.#leaderEpoch() === null) return 0;
    const guard = this.#guard();
    return guard ? Math.max(0, guard.ejections - this.#ejectionMark) : 0;
  }

  /** Share of the error budget left at this runner's last window; null before one, and on a member that does not lead. */
  get budgetRemaining(): number | null {
    if (this.#deps.fleet && this.#leaderEpoch() === null) return null;
    return this.#budgetRemaining;
  }

  /** The route's SLO this runner paces by (null without `slo:`). */
  get slo(): SloSpec | null {
    return this.#slo;
  }

  get status(): RolloutStatus {
    // A follower reports the stored status as soon as it arrives, not at its next tick.
    if (this.#deps.fleet && !this.#stopped) this.#follow(this.#leaderEpoch() !== null);
    return this.#storesInFlight > 0 ? this.#lastStored : this.#status;
  }

  /**
   * The newest status this runner decided, stored or still being stored: what a manual weight must not fight (a
   * rollout whose start is being stored already steers the route).
   */
  get decidedStatus(): RolloutStatus {
    if (this.#deps.fleet && !this.#stopped) this.#follow(this.#leaderEpoch() !== null);
    return this.#status;
  }

  /** Starts a new rollout when there is none in progress, and schedules the analysis. */
  async start(): Promise<void> {
    if (this.#deps.fleet) {
      // The leader's first tick begins a rollout that is Idle; a follower's first tick follows the stored status.
      this.#publishMetrics();
      this.#schedule(this.#status.phase === 'Idle' || this.#status.phase === 'Initializing' ? 0 : this.spec.interval);
      return;
    }
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
    if (this.#stale) this.#setStale(false, 'rollout runner stopped');
  }

  /**
   * Fleet leadership moved (the lease's onChange). On becoming leader: resume from the stored status, first step
   * after one interval (at once for a rollout not yet past its initialization). Losing it needs nothing here: every
   * tick asks the lease, and every write is fenced.
   */
  leadershipChanged(leading: boolean): void {
    if (!this.#deps.fleet || this.#stopped || !leading) return;
    this.#follow(false);
    this.#markMirror();
    this.#schedule(this.#status.phase === 'Idle' || this.#status.phase === 'Initializing' ? 0 : this.spec.interval);
  }

  /** An operator's command; 409 when it conflicts with the phase. */
  async act(action: OperatorAction): Promise<RolloutStatus> {
    let transition: Transition;
    // In a fleet an operator may call any member: act on the stored status. Operator writes are not fenced (they
    // are an operator's, not the leader's); the store's compare-and-set orders them with the leader's.
    if (this.#deps.fleet) this.#follow(this.#leaderEpoch() !== null);
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
    const fleet = this.#deps.fleet;
    let epoch: number | null = null;
    if (fleet) {
      epoch = this.#leaderEpoch();
      this.#follow(epoch !== null);
      this.#checkStaleness();
      if (epoch === null) {
        // Not the leader: idle, following the stored status (above), so a takeover starts from it.
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
        const previous = this.#deps.controller.rolloutState(this.route) as RolloutStatus | undefined;
        const transition = begin(status, this.#startWeight, this.#deps.now());
        const effects = previous?.engagedKill ? [{ kind: 'release-kill' as const }, ...transition.effects] : transition.effects;
        await this.#apply({ status: transition.status, effects }, epoch);
        if (this.#status.phase === 'Initializing') next = 0;
        return;
      }
      // The stale fallback (ours) looks like a kill switch in the table; it must not hold the analysis that lifts it.
      if (route?.killed && !status.engagedKill && !this.#stale) {
        // An operator's kill switch: the canary gets no traffic, so there is nothing to judge. Hold.
        this.#markMirror();
        return;
      }
      if (status.phase === 'Initializing') {
        const payload = this.#payload();
        const gate = await callWebhooks(this.spec.webhooks, 'confirm-rollout', payload);
        const pre = gate.ok ? await callWebhooks(this.spec.webhooks, 'pre-rollout', payload) : { ok: true, detail: 'not run' };
        if (this.#status.seq !== status.seq || this.#stopped) return;
        await this.#apply(afterInitialization(this.spec, status, { confirmed: gate.ok, detail: gate.detail }, pre, this.#deps.now()), epoch);
        return;
      }
      if (status.phase === 'Progressing' || status.phase === 'AwaitingApproval' || (status.phase === 'Paused' && status.pausedBy === 'inconclusive')) {
        const report = await this.#evaluateWindow();
        if (report === null) {
          this.#deps.logger.warn({ route: this.route, epoch }, 'rollout: no step, the fleet window counts cannot be read');
          return;
        }
        let promotion: { confirmed: boolean; detail: string } | null = null;
        // Asked only when the last step would be left now: not while it bakes or waits for an approval.
        const leaving = stageWait(this.spec, { ...status, stageRequests: (status.stageRequests ?? 0) + (report.canaryRequests ?? 0) }, this.#deps.now()) === null && this.spec.stages?.[status.step]?.approval !== true;
        if (report.verdict === 'pass' && status.step === this.spec.steps.length - 1 && leaving) {
          const gate = await callWebhooks(this.spec.webhooks, 'confirm-promotion', this.#payload());
          promotion = { confirmed: gate.ok, detail: gate.detail };
        }
        if (this.#status.seq !== status.seq || this.#stopped) return;
        await this.#apply(afterWindow(this.spec, status, report, promotion, this.#deps.now()), epoch);
      }
    } catch (error) {
      this.#deps.logger.error({ route: this.route, err: error }, 'rollout tick failed');
    } finally {
      // In a fleet the timer never stops: a follower keeps following, and leadership can move to this member.
      if (!this.#stopped && (fleet || !isTerminal(this.#status))) this.#schedule(next);
    }
  }

  /** The epoch this runner may act under: leading, and not an epoch a write of ours was fenced under. */
  #leaderEpoch(): number | null {
    const fleet = this.#deps.fleet;
    if (!fleet || !fleet.leading()) return null;
    const epoch = fleet.epoch();
    return epoch === null || epoch === this.#fencedEpoch ? null : epoch;
  }

  /**
   * Takes the stored status (the fleet's, applied locally) when it belongs to this revision: always when not
   * leading; when leading, only a newer one (an operator's action through another member), since the leader's own
   * status is what it stored.
   */
  #follow(leading: boolean): void {
    const stored = parsePersistedStatus(this.#deps.controller.rolloutState(this.route));
    if (stored === null || stored === this.#status || stored.revision !== this.revision) return;
    // A leader, and any member with a decision of its own being stored, takes only a newer stored status.
    if ((leading || this.#storesInFlight > 0) && stored.seq <= this.#status.seq) return;
    this.#status = stored;
    this.#publishMetrics();
  }

  #checkStaleness(): void {
    const fleet = this.#deps.fleet!;
    const status = this.#status;
    // A window cannot move the status faster than once an interval, so the limit is at least two of them.
    const limit = Math.max(fleet.maxStalenessMs ?? DEFAULT_MAX_STALENESS_MS, 2 * this.spec.interval);
    const automated = status.phase === 'Initializing' || status.phase === 'Progressing' || status.phase === 'AwaitingApproval' || status.phase === 'Promoting' || (status.phase === 'Paused' && status.pausedBy === 'inconclusive');
    // A stored kill switch already sends the canary's traffic to stable (and holds the rollout, so it ages): nothing
    // to fall back from. The fallback itself is local and never stored, so it does not count here.
    const killed = this.#deps.controller.runtimeState.routes[this.route]?.killed === true;
    const age = this.#deps.now().getTime() - Date.parse(status.updatedAt);
    const stale = automated && !killed && age > limit;
    if (stale === this.#stale) return;
    const reason = stale
      ? `rollout status not updated for ${Math.round(age / 1000)} s (maxStaleness ${Math.round(limit / 1000)} s): no leader is watching the canary; its traffic goes to stable on this member`
      : 'rollout status updated again: canary traffic back to the rollout weight';
    this.#setStale(stale, reason);
  }

  #setStale(stale: boolean, reason: string): void {
    this.#stale = stale;
    this.#deps.logger.warn({ route: this.route, phase: this.#status.phase, updatedAt: this.#status.updatedAt }, reason);
    this.#deps.events.record({ actor: 'rollout', action: stale ? 'rollout.stale_fallback' : 'rollout.stale_recovered', route: this.route, message: reason });
    try {
      this.#deps.fleet?.fallBack?.(this.route, stale, reason);
    } catch (error) {
      this.#deps.logger.error({ route: this.route, err: error }, 'rollout: stale fallback failed');
    }
  }

  async #evaluateWindow(): Promise<WindowReport | null> {
    const fleet = this.#deps.fleet;
    if (!fleet) await this.#deps.collect?.();
    const { series, mirrors, metrics } = this.#deps;
    const nowMs = this.#deps.now().getTime();
    // Shared with the dashboard's verdict (admin/route-insight.ts), which shows what this window judges.
    const { seconds, traffic, checks } = analysisWindow(this.spec, this.#status.step);
    let canary: WindowSnapshot;
    let stable: WindowSnapshot;
    let mirror: { compared: number; matched: number } | null;
    // In a fleet, every member's ejections over the window's seconds; else this process's since the last window.
    let ejections: number | null = null;
    if (fleet) {
      // The fleet's complete seconds: all members' traffic, so the verdict does not depend on which member leads.
      const mirrored = mirrors.get(this.route) !== undefined && fleet.mirror !== undefined;
      const guarded = this.#guard() !== null && fleet.ejections !== undefined;
      const [fleetCanary, fleetStable, fleetMirror, fleetEjections] = await Promise.all([
        fleet.window(this.route, 'canary', nowMs, seconds, traffic),
        fleet.window(this.route, 'stable', nowMs, seconds, traffic),
        mirrored ? fleet.mirror!(this.route, nowMs, seconds) : Promise.resolve(null),
        guarded ? fleet.ejections!(this.route, nowMs, seconds, this.#fleetEjectionsThrough) : Promise.resolve(null),
      ]);
      if (fleetCanary === null || fleetStable === null || (mirrored && fleetMirror === null) || (guarded && fleetEjections === null)) return null;
      canary = fleetCanary;
      stable = fleetStable;
      mirror = fleetMirror;
      if (fleetEjections !== null) {
        ejections = fleetEjections.count;
        this.#fleetEjectionsThrough = fleetEjections.throughSecond;
      }
    } else {
      canary = series.get(this.route, 'canary').window.snapshot(nowMs, seconds, traffic);
      stable = series.get(this.route, 'stable').window.snapshot(nowMs, seconds, traffic);
      const summary = mirrors.get(this.route)?.summary();
      mirror = summary ? { compared: summary.compared - this.#mirrorMark.compared, matched: summary.matched - this.#mirrorMark.matched } : null;
      this.#markMirror();
    }

    const queries: Record<string, number | string> = {};
    await Promise.all(
      checks
        .filter((check) => check.prometheus)
        .map(async (check) => {
          queries[check.name] = await queryPrometheus(check.prometheus!.address, check.prometheus!.query, check.prometheus!.timeout);
        }),
    );
    const results: CheckResult[] = checks.map((check) => evaluateCheck(check, { canary, stable, mirror, queries }, this.spec.minRequests));
    const ejection = this.#ejectionResult(ejections);
    if (ejection !== null) results.push(ejection);
    const hooks = this.spec.webhooks.filter((hook) => hook.type === 'rollout');
    const payload = this.#payload();
    for (const [index, hook] of hooks.entries()) {
      const outcome = await callWebhook(hook, payload);
      results.push({ check: `webhook:${hook.name ?? index}`, result: outcome.ok ? 'pass' : 'fail', value: null, threshold: '2xx', sample: { canary: 0 }, detail: outcome.detail });
    }
    const stage = this.spec.stages?.[this.#status.step];
    for (const hook of stage?.webhooks ?? []) {
      const outcome = await callWebhook(hook, payload);
      results.push({ check: stageWebhookCheck(stage!.name, hook.name), result: outcome.ok ? 'pass' : 'fail', value: null, threshold: '2xx', sample: { canary: 0 }, detail: outcome.detail });
    }
    for (const result of results) metrics.rolloutChecks.inc({ route: this.route, check: result.check, result: result.result });
    const pacing = await this.#pace(nowMs);
    return { at: new Date(nowMs).toISOString(), weight: this.#status.weight, traffic, verdict: windowVerdict(results), results, canaryRequests: canary.requests, ...(pacing === null ? {} : { pacing }) };
  }

  /**
   * The route's error budget now (null without `slo:`). From `sli.prometheus` when set: each window's error ratio
   * queried, and the budget unknown (the stage held) while a query fails. Otherwise from counts: the route's ledger
   * (SloFeed keeps it fed whatever the rollout does; fed up to the last complete second first); in a fleet the
   * fleet's per-minute counts (all members' traffic), or, while Redis cannot be read, this member's ledger.
   */
  async #pace(nowMs: number): Promise<PacingVerdict | null> {
    const slo = this.#slo;
    if (slo === null) return null;
    let reading: BudgetReading;
    if (slo.sli?.prometheus) {
      const read = await readPrometheusBudget(slo.sli.prometheus, slo);
      if ('error' in read) return { action: 'hold', window: null, value: null, reason: `error budget unknown: ${read.error}` };
      reading = read.reading;
    } else {
      const ledger = this.#sloFeed.feed(this.route, slo.window, nowMs);
      const fleetCounts = this.#deps.fleet?.slo ? await this.#deps.fleet.slo(this.route, nowMs, slo.window) : undefined;
      if (fleetCounts !== undefined) this.#sloFeed.noteFleetCounts(this.route, fleetCounts !== null);
      reading = readBudget(fleetCounts ?? ((spanMs) => ledger.counts(nowMs, spanMs)), slo);
    }
    publishBudget(this.#deps.metrics, this.route, reading);
    this.#budgetRemaining = reading.remaining;
    return paceRollout(reading, this.spec.pacing ?? DEFAULT_PACING);
  }

  /**
   * Carries out a transition. `fenceEpoch` (fleet, a leader's own step): the write is fenced with it, and dropped
   * if this member no longer leads under it; null: an operator's action, not fenced.
   */
  async #apply(transition: Transition, fenceEpoch: number | null = null): Promise<void> {
    const fleet = this.#deps.fleet;
    if (fleet && fenceEpoch !== null && this.#leaderEpoch() !== fenceEpoch) {
      this.#deps.logger.warn({ route: this.route, epoch: fenceEpoch }, 'rollout: step dropped, this member no longer leads');
      return;
    }
    const previous = this.#status;
    this.#status = transition.status;
    if (this.#storesInFlight === 0) this.#lastStored = previous;
    this.#storesInFlight++;
    try {
      const stored = await this.#store(transition, previous, fenceEpoch);
      if (stored && transition.status.seq > this.#lastStored.seq) this.#lastStored = transition.status;
    } finally {
      this.#storesInFlight--;
    }
  }

  /**
   * Stores the transition's weight, kill and status, then records its events and sends its notifications. False
   * when a fleet's store refused it (a former leader's write).
   */
  async #store(transition: Transition, previous: RolloutStatus, fenceEpoch: number | null): Promise<boolean> {
    const status = transition.status;
    const fleet = this.#deps.fleet;
    const change: RolloutChange = {};
    for (const effect of transition.effects) {
      if (effect.kind === 'weight') change.weight = effect.weight;
      else if (effect.kind === 'kill') change.kill = true;
      else if (effect.kind === 'release-kill') change.releaseKill = true;
    }
    if (this.spec.stages !== undefined) change.stage = stageInForce(status);
    if (status !== previous || Object.keys(change).length > 0) {
      if (!fleet) {
        await this.#deps.controller.applyRollout(this.route, status, change);
      } else {
        const applyRollout: ApplyRollout = this.#deps.controller.applyRollout.bind(this.#deps.controller);
        try {
          await applyRollout(this.route, status, change, fenceEpoch !== null ? { fenceEpoch } : undefined);
        } catch (error) {
          // Not stored: the newest stored status stays the truth (a later tick follows it). A newer decision made
          // while this one was being stored stays decided (it fails or succeeds on its own).
          if (this.#status === status) this.#status = this.#lastStored;
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
        // This transition's status: an operator's command stored meanwhile may have moved #status on.
        this.#deps.events.record({ actor: 'rollout', action: effect.action, route: this.route, message: effect.message, after: { phase: status.phase, weight: status.weight, step: status.step + 1, ...epochField }, ...(effect.details !== undefined ? { before: effect.details } : {}) });
        this.#deps.logger.info({ route: this.route, action: effect.action, phase: status.phase, weight: status.weight, ...epochField }, effect.message);
      } else if (effect.kind === 'notify') {
        const type = effect.type;
        void callWebhooks(this.spec.webhooks, type, this.#payload(status)).then((outcome) => {
          if (!outcome.ok) this.#deps.logger.warn({ route: this.route, type, detail: outcome.detail }, 'rollout notification hook failed');
        });
      }
    }
    this.#publishMetrics();
    return true;
  }

  #payload(status: RolloutStatus = this.#status): HookPayload {
    return { name: this.route, phase: status.phase, revision: this.revision, weight: status.weight };
  }

  /**
   * Outlier ejection fails the window it happened in (or is still in force here during); null otherwise. `counted`:
   * the fleet's ejections over the window's seconds, which include this member's own once flushed.
   */
  #ejectionResult(counted: number | null): CheckResult | null {
    const guard = this.#guard();
    if (!guard) return null;
    const since = guard.ejections - this.#ejectionMark;
    this.#ejectionMark = guard.ejections;
    return ejectionCheck(guard, counted ?? since);
  }

  #guard(): GuardState | null {
    const route = this.#deps.store.current.table.routes.find((r) => r.name === this.route);
    return route === undefined ? null : (this.#deps.guardState ?? ownGuardState)(route);
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

function isFenced(error: unknown): boolean {
  return error instanceof FencedError || (error as { code?: unknown } | null)?.code === 'SG_FENCED';
}

function isTerminal(status: RolloutStatus): boolean {
  return status.phase === 'Succeeded' || status.phase === 'RolledBack' || status.phase === 'Idle' || (status.phase === 'Paused' && (status.pausedBy === 'operator' || status.pausedBy === 'check'));
}

/** The plan stage whose audiences route to the canary: none before the first step and after a rollback. */
function stageInForce(status: RolloutStatus): number {
  return status.phase === 'Idle' || status.phase === 'Initializing' || status.phase === 'RolledBack' ? -1 : status.step;
}

/** A persisted status, if it has the shape of one; anything else starts over. */
export function parsePersistedStatus(raw: unknown): RolloutStatus | null {
  if (raw === null || typeof raw !== 'object') return null;
  const status = raw as Partial<RolloutStatus>;
  if (typeof status.revision !== 'string' || !PHASES.includes(status.phase as never)) return null;
  if (typeof status.step !== 'number' || typeof status.weight !== 'number' || typeof status.seq !== 'number') return null;
  return status as RolloutStatus;
}
