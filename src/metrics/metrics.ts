/**
 * The metric set, on a Registry passed in (never prom-client's global one, which leaks between tests and reloads).
 * Names follow the conventions PromQL users already type: `http_requests_total{version,code}` and
 * `http_request_duration_seconds_bucket{version}`. Every label value comes from config or from a closed set
 * (method names, 3-digit status codes, reasons, error kinds), never from raw request data.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type MetricObjectWithValues, type MetricValueWithName } from 'prom-client';
import type { DecisionReason, Version } from '../routing/table.js';
import { bucketIndex, RollingWindow } from './rolling-window.js';
import { isSloError, SERVER_ERROR_STATUSES, type ErrorStatuses } from './sli-errors.js';
import { FlagCountBook } from '../flags/flag-counts.js';

/** 1 ms to 10 s: covers a fast cache hit to a slow report page. */
export const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export type UpstreamErrorKind =
  | 'connect_refused'
  | 'connect_timeout'
  | 'reset'
  | 'headers_timeout'
  | 'body_timeout'
  | 'dns'
  | 'protocol'
  | 'tls'
  | 'overflow'
  | 'queue_timeout'
  /** A pooled connection the upstream closed as a request went out on it; the request was sent again (not a failure). */
  | 'stale_connection'
  | 'other';

/** A client too slow for the exchange: stopped reading the response (`send`) or sending its body (`body`). */
export type ClientTimeoutKind = 'send' | 'body';

/** Methods outside this set are counted as OTHER, so a client cannot mint label values. */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'TRACE']);

const METHOD_INDEX = new Map([...KNOWN_METHODS].map((method, index) => [method, index + 1]));

export function methodLabel(method: string | undefined): string {
  return method !== undefined && KNOWN_METHODS.has(method) ? method : 'OTHER';
}

export interface Metrics {
  readonly registry: Registry;
  readonly requests: Counter<'route' | 'version' | 'method' | 'code'>;
  readonly duration: Histogram<'route' | 'version'>;
  readonly decisions: Counter<'route' | 'version' | 'reason'>;
  readonly upstreamErrors: Counter<'route' | 'version' | 'kind'>;
  readonly clientTimeouts: Counter<'route' | 'version' | 'kind'>;
  readonly routeWeight: Gauge<'route'>;
  readonly configGeneration: Gauge;
  readonly configInfo: Gauge<'generation' | 'hash'>;
  readonly configReloads: Counter<'result'>;
  readonly rolloutPhase: Gauge<'route' | 'phase'>;
  readonly rolloutStep: Gauge<'route'>;
  readonly sloBurnRate: Gauge<'route' | 'window'>;
  readonly sloErrorBudgetRemaining: Gauge<'route'>;
  readonly rolloutChecks: Counter<'route' | 'check' | 'result'>;
  readonly mirrorRequests: Counter<'route' | 'outcome'>;
  readonly mirrorDiffs: Counter<'route' | 'field'>;
  readonly mirrorDuration: Histogram<'route'>;
  readonly mirrorInFlight: Gauge<'route'>;
  /**
   * Token verifications by result (auth/jwt-verifier.ts VerificationResult); cache hits are not verifications.
   * Counted in `jwtCounts` (a plain map: a worker ships its growth to the supervisor, proxy-deltas.ts), read at scrape.
   */
  readonly jwtVerifications: Counter<'result'>;
  readonly jwtCounts: Map<string, number>;
  /** Where the per-request series live; the request, duration, decision and error metrics read them at scrape time. */
  readonly seriesBooks: SeriesBook[];
  /** Where mirror records live (MirrorBook registers itself); the mirror duration histogram reads them at scrape time. */
  readonly mirrorBooks: Array<{ all(): Iterable<{ readonly route: string; readonly duration: DurationCounts }> }>;
  /** The canaries' guards (retries, ejections; proxy/canary-guard.ts), read at scrape time. Per process. */
  readonly guardBooks: Array<{ all(): Iterable<GuardCounts> }>;
  readonly retries: Counter<'route' | 'result'>;
  readonly ejections: Counter<'route' | 'version'>;
  readonly ejected: Gauge<'route' | 'version'>;
  readonly fleetConnected: Gauge;
  readonly fleetStateVersion: Gauge<'route'>;
  readonly fleetStateAge: Gauge<'route'>;
  readonly fleetLeader: Gauge;
  readonly fleetMembers: Gauge;
  /** Set by the fleet (`fleet:` configured): the five splitgate_fleet_* gauges read it when scraped, else stay empty. */
  fleetSource: FleetMetricsSource | null;
  /** Flag evaluations by (flag, variant, reason), counted on the data path; splitgate_flag_evaluations_total reads it. */
  readonly flagCounts: FlagCountBook;
  readonly flagEvaluations: Counter<'flag' | 'variant' | 'reason'>;
}

