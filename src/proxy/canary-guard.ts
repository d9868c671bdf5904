/**
 * What keeps a broken canary from breaking users, per route: passive outlier ejection of the canary (Envoy's
 * consecutive_5xx / consecutive_gateway_failure, base_ejection_time growing with each ejection, capped) and the
 * retry budget that bounds retries to stable (Envoy's retry_budget).
 *
 * A guard is the one piece of mutable state the routing decision reads, like a table's kill switch but without a
 * table swap: an ejection must take effect on the next request, and rebuilding the table (a new generation, a
 * publish to every worker) for every flap would turn a failing canary into a reload storm. So decideRoute stays a
 * pure function of (route, context) plus one number, `admitPercent`, that only this module writes. Guards live in
 * a GuardBook keyed by (route, canary upstream) and outlast table swaps; the data path touches plain fields only.
 *
 * With `workers: N` every worker has its own book: each sees, and ejects on, its own share of the failures.
 */
import type { OutlierConfig, RetryConfig } from '../config/schema.js';

export type GuardPhase = 'closed' | 'ejected' | 'probing';

export interface GuardEvent {
  readonly action: 'upstream.ejected' | 'upstream.restored';
  readonly route: string;
  readonly upstream: string;
  readonly reason: string;
  /** How long this ejection lasts (ms), for `upstream.ejected`. */
  readonly ejectionMs?: number;
  /** When it ends (epoch ms, the guard's clock), for a passive `upstream.ejected`. */
  readonly ejectedUntil?: number;
  readonly ejections: number;
  /** Who decided: the passive outlier detector (ejections, probes, detection turned off) or the active health checks. */
  readonly source: 'detector' | 'checks';
}

/** Why a canary exchange failed, as the outlier detector counts it. */
export const enum Outcome {
  Success = 0,
  /** A 5xx answer, or a failure after connecting (reset, timeout, invalid response). */
  Failure = 1,
  /** No connection (refused, connect timeout, DNS). */
  ConnectFailure = 2,
}

/** Retry conditions as bits, so checking one is a mask. */
export const enum RetryOn {
  ConnectFailure = 1,
  RefusedStream = 2,
  ResetBeforeResponse = 4,
  HeadersTimeout = 8,
  Status503 = 16,
}

const RETRY_ON_BITS: Record<RetryConfig['on'][number], RetryOn> = {
  'connect-failure': RetryOn.ConnectFailure,
  'refused-stream': RetryOn.RefusedStream,
  'reset-before-response': RetryOn.ResetBeforeResponse,
  'headers-timeout': RetryOn.HeadersTimeout,
  '503': RetryOn.Status503,
};

/** A route's retry settings, compiled once per table. */
export interface RetryPolicy {
  readonly on: number;
  readonly methods: ReadonlySet<string>;
  readonly budgetPercent: number;
  readonly minRetryConcurrency: number;
  /** Null: `auto`, the route's requests in flight at the time, at least AUTO_BURST_FLOOR. */
  readonly burst: number | null;
}

/** Canary successes that earn back one spent burst credit: gRPC's default token ratio, 0.1. */
export const SUCCESSES_PER_RETRY_CREDIT = 10;

/** `burst: auto` on a quiet route: what the fixed default was. */
export const AUTO_BURST_FLOOR = 10;

export function compileRetryPolicy(config: RetryConfig | false): RetryPolicy | null {
  if (config === false) return null;
  let on = 0;
  for (const condition of config.on) on |= RETRY_ON_BITS[condition];
  return Object.freeze({ on, methods: new Set(config.methods), budgetPercent: config.budget, minRetryConcurrency: config.minRetryConcurrency, burst: config.burst === 'auto' ? null : config.burst });
}

export interface OutlierSettings {
  readonly consecutive5xx: number;
  readonly consecutiveConnectFailures: number;
  readonly interval: number;
  readonly baseEjectionTime: number;
  readonly maxEjectionTime: number;
  readonly probePercent: number;
}

/** Retries by how they ended, for splitgate_retries_total. */
export interface RetryCounts {
  ok: number;
  failed: number;
  budget_exhausted: number;
}

/**
 * What /status, the dashboard's verdict and a rollout's outlier check read of a route's canary guard: the CanaryGuard
 * itself in the process that proxies; with workers, the supervisor's view of all of theirs (metrics/proxy-deltas.ts).
 */
