/**
 * Keeps the SLO ledgers of the routes whose `slo:` is counted by splitgate fed, whatever their rollout is doing (none,
 * finished, paused, progressing): a pass about once a second adds each route's per-second requests and errors that
 * are not in its ledger yet, asks the book to save (it does so about once a minute), and, in a single process or a
 * supervisor, sets the burn-rate and budget gauges. Never per request: a pass reads the few newest seconds of the
 * rolling windows the data path already keeps.
 *
 * A second's counts can still grow after the second ended (a supervisor's workers ship theirs about once a second),
 * so a pass looks back LATE_SECONDS behind the last second it fed and adds only what grew since (what it added per
 * second is kept that long). A rollout window feeds its route first (feed()), so its reading is up to the second.
 *
 * In a fleet the gauges are the fleet's, and only the rollout leader sets them: every member pushes its SLO counts
 * to Redis (fleet-counts.ts, every route with `slo:`, rollout or not), and the leader's pass reads them back
 * (fleet-slo.ts), in the background, and sets the gauges from all members' traffic, as its rollout windows do for
 * pacing. One member exports, so there is one series per route and window (after a takeover, the new leader's; a
 * member that stops leading withdraws its own). While the fleet's counts cannot be read the leader's gauges come
 * from its own ledger (logged, event `slo.local_counts`, then `slo.fleet_counts` when back).
 */
import type { RouteConfig } from '../config/schema.js';
import type { EventLog } from '../control/event-log.js';
import type { Logger } from '../log.js';
import { pairsFor, readBudget, type BudgetReading, type CountsOver, type SloSpec } from '../rollout/error-budget.js';
import { formatDuration } from '../rollout/machine.js';
import type { Metrics, SeriesBook } from './metrics.js';
import { SLOTS } from './rolling-window.js';
import type { SloLedger, SloLedgerBook, SloLedgerEntry } from './slo-ledger.js';

/** How far behind the last second fed a pass looks for counts that arrived late. */
export const LATE_SECONDS = 5;

export interface SecondCounts {
  readonly second: number;
  readonly requests: number;
  /** The requests that count against the SLO (bad events). */
  readonly errors: number;
}

/**
 * A route's requests and errors per unix second, for the seconds `fromSecond`..`toSecond` that hold any. Where a
 * route's good and bad events come from: the one place to change what counts as an error.
 */
export type SloSeconds = (route: string, fromSecond: number, toSecond: number) => Iterable<SecondCounts>;

/**
 * The SLI from the rolling windows: both versions, all traffic (overrides and pinned rules too); an error is what
 * the route's `slo.sli.errors` selects (5xx by default; a response cut short by the upstream always), see
 * sli-errors.ts.
 */
export function seriesSloSeconds(series: SeriesBook): SloSeconds {
  return (route, fromSecond, toSecond) => {
    const bySecond = new Map<number, { second: number; requests: number; errors: number }>();
    for (const version of ['stable', 'canary'] as const) {
      for (const slot of series.find(route, version)?.window.slotsBetween(fromSecond, toSecond) ?? []) {
        const counts = bySecond.get(slot.second);
        if (counts === undefined) bySecond.set(slot.second, { second: slot.second, requests: slot.requests, errors: slot.sloErrors });
        else {
          counts.requests += slot.requests;
          counts.errors += slot.sloErrors;
        }
      }
    }
    return bySecond.values();
  };
}

/** The routes whose budget comes from splitgate's own counts (`slo:` without a Prometheus SLI), by name. */
export function countedSlos(routes: ReadonlyArray<Pick<RouteConfig, 'name' | 'slo'>>): Map<string, SloSpec> {
  return new Map(routes.filter((route) => route.slo !== undefined && route.slo.sli?.prometheus === undefined).map((route) => [route.name, route.slo!]));
}

/** Sets the route's burn-rate gauges (each pair's windows) and budget gauge from a reading. */
export function publishBudget(metrics: Metrics, route: string, reading: BudgetReading): void {
  for (const pair of reading.pairs) {
    const [long, short] = pair.windows.split('/');
    if (pair.longRate !== null) metrics.sloBurnRate.set({ route, window: long }, pair.longRate);
    if (pair.shortRate !== null) metrics.sloBurnRate.set({ route, window: short }, pair.shortRate);
  }
  if (reading.remaining !== null) metrics.sloErrorBudgetRemaining.set({ route }, reading.remaining);
}