/** What the retry and ejection metrics read from one canary guard. */
export interface GuardCounts {
  readonly route: string;
  /** The canary upstream the guard watches; absent where counts are summed per route (a supervisor's). */
  readonly upstream?: string;
  readonly retries: { readonly ok: number; readonly failed: number; readonly budget_exhausted: number };
  readonly ejections: number;
  readonly ejected: boolean;
}

/** What the splitgate_fleet_* gauges show; read at scrape time only. */
export interface FleetMetricsSource {
  connected(): boolean;
  /** Per route: the fleet state version applied here, and when it was last confirmed current (ms since epoch). */
  routes(): Iterable<{ readonly route: string; readonly version: number; readonly confirmedAt: number | null }>;
  leader(): boolean;
  members(): number;
}

export function createMetrics(registry = new Registry(), options: { processMetrics?: boolean } = {}): Metrics {
  const registers = [registry];
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });
  const seriesBooks: SeriesBook[] = [];
  const mirrorBooks: Metrics['mirrorBooks'] = [];
  const guardBooks: Metrics['guardBooks'] = [];
  const jwtCounts = new Map<string, number>();
  const allGuards = function* (): Generator<GuardCounts> {
    for (const book of guardBooks) yield* book.all();
  };
  const allSeries = function* (): Generator<VersionSeries> {
    for (const book of seriesBooks) yield* book.all();
  };
  const seriesDurations = function* (): Generator<HistogramSeries<'route' | 'version'>> {
    for (const series of allSeries()) {
      yield { labels: { route: series.route, version: series.version }, buckets: series.buckets, sum: series.durationSum, count: series.durationCount };
    }
  };
  const mirrorDurations = function* (): Generator<HistogramSeries<'route'>> {
    for (const book of mirrorBooks) {
      for (const records of book.all()) {
        const { buckets, sum, count } = records.duration;
        yield { labels: { route: records.route }, buckets, sum, count };
      }
    }
  };
  const flagCounts = new FlagCountBook();
  const metrics: Metrics = {
    registry,
    flagCounts,
    flagEvaluations: new Counter({
      name: 'splitgate_flag_evaluations_total',
      help: 'Feature flag evaluations sent upstream, by flag, variant and reason (OpenFeature reasons; variant empty when none).',
      labelNames: ['flag', 'variant', 'reason'],
      registers,
      collect() {
        this.reset();
        for (const cell of flagCounts.all()) if (cell.value > 0) this.inc(cell.labels, cell.value);
      },
    }),
    seriesBooks,
    mirrorBooks,
    guardBooks,
    retries: new Counter({
      name: 'splitgate_retries_total',
      help: 'Failed canary exchanges sent again to stable, by route and result (ok, failed, budget_exhausted: not retried).',
      labelNames: ['route', 'result'],
      registers,
      collect() {
        this.reset();
        for (const guard of allGuards()) {
          for (const result of ['ok', 'failed', 'budget_exhausted'] as const) this.inc({ route: guard.route, result }, guard.retries[result]);
        }
      },
    }),
    ejections: new Counter({
      name: 'splitgate_upstream_ejections_total',
      help: "Outlier ejections of a route's canary (consecutive failures), by route and version.",
      labelNames: ['route', 'version'],
      registers,
      collect() {
        this.reset();
        for (const guard of allGuards()) this.inc({ route: guard.route, version: 'canary' }, guard.ejections);
      },
    }),
    ejected: new Gauge({
      name: 'splitgate_upstream_ejected',
      help: "1 while a route's canary gets no routed traffic (ejected, or failing its health checks), else 0.",
      labelNames: ['route', 'version'],
      registers,
      collect() {
        this.reset();
        for (const guard of allGuards()) this.set({ route: guard.route, version: 'canary' }, guard.ejected ? 1 : 0);
      },
    }),
    fleetSource: null,
    fleetConnected: new Gauge({
      name: 'splitgate_fleet_connected',
      help: 'With fleet: 1 while the fleet store (Redis) is reachable, 0 while this replica fails static on its last applied state.',
      registers,
      collect() {
        this.reset();
        const source = metrics.fleetSource;
        if (source !== null) this.set(source.connected() ? 1 : 0);
      },
    }),
    fleetStateVersion: new Gauge({
      name: 'splitgate_fleet_state_version',
      help: 'With fleet: version of the route\'s shared runtime state applied by this replica (compare across replicas).',
      labelNames: ['route'],
      registers,
      collect() {
        this.reset();
        for (const entry of metrics.fleetSource?.routes() ?? []) this.set({ route: entry.route }, entry.version);
      },
    }),
    fleetStateAge: new Gauge({
      name: 'splitgate_fleet_state_age_seconds',
      help: 'With fleet: seconds since this replica last confirmed its state of the route is the fleet\'s (a poll, a change); grows while Redis is unreachable.',
      labelNames: ['route'],
      registers,
      collect() {
        this.reset();
        const now = Date.now();
        for (const entry of metrics.fleetSource?.routes() ?? []) {
          if (entry.confirmedAt !== null) this.set({ route: entry.route }, Math.max(0, (now - entry.confirmedAt) / 1000));
        }
      },
    }),
    fleetLeader: new Gauge({
      name: 'splitgate_fleet_leader',
      help: 'With fleet: 1 while this replica holds the rollout leader lease, else 0.',
      registers,
      collect() {
        this.reset();
        const source = metrics.fleetSource;
        if (source !== null) this.set(source.leader() ? 1 : 0);
      },
    }),
    fleetMembers: new Gauge({
      name: 'splitgate_fleet_members',
      help: 'With fleet: members with a live heartbeat, as last listed by this replica (itself included).',
      registers,
      collect() {
        this.reset();
        const source = metrics.fleetSource;
        if (source !== null) this.set(source.members());
      },
    }),
    // The hot path only bumps plain numbers in VersionSeries; these copy them into prom-client when scraped.
    // Measured: prom-client's per-call label hashing cost ~4 % of a proxied request (loadtest/profile.mjs).
    requests: new Counter({
      name: 'http_requests_total',
      help: 'Requests answered, by route, version (stable|canary), method and status code.',
      labelNames: ['route', 'version', 'method', 'code'],
      registers,
      collect() {
        this.reset();
        for (const series of allSeries()) for (const entry of series.requestCounts()) this.inc(entry.labels, entry.value);
      },
    }),
    duration: new CountedHistogram(
      {
        name: 'http_request_duration_seconds',
        help: 'Time from request received to response completed, by route and version.',
        labelNames: ['route', 'version'],
        buckets: DURATION_BUCKETS,
        registers,
      },
      seriesDurations,
    ),
    decisions: new Counter({
      name: 'splitgate_routing_decisions_total',
      help: 'Routing decisions, by route, version chosen and the reason it was chosen.',
      labelNames: ['route', 'version', 'reason'],
      registers,
      collect() {
        this.reset();
        for (const series of allSeries()) for (const entry of series.decisionCounts()) this.inc(entry.labels, entry.value);
      },
    }),
    upstreamErrors: new Counter({
      name: 'splitgate_upstream_errors_total',
      help: 'Failed upstream exchanges, by route, version and kind of failure.',
      labelNames: ['route', 'version', 'kind'],
      registers,
      collect() {
        this.reset();
        for (const series of allSeries()) for (const entry of series.upstreamErrorCounts()) this.inc(entry.labels, entry.value);
      },
    }),
    clientTimeouts: new Counter({
      name: 'splitgate_client_timeouts_total',
      help: 'Exchanges ended because the client was too slow, by route, version and kind (send: stopped reading the response; body: stopped sending the request body).',
      labelNames: ['route', 'version', 'kind'],
      registers,
      collect() {
        this.reset();
        for (const series of allSeries()) for (const entry of series.clientTimeoutCounts()) this.inc(entry.labels, entry.value);
      },
    }),
    routeWeight: new Gauge({
      name: 'splitgate_route_weight',
      help: 'Share of traffic (percent) the weighted split sends to the canary; 0 while the kill switch is on.',
      labelNames: ['route'],
      registers,
    }),
    configGeneration: new Gauge({
      name: 'splitgate_config_generation',
      help: 'Generation of the routing table in force; increases on every reload or runtime change.',
      registers,
    }),
    configInfo: new Gauge({
      name: 'splitgate_config_info',
      help: 'Always 1; labels name the routing table generation and config hash in force, to compare replicas.',
      labelNames: ['generation', 'hash'],
      registers,
    }),
    configReloads: new Counter({
      name: 'splitgate_config_reloads_total',
      help: 'Config reloads by result (success, failure).',
      labelNames: ['result'],
      registers,
    }),
    rolloutPhase: new Gauge({
      name: 'splitgate_rollout_phase',
      help: 'Rollout phase by route: 1 for the phase the rollout is in, 0 for the others.',
      labelNames: ['route', 'phase'],
      registers,
    }),
    rolloutStep: new Gauge({
      name: 'splitgate_rollout_step',
      help: 'Rollout step by route (1-based; 0 before the first step).',
      labelNames: ['route'],
      registers,
    }),
    sloBurnRate: new Gauge({
      name: 'splitgate_slo_burn_rate',
      help: "Error-budget burn rate by route and window (error ratio / (1 - objective)), from this process's counts every 5 s (in a fleet: the leader's, from the fleet's, at each rollout window).",
      labelNames: ['route', 'window'],
      registers,
    }),
    sloErrorBudgetRemaining: new Gauge({
      name: 'splitgate_slo_error_budget_remaining',
      help: "Share of the route's error budget left over its SLO window (1 = untouched, below 0 = overspent).",
      labelNames: ['route'],
      registers,
    }),
    rolloutChecks: new Counter({
      name: 'splitgate_rollout_checks_total',
      help: 'Rollout check evaluations by route, check and result (pass, fail, inconclusive).',
      labelNames: ['route', 'check', 'result'],
      registers,
    }),
    mirrorRequests: new Counter({
      name: 'splitgate_mirror_requests_total',
      help: 'Mirrored requests by outcome: match, diff, sent (not compared), shadow_error, shadow_timeout, primary_error, dropped, skipped_body, skipped_method, compare_error, compare_dropped (diff worker queue full).',
      labelNames: ['route', 'outcome'],
      registers,
    }),
    mirrorDiffs: new Counter({
      name: 'splitgate_mirror_diffs_total',
      help: 'Differences between shadow and primary responses, by normalized field (first fields seen per route; the rest as "other").',
      labelNames: ['route', 'field'],
      registers,
    }),
    mirrorDuration: new CountedHistogram(
      {
        name: 'splitgate_mirror_duration_seconds',
        help: 'Shadow exchange time, by route.',
        labelNames: ['route'],
        buckets: DURATION_BUCKETS,
        registers,
      },
      mirrorDurations,
    ),
    mirrorInFlight: new Gauge({
      name: 'splitgate_mirror_in_flight',
      help: 'Shadow exchanges in flight, by route.',
      labelNames: ['route'],
      registers,
    }),
    jwtVerifications: new Counter({
      name: 'splitgate_jwt_verifications_total',
      help: 'JWT verifications (cache misses) by result: valid, invalid, expired, malformed, unknown_key, jwks_unavailable.',
      labelNames: ['result'],
      registers,
      collect() {
        this.reset();
        for (const [result, count] of jwtCounts) this.inc({ result }, count);
      },
    }),
    jwtCounts,
  };
  return metrics;
}