export interface GuardState {
  readonly phase: GuardPhase;
  readonly ejected: boolean;
  readonly unhealthy: boolean;
  readonly ejections: number;
  /** Epoch ms when the current ejection ends (probing starts), or 0. */
  readonly ejectedUntil: number;
  readonly retries: Readonly<RetryCounts>;
  /** With workers: how many have the canary ejected, of those that reported a guard for the route. */
  readonly workers?: { readonly ejected: number; readonly reporting: number };
}

/** Where those readers find a route's guard state. */
export type GuardStateOf = (route: { readonly name: string; readonly guard: GuardState | null }) => GuardState | null;

/** In the process that proxies: the compiled route's own guard. */
export const ownGuardState: GuardStateOf = (route) => route.guard;

export interface GuardDeps {
  readonly now: () => number;
  readonly emit: (event: GuardEvent) => void;
}

export class CanaryGuard {
  readonly route: string;
  readonly upstream: string;
  /**
   * Canary-routed requests whose bucket % 100 is below this reach the canary: 100 closed, 0 ejected (or unhealthy),
   * `probePercent` while probing. Read by decideRoute.
   */
  admitPercent = 100;
  /** The route's client requests in flight (each counted once, a retry included): the retry budget's base. */
  active = 0;
  activeRetries = 0;
  /** Requests the canary never received, on their way to stable (not bounded by the budget). */
  activeRedirects = 0;
  readonly retries: RetryCounts = { ok: 0, failed: 0, budget_exhausted: 0 };
  /** Ejections since start, for splitgate_upstream_ejections_total and the rollout's window. */
  ejections = 0;
  #phase: GuardPhase = 'closed';
  #settings: OutlierSettings | null;
  #failures = 0;
  #connectFailures = 0;
  /**
   * Burst credits spent past the concurrent retry budget (see takeRetry), counted in successes still to earn back
   * (whole numbers: tenths of a credit would not add back up to exactly one).
   */
  #successesOwed = 0;
  /** Ejections in a row (Envoy's ejection multiplier): each `interval` without one takes one off. */
  #multiplier = 0;
  #lastChange = 0;
  #ejectedUntil = 0;
  #timer: NodeJS.Timeout | null = null;
  #unhealthy = false;
  readonly #deps: GuardDeps;

  constructor(route: string, upstream: string, settings: OutlierSettings | null, deps: GuardDeps) {
    this.route = route;
    this.upstream = upstream;
    this.#settings = settings;
    this.#deps = deps;
  }

  get phase(): GuardPhase {
    return this.#phase;
  }

  /** The canary receives no routed traffic now (ejected, or failing its health checks). */
  get ejected(): boolean {
    return this.admitPercent === 0;
  }

  get unhealthy(): boolean {
    return this.#unhealthy;
  }

  /** Epoch ms when the current ejection ends (probing starts), or 0. */
  get ejectedUntil(): number {
    return this.#phase === 'ejected' ? this.#ejectedUntil : 0;
  }