export interface SloFeedOptions {
  readonly book: SloLedgerBook;
  readonly seconds: SloSeconds;
  /** Wall clock, ms. */
  readonly now: () => number;
  /** Pass period. Default 1000 ms. */
  readonly everyMs?: number;
  /** Gauges set at most this often (a reading of a 90-day window takes about 0.6 ms). Default 5000 ms. */
  readonly publishEveryMs?: number;
  /** Gauges set after a pass (with `fleet`, only while this member leads, from the fleet's counts). */
  readonly metrics?: Metrics;
  /** In a fleet: who leads, and the fleet's counts (RolloutFleet's `leading` and `slo`). */
  readonly fleet?: SloFleetSource;
  /** Where the switches between the fleet's counts and this member's own are recorded. */
  readonly events?: EventLog;
  readonly logger?: Logger;
}

/** What a fleet member's feed needs of the fleet (a subset of RolloutFleet). */
export interface SloFleetSource {
  /** This member is the rollout leader now: it alone sets the gauges. */
  leading(): boolean;
  /** The fleet's counts of the route; null when Redis cannot be read. Absent: the leader's own ledger. */
  slo?(route: string, nowMs: number, windowMs: number): Promise<CountsOver | null>;
}

export class SloFeed {
  readonly #options: SloFeedOptions;
  #routes = new Map<string, SloSpec>();
  /** Per ledger entry (a new window is a new entry): second → what was added of it, for the LATE_SECONDS newest. */
  readonly #added = new WeakMap<SloLedgerEntry, Map<number, { requests: number; errors: number }>>();
  #timer: NodeJS.Timeout | null = null;
  #stopped = false;
  #publishedAt = -Infinity;
  /** In a fleet: a publish from the fleet's counts in flight (one at a time: a slow Redis never stacks them). */
  #publishing: Promise<void> | null = null;
  /** Routes whose budget the fleet's counts could not give at the last read (this member's own used instead). */
  readonly #localRoutes = new Set<string>();

  constructor(options: SloFeedOptions) {
    this.#options = options;
  }