export interface CountEntry<L extends string> {
  readonly labels: Record<L, string>;
  value: number;
}

/** A latency distribution as plain numbers: non-cumulative counts per DURATION_BUCKETS bound (the last for +Inf). */
export class DurationCounts {
  readonly buckets = new Float64Array(DURATION_BUCKETS.length + 1);
  sum = 0;
  count = 0;

  observe(seconds: number): void {
    this.buckets[bucketIndex(seconds)]++;
    this.sum += seconds;
    this.count++;
  }

  /** Adds counts observed elsewhere (another worker's), bucket by bucket. */
  add(buckets: ArrayLike<number>, sum: number, count: number): void {
    for (let i = 0; i < this.buckets.length; i++) this.buckets[i] += buckets[i];
    this.sum += sum;
    this.count += count;
  }
}

type RequestLabels = 'route' | 'version' | 'method' | 'code';
type KindLabels = 'route' | 'version' | 'kind';

/**
 * The series of one (route, version): request counts by method and status, the latency distribution and
 * decision counts as plain numbers (copied into prom-client at scrape time), and a rolling window of recent
 * traffic for /status and rollout analysis. Recording a response is a few array and map operations.
 */
export class VersionSeries {
  readonly window = new RollingWindow();
  readonly route: string;
  readonly version: string;
  /** Non-cumulative counts per DURATION_BUCKETS bound, the last for +Inf. */
  readonly buckets = new Float64Array(DURATION_BUCKETS.length + 1);
  durationSum = 0;
  durationCount = 0;
  /** Keyed by status·16 + method index, so counting a response builds no string. */
  readonly #requests = new Map<number, CountEntry<'route' | 'version' | 'method' | 'code'>>();
  #lastRequests: CountEntry<'route' | 'version' | 'method' | 'code'> | null = null;
  #lastRequestsKey = -1;
  readonly #decisions = new Map<string, CountEntry<'route' | 'version' | 'reason'>>();
  readonly #upstreamErrors = new Map<string, CountEntry<KindLabels>>();
  readonly #clientTimeouts = new Map<string, CountEntry<KindLabels>>();
  /** The route's `slo.sli.errors`, set when a table is activated (state/table-store.ts); 5xx until then. */
  sloErrorStatuses: ErrorStatuses = SERVER_ERROR_STATUSES;