  /** A reload may change the settings; `null` turns passive ejection off (and ends an ejection in force). */
  configure(settings: OutlierSettings | null): void {
    this.#settings = settings;
    if (settings === null && this.#phase !== 'closed') this.#restore('outlier detection turned off');
  }

  /** A finished canary exchange. Runs per canary response: field writes only unless the canary changes phase. */
  record(outcome: Outcome): void {
    const settings = this.#settings;
    if (settings === null) return;
    if (outcome === Outcome.Success) {
      this.#failures = 0;
      this.#connectFailures = 0;
      if (this.#phase === 'probing') this.#restore('a probe succeeded');
      return;
    }
    if (this.#phase === 'ejected') return;
    if (this.#phase === 'probing') {
      this.#eject('a probe failed');
      return;
    }
    // As Envoy's consecutive_5xx without split local-origin errors: a connect failure counts as a 5xx too.
    if (outcome === Outcome.ConnectFailure) {
      if (++this.#connectFailures >= settings.consecutiveConnectFailures) {
        this.#eject(`${this.#connectFailures} connect failures in a row`);
        return;
      }
    } else {
      this.#connectFailures = 0;
    }
    if (++this.#failures >= settings.consecutive5xx) this.#eject(`${this.#failures} failures (5xx, reset, timeout or connect) in a row`);
  }

  /**
   * A slot in the retry budget, or false when the budget is spent. Envoy: max(min concurrency, budget % of active).
   * Past it, a replay spends one of `burst` credits: a canary that crashes resets every request it was serving at
   * once, more than the concurrent budget, and those users did nothing wrong. A canary failing everywhere earns no
   * credit back, so the burst is paid once and stable's extra load stays bounded. `auto` sizes the burst to the
   * route's requests in flight, which the canary's are part of: a crash can never reset more than that at once (the
   * failed requests are still counted there while their replays are decided); stable would take the canary's share
   * after an ejection anyway.
   */
  takeRetry(policy: RetryPolicy): boolean {
    const allowed = Math.max(policy.minRetryConcurrency, Math.floor((this.active * policy.budgetPercent) / 100));
    if (this.activeRetries >= allowed) {
      const owedAtMost = (policy.burst ?? Math.max(AUTO_BURST_FLOOR, this.active)) * SUCCESSES_PER_RETRY_CREDIT;
      // A burst spent at a busy hour is owed back at most as the burst stands now: a quiet route earns back its own.
      this.#successesOwed = Math.min(this.#successesOwed, owedAtMost);
      if (this.#successesOwed + SUCCESSES_PER_RETRY_CREDIT > owedAtMost) {
        this.retries.budget_exhausted++;
        return false;
      }
      this.#successesOwed += SUCCESSES_PER_RETRY_CREDIT;
    }
    this.activeRetries++;
    return true;
  }

  /** A canary success (placed by the weight) earns back part of a spent burst credit. */
  earnRetryCredit(): void {
    if (this.#successesOwed > 0) this.#successesOwed--;
  }

  /** Burst credits spent and not yet earned back (for /status). */
  get retryCreditSpent(): number {
    return this.#successesOwed / SUCCESSES_PER_RETRY_CREDIT;
  }

  retryEnded(ok: boolean): void {
    this.activeRetries--;
    if (ok) this.retries.ok++;
    else this.retries.failed++;
  }

  /** A request the canary never received, moved to stable outside the budget (counted with the retries). */
  takeRedirect(): void {
    this.activeRedirects++;
  }

  redirectEnded(ok: boolean): void {
    this.activeRedirects--;
    if (ok) this.retries.ok++;
    else this.retries.failed++;
  }

  /** Set by the upstream's active health checks: an unhealthy canary is treated as ejected (not counted as one). */
  setUnhealthy(unhealthy: boolean, reason: string): void {
    if (this.#unhealthy === unhealthy) return;
    this.#unhealthy = unhealthy;
    this.#refresh();
    const action = unhealthy ? 'upstream.ejected' : 'upstream.restored';
    this.#deps.emit({ action, route: this.route, upstream: this.upstream, reason, ejections: this.ejections, source: 'checks' });
  }

  close(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  /**
   * Another worker of this machine ejected the canary for `ejectionMs`, until `untilMs` (epoch ms): hold it ejected
   * here too, as one proxy would (Envoy's outlier detector is process-wide). Not counted as an ejection and no
   * event: the worker that ejected it recorded both. Its ejection count is taken on, so a failed probe here ejects
   * for as long as one there would. An ejection of this worker's own that ends later is kept.
   */
  holdEjected(untilMs: number, ejectionMs: number): void {
    const now = this.#deps.now();
    const settings = this.#settings;
    if (settings === null || untilMs <= now) return;
    // Quiet intervals since this worker's last ejection count first, as its own next ejection would count them.
    if (this.#phase === 'closed') this.#decayMultiplier(settings, now);
    this.#multiplier = Math.max(this.#multiplier, Math.round(ejectionMs / settings.baseEjectionTime));
    if (this.#phase === 'ejected' && this.#ejectedUntil >= untilMs) return;
    this.#phase = 'ejected';
    this.#lastChange = now;
    this.#ejectedUntil = untilMs;
    this.#failures = 0;
    this.#connectFailures = 0;
    this.#refresh();
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#probe(), untilMs - now);
    this.#timer.unref();
  }

  #eject(reason: string): void {
    const settings = this.#settings!;
    const now = this.#deps.now();
    // Envoy: ejection time = base × times ejected, capped; the count decays by one per interval without an ejection.
    if (this.#phase === 'closed') this.#decayMultiplier(settings, now);
    this.#multiplier++;
    const ejectionMs = Math.min(settings.maxEjectionTime, settings.baseEjectionTime * this.#multiplier);
    this.#phase = 'ejected';
    this.#lastChange = now;
    this.#ejectedUntil = now + ejectionMs;
    this.#failures = 0;
    this.#connectFailures = 0;
    this.ejections++;
    this.#refresh();
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#probe(), ejectionMs);
    this.#timer.unref();
    this.#deps.emit({ action: 'upstream.ejected', route: this.route, upstream: this.upstream, reason, ejectionMs, ejectedUntil: this.#ejectedUntil, ejections: this.ejections, source: 'detector' });
  }

  #decayMultiplier(settings: OutlierSettings, now: number): void {
    if (this.#multiplier > 0) this.#multiplier = Math.max(0, this.#multiplier - Math.floor((now - this.#lastChange) / settings.interval));
  }

  #probe(): void {
    this.#timer = null;
    if (this.#phase !== 'ejected') return;
    this.#phase = 'probing';
    this.#refresh();
  }

  #restore(reason: string): void {
    this.close();
    this.#phase = 'closed';
    this.#lastChange = this.#deps.now();
    this.#refresh();
    this.#deps.emit({ action: 'upstream.restored', route: this.route, upstream: this.upstream, reason, ejections: this.ejections, source: 'detector' });
  }

  #refresh(): void {
    if (this.#unhealthy || this.#phase === 'ejected') this.admitPercent = 0;
    else if (this.#phase === 'probing') this.admitPercent = this.#settings?.probePercent ?? 100;
    else this.admitPercent = 100;
  }
}

export function outlierSettings(config: OutlierConfig | false): OutlierSettings | null {
  return config === false ? null : config;
}

/** Guards by (route, canary upstream), kept across table swaps; one per process. */
export class GuardBook {
  readonly #guards = new Map<string, CanaryGuard>();
  readonly #listeners: Array<(event: GuardEvent) => void> = [];
  readonly #deps: GuardDeps;
  /** Upstream names whose health checks currently fail, with why. */
  readonly #unhealthy = new Map<string, string>();

  constructor(emit: (event: GuardEvent) => void = () => undefined, now: () => number = Date.now) {
    this.#deps = { now, emit: (event) => this.#emit(event) };
    this.#listeners.push(emit);
  }

  /** Called for every ejection and restoration (events, logs). */
  onEvent(listener: (event: GuardEvent) => void): void {
    this.#listeners.push(listener);
  }

  /** The guard of `route`'s canary `upstream`, configured with `settings` (the table being compiled). */
  guardFor(route: string, upstream: string, settings: OutlierSettings | null): CanaryGuard {
    const key = `${route}\n${upstream}`;
    let guard = this.#guards.get(key);
    if (guard === undefined) {
      guard = new CanaryGuard(route, upstream, settings, this.#deps);
      const failing = this.#unhealthy.get(upstream);
      if (failing !== undefined) guard.setUnhealthy(true, failing);
      this.#guards.set(key, guard);
    } else {
      guard.configure(settings);
    }
    return guard;
  }

  /** The guard of `route`'s canary `upstream`, if a table has made one. */
  find(route: string, upstream: string): CanaryGuard | undefined {
    return this.#guards.get(`${route}\n${upstream}`);
  }

  /** The health checks of `upstream` changed their verdict: every route whose canary it is follows. */
  setUnhealthy(upstream: string, unhealthy: boolean, reason: string): void {
    if (unhealthy) this.#unhealthy.set(upstream, reason);
    else this.#unhealthy.delete(upstream);
    for (const guard of this.#guards.values()) if (guard.upstream === upstream) guard.setUnhealthy(unhealthy, reason);
  }

  /** Drops guards no table names any more (a route removed, or its canary renamed). */
  retain(keep: ReadonlySet<CanaryGuard>): void {
    for (const [key, guard] of this.#guards) {
      if (!keep.has(guard) && guard.active === 0) {
        guard.close();
        this.#guards.delete(key);
      }
    }
  }

  all(): Iterable<CanaryGuard> {
    return this.#guards.values();
  }

  close(): void {
    for (const guard of this.#guards.values()) guard.close();
  }

  #emit(event: GuardEvent): void {
    for (const listener of this.#listeners) listener(event);
  }
}