  /**
   * The routes to feed (countedSlos of the config in force): ledgers of routes no longer in it are dropped, and
   * their gauges withdrawn. The timer runs while there is at least one.
   */
  track(routes: Map<string, SloSpec>): void {
    const metrics = this.#options.metrics;
    for (const [route, slo] of this.#routes) {
      if (metrics !== undefined && routes.get(route)?.window !== slo.window) withdrawGauges(metrics, route, slo);
    }
    this.#routes = routes;
    this.#options.book.retain(new Set(routes.keys()));
    if (routes.size > 0 && this.#timer === null && !this.#stopped) {
      this.#timer = setInterval(() => this.pass(), this.#options.everyMs ?? 1_000);
      this.#timer.unref();
    } else if (routes.size === 0 && this.#timer !== null) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
  }

  /** Feeds every tracked route, asks the book to save, sets the gauges when they are due. */
  pass(): void {
    const nowMs = this.#options.now();
    const ledgers = this.#feedAll(nowMs);
    const metrics = this.#options.metrics;
    if (metrics === undefined) return;
    if (nowMs - this.#publishedAt >= (this.#options.publishEveryMs ?? 5_000) || nowMs < this.#publishedAt) this.#publishedAt = nowMs;
    else return;
    const fleet = this.#options.fleet;
    if (fleet === undefined) {
      for (const [route, slo] of this.#routes) publishBudget(metrics, route, readBudget((spanMs) => ledgers.get(route)!.counts(nowMs, spanMs), slo));
    } else if (!fleet.leading()) {
      this.#withdrawAll(metrics);
    } else {
      this.#publishing ??= this.#publishFromFleet(metrics, fleet, nowMs, ledgers).finally(() => {
        this.#publishing = null;
      });
    }
  }

  /**
   * Records which counts a fleet member's budget of `route` comes from (`fromFleet`: the fleet's; else its own, Redis
   * unreadable): logged and an event once each way, whoever read them (this feed, or the route's rollout window).
   */
  noteFleetCounts(route: string, fromFleet: boolean): void {
    if (fromFleet !== this.#localRoutes.has(route)) return;
    if (fromFleet) this.#localRoutes.delete(route);
    else this.#localRoutes.add(route);
    const message = fromFleet
      ? 'error budget from the fleet\'s counts again'
      : 'error budget from this member\'s own counts: the fleet\'s SLO counts cannot be read (Redis unreachable)';
    this.#options.logger?.warn({ route }, message);
    this.#options.events?.record({ actor: 'slo', action: fromFleet ? 'slo.fleet_counts' : 'slo.local_counts', route, message });
  }

  #feedAll(nowMs: number): Map<string, SloLedger> {
    const ledgers = new Map<string, SloLedger>();
    for (const [route, slo] of this.#routes) ledgers.set(route, this.feed(route, slo.window, nowMs));
    this.#options.book.saveSoon();
    return ledgers;
  }

  /** The leader's gauges from the fleet's counts, every route read at once; a route whose read failed from its ledger. */
  async #publishFromFleet(metrics: Metrics, fleet: SloFleetSource, nowMs: number, ledgers: Map<string, SloLedger>): Promise<void> {
    const routes = [...this.#routes];
    const counts = await Promise.all(routes.map(([route, slo]) => (fleet.slo ? fleet.slo(route, nowMs, slo.window).catch(() => null) : Promise.resolve(null))));
    // Leadership may have moved, or the config changed, while Redis answered: set nothing stale.
    if (this.#stopped || !fleet.leading()) return;
    for (const [index, [route, slo]] of routes.entries()) {
      if (this.#routes.get(route) !== slo) continue;
      if (fleet.slo) this.noteFleetCounts(route, counts[index] !== null);
      const ledger = ledgers.get(route)!;
      publishBudget(metrics, route, readBudget(counts[index] ?? ((spanMs) => ledger.counts(nowMs, spanMs)), slo));
    }
  }

  /**
   * A member that does not lead drops its gauges (its rollout windows' too), so the fleet exports one series. Each
   * due pass: removing an absent series costs a map lookup.
   */
  #withdrawAll(metrics: Metrics): void {
    for (const [route, slo] of this.#routes) withdrawGauges(metrics, route, slo);
  }

  /** Adds what `route` counted up to the last complete second at `nowMs` and is not in its ledger yet; its ledger. */
  feed(route: string, windowMs: number, nowMs: number): SloLedger {
    const entry = this.#options.book.entryFor(route, windowMs);
    let added = this.#added.get(entry);
    if (added === undefined) {
      added = new Map();
      this.#added.set(entry, added);
    }
    const toSecond = Math.floor(nowMs / 1000) - 1;
    // A position ahead of the clock (a file saved while the clock ran ahead, a clock stepped back) would stop the
    // feed until the clock caught up: start again from now.
    if (entry.fedThroughSecond > toSecond) entry.fedThroughSecond = toSecond;
    const fromSecond = Math.max(entry.fedThroughSecond - LATE_SECONDS + 1, toSecond - SLOTS + 1);
    if (fromSecond > toSecond) return entry.ledger;
    for (const counts of this.#options.seconds(route, fromSecond, toSecond)) {
      const before = added.get(counts.second);
      const requests = counts.requests - (before?.requests ?? 0);
      const errors = counts.errors - (before?.errors ?? 0);
      if (requests <= 0 && errors <= 0) continue;
      entry.ledger.add(counts.second * 1000, Math.max(0, requests), Math.max(0, errors));
      added.set(counts.second, { requests: counts.requests, errors: counts.errors });
    }
    entry.fedThroughSecond = Math.max(entry.fedThroughSecond, toSecond);
    for (const second of added.keys()) if (second <= entry.fedThroughSecond - LATE_SECONDS) added.delete(second);
    return entry.ledger;
  }

  /** Stops the timer after one last pass (the stop's save follows). */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    // Fed and saved; no gauges (a fleet's read would meet a closing client).
    if (this.#routes.size > 0) this.#feedAll(this.#options.now());
  }
}

function withdrawGauges(metrics: Metrics, route: string, slo: SloSpec): void {
  for (const pair of pairsFor(slo.window)) {
    for (const span of [pair.long, pair.short]) metrics.sloBurnRate.remove({ route, window: formatDuration(span).replaceAll(' ', '') });
  }
  metrics.sloErrorBudgetRemaining.remove({ route });
}