  constructor(route: string, version: Version | 'none') {
    this.route = route;
    this.version = version;
  }

  /**
   * `cutShort`: the upstream failed after the status went out, so the client got an incomplete response.
   * `weighted`: the weight placed this request (placedByWeight), so rollout analysis may compare it.
   */
  observeResponse(method: string, status: number, seconds: number, cutShort = false, weighted = false): void {
    const key = status * 16 + (METHOD_INDEX.get(method) ?? 0);
    // Most responses repeat the last (method, status): skip the map for them.
    let entry = this.#lastRequests;
    if (entry === null || this.#lastRequestsKey !== key) {
      entry = this.#requests.get(key) ?? null;
      if (entry === null) {
        entry = { labels: { route: this.route, version: this.version, method, code: String(status) }, value: 0 };
        this.#requests.set(key, entry);
      }
      this.#lastRequests = entry;
      this.#lastRequestsKey = key;
    }
    entry.value++;
    const bucket = bucketIndex(seconds);
    this.buckets[bucket]++;
    this.durationSum += seconds;
    this.durationCount++;
    this.window.observe(Date.now(), status >= 500 || cutShort, bucket, weighted, isSloError(this.sloErrorStatuses, status, cutShort));
  }

  countDecision(reason: DecisionReason): void {
    let entry = this.#decisions.get(reason);
    if (entry === undefined) {
      entry = { labels: { route: this.route, version: this.version, reason }, value: 0 };
      this.#decisions.set(reason, entry);
    }
    entry.value++;
  }

  countUpstreamError(kind: UpstreamErrorKind): void {
    this.addUpstreamErrors(kind, 1);
  }

  countClientTimeout(kind: ClientTimeoutKind): void {
    this.addClientTimeouts(kind, 1);
  }

  requestCounts(): Iterable<CountEntry<RequestLabels>> {
    return this.#requests.values();
  }

  decisionCounts(): Iterable<CountEntry<'route' | 'version' | 'reason'>> {
    return this.#decisions.values();
  }

  upstreamErrorCounts(): Iterable<CountEntry<KindLabels>> {
    return this.#upstreamErrors.values();
  }

  clientTimeoutCounts(): Iterable<CountEntry<KindLabels>> {
    return this.#clientTimeouts.values();
  }

  // Adding counts made elsewhere (a worker's deltas, in the supervisor); never on the data path. ----------------

  /** `method` and `code` as labelled in requestCounts(). */
  addRequests(method: string, code: string, count: number): void {
    const key = Number(code) * 16 + (METHOD_INDEX.get(method) ?? 0);
    let entry = this.#requests.get(key);
    if (entry === undefined) {
      entry = { labels: { route: this.route, version: this.version, method, code }, value: 0 };
      this.#requests.set(key, entry);
    }
    entry.value += count;
  }

  addDecisions(reason: string, count: number): void {
    let entry = this.#decisions.get(reason);
    if (entry === undefined) {
      entry = { labels: { route: this.route, version: this.version, reason }, value: 0 };
      this.#decisions.set(reason, entry);
    }
    entry.value += count;
  }

  addUpstreamErrors(kind: string, count: number): void {
    addKindCount(this.#upstreamErrors, this.route, this.version, kind, count);
  }

  addClientTimeouts(kind: string, count: number): void {
    addKindCount(this.#clientTimeouts, this.route, this.version, kind, count);
  }

  addDurations(buckets: ArrayLike<number>, sum: number, count: number): void {
    for (let i = 0; i < this.buckets.length; i++) this.buckets[i] += buckets[i];
    this.durationSum += sum;
    this.durationCount += count;
  }
}

function addKindCount(counts: Map<string, CountEntry<KindLabels>>, route: string, version: string, kind: string, count: number): void {
  let entry = counts.get(kind);
  if (entry === undefined) {
    entry = { labels: { route, version, kind }, value: 0 };
    counts.set(kind, entry);
  }
  entry.value += count;
}

/** One labelled histogram series as plain counts (non-cumulative buckets per DURATION_BUCKETS bound, then +Inf). */
interface HistogramSeries<L extends string> {
  readonly labels: Record<L, string>;
  readonly buckets: ArrayLike<number>;
  readonly sum: number;
  readonly count: number;
}

/**
 * A histogram rendered from plain bucket counts kept elsewhere (VersionSeries, MirrorRecords), in exactly the shape
 * prom-client renders a Histogram (`_bucket{le}` cumulative, `_sum`, `_count`). Plain counts can be summed over
 * workers; prom-client's own histogram cannot be added to.
 */
class CountedHistogram<L extends string> extends Histogram<L> {
  readonly #series: () => Iterable<HistogramSeries<L>>;
  readonly #name: string;
  readonly #help: string;

  constructor(configuration: ConstructorParameters<typeof Histogram<L>>[0], series: () => Iterable<HistogramSeries<L>>) {
    super(configuration);
    this.#series = series;
    this.#name = configuration.name;
    this.#help = configuration.help;
  }

  /** The registry renders histograms through this one; both return the same. */
  async getForPromString(): Promise<MetricObjectWithValues<MetricValueWithName<L | 'le'>>> {
    return this.get();
  }

  override async get(): Promise<MetricObjectWithValues<MetricValueWithName<L | 'le'>>> {
    const values: Array<MetricValueWithName<string>> = [];
    for (const series of this.#series()) {
      if (series.count === 0) continue;
      const labels = series.labels;
      let cumulative = 0;
      for (let i = 0; i < DURATION_BUCKETS.length; i++) {
        cumulative += series.buckets[i];
        values.push({ labels: { ...labels, le: DURATION_BUCKETS[i] }, value: cumulative, metricName: `${this.#name}_bucket` });
      }
      values.push({ labels: { ...labels, le: '+Inf' }, value: series.count, metricName: `${this.#name}_bucket` });
      values.push({ labels, value: series.sum, metricName: `${this.#name}_sum` });
      values.push({ labels, value: series.count, metricName: `${this.#name}_count` });
    }
    const rendered = { name: this.#name, help: this.#help, type: 'histogram', values, aggregator: 'sum' };
    return rendered as unknown as MetricObjectWithValues<MetricValueWithName<L | 'le'>>;
  }
}

/** VersionSeries by (route, version), kept across table swaps so counters and windows carry on. */
export class SeriesBook {
  readonly #series = new Map<string, VersionSeries>();

  constructor(metrics: Metrics) {
    metrics.seriesBooks.push(this);
  }

  get(route: string, version: Version | 'none'): VersionSeries {
    const key = `${route}\n${version}`;
    let series = this.#series.get(key);
    if (series === undefined) {
      series = new VersionSeries(route, version);
      this.#series.set(key, series);
    }
    return series;
  }

  /** The series if it exists (get() makes one). */
  find(route: string, version: Version | 'none'): VersionSeries | undefined {
    return this.#series.get(`${route}\n${version}`);
  }

  all(): Iterable<VersionSeries> {
    return this.#series.values();
  }
}
