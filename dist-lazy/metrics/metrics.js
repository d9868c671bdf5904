import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { bucketIndex, RollingWindow } from './rolling-window.js';
import { isSloError, SERVER_ERROR_STATUSES } from './sli-errors.js';
import { FlagCountBook } from '../flags/flag-counts.js';
export const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'TRACE']);
const METHOD_INDEX = new Map([...KNOWN_METHODS].map((method, index) => [method, index + 1]));
export function methodLabel(method) {
    return method !== undefined && KNOWN_METHODS.has(method) ? method : 'OTHER';
}
export function createMetrics(registry = new Registry(), options = {}) {
    const registers = [registry];
    if (options.processMetrics ?? true)
        collectDefaultMetrics({ register: registry });
    const seriesBooks = [];
    const mirrorBooks = [];
    const guardBooks = [];
    const jwtCounts = new Map();
    const allGuards = function* () {
        for (const book of guardBooks)
            yield* book.all();
    };
    const allSeries = function* () {
        for (const book of seriesBooks)
            yield* book.all();
    };
    const seriesDurations = function* () {
        for (const series of allSeries()) {
            yield { labels: { route: series.route, version: series.version }, buckets: series.buckets, sum: series.durationSum, count: series.durationCount };
        }
    };
    const mirrorDurations = function* () {
        for (const book of mirrorBooks) {
            for (const records of book.all()) {
                const { buckets, sum, count } = records.duration;
                yield { labels: { route: records.route }, buckets, sum, count };
            }
        }
    };
    const flagCounts = new FlagCountBook();
    const metrics = {
        registry,
        flagCounts,
        flagEvaluations: new Counter({
            name: 'splitgate_flag_evaluations_total',
            help: 'Feature flag evaluations sent upstream, by flag, variant and reason (OpenFeature reasons; variant empty when none).',
            labelNames: ['flag', 'variant', 'reason'],
            registers,
            collect() {
                this.reset();
                for (const cell of flagCounts.all())
                    if (cell.value > 0)
                        this.inc(cell.labels, cell.value);
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
                    for (const result of ['ok', 'failed', 'budget_exhausted'])
                        this.inc({ route: guard.route, result }, guard.retries[result]);
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
                for (const guard of allGuards())
                    this.inc({ route: guard.route, version: 'canary' }, guard.ejections);
            },
        }),
        ejected: new Gauge({
            name: 'splitgate_upstream_ejected',
            help: "1 while a route's canary gets no routed traffic (ejected, or failing its health checks), else 0.",
            labelNames: ['route', 'version'],
            registers,
            collect() {
                this.reset();
                for (const guard of allGuards())
                    this.set({ route: guard.route, version: 'canary' }, guard.ejected ? 1 : 0);
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
                if (source !== null)
                    this.set(source.connected() ? 1 : 0);
            },
        }),
        fleetStateVersion: new Gauge({
            name: 'splitgate_fleet_state_version',
            help: 'With fleet: version of the route\'s shared runtime state applied by this replica (compare across replicas).',
            labelNames: ['route'],
            registers,
            collect() {
                this.reset();
                for (const entry of metrics.fleetSource?.routes() ?? [])
                    this.set({ route: entry.route }, entry.version);
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
                    if (entry.confirmedAt !== null)
                        this.set({ route: entry.route }, Math.max(0, (now - entry.confirmedAt) / 1000));
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
                if (source !== null)
                    this.set(source.leader() ? 1 : 0);
            },
        }),
        fleetMembers: new Gauge({
            name: 'splitgate_fleet_members',
            help: 'With fleet: members with a live heartbeat, as last listed by this replica (itself included).',
            registers,
            collect() {
                this.reset();
                const source = metrics.fleetSource;
                if (source !== null)
                    this.set(source.members());
            },
        }),
        requests: new Counter({
            name: 'http_requests_total',
            help: 'Requests answered, by route, version (stable|canary), method and status code.',
            labelNames: ['route', 'version', 'method', 'code'],
            registers,
            collect() {
                this.reset();
                for (const series of allSeries())
                    for (const entry of series.requestCounts())
                        this.inc(entry.labels, entry.value);
            },
        }),
        duration: new CountedHistogram({
            name: 'http_request_duration_seconds',
            help: 'Time from request received to response completed, by route and version.',
            labelNames: ['route', 'version'],
            buckets: DURATION_BUCKETS,
            registers,
        }, seriesDurations),
        decisions: new Counter({
            name: 'splitgate_routing_decisions_total',
            help: 'Routing decisions, by route, version chosen and the reason it was chosen.',
            labelNames: ['route', 'version', 'reason'],
            registers,
            collect() {
                this.reset();
                for (const series of allSeries())
                    for (const entry of series.decisionCounts())
                        this.inc(entry.labels, entry.value);
            },
        }),
        upstreamErrors: new Counter({
            name: 'splitgate_upstream_errors_total',
            help: 'Failed upstream exchanges, by route, version and kind of failure.',
            labelNames: ['route', 'version', 'kind'],
            registers,
            collect() {
                this.reset();
                for (const series of allSeries())
                    for (const entry of series.upstreamErrorCounts())
                        this.inc(entry.labels, entry.value);
            },
        }),
        clientTimeouts: new Counter({
            name: 'splitgate_client_timeouts_total',
            help: 'Exchanges ended because the client was too slow, by route, version and kind (send: stopped reading the response; body: stopped sending the request body).',
            labelNames: ['route', 'version', 'kind'],
            registers,
            collect() {
                this.reset();
                for (const series of allSeries())
                    for (const entry of series.clientTimeoutCounts())
                        this.inc(entry.labels, entry.value);
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
        mirrorDuration: new CountedHistogram({
            name: 'splitgate_mirror_duration_seconds',
            help: 'Shadow exchange time, by route.',
            labelNames: ['route'],
            buckets: DURATION_BUCKETS,
            registers,
        }, mirrorDurations),
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
                for (const [result, count] of jwtCounts)
                    this.inc({ result }, count);
            },
        }),
        jwtCounts,
    };
    return metrics;
}
export class DurationCounts {
    buckets = new Float64Array(DURATION_BUCKETS.length + 1);
    sum = 0;
    count = 0;
    observe(seconds) {
        this.buckets[bucketIndex(seconds)]++;
        this.sum += seconds;
        this.count++;
    }
    add(buckets, sum, count) {
        for (let i = 0; i < this.buckets.length; i++)
            this.buckets[i] += buckets[i];
        this.sum += sum;
        this.count += count;
    }
}
export class VersionSeries {
    window = new RollingWindow();
    route;
    version;
    buckets = new Float64Array(DURATION_BUCKETS.length + 1);
    durationSum = 0;
    durationCount = 0;
    #requests = new Map();
    #lastRequests = null;
    #lastRequestsKey = -1;
    #decisions = new Map();
    #upstreamErrors = new Map();
    #clientTimeouts = new Map();
    sloErrorStatuses = SERVER_ERROR_STATUSES;
    constructor(route, version) {
        this.route = route;
        this.version = version;
    }
    observeResponse(method, status, seconds, cutShort = false, weighted = false) {
        const key = status * 16 + (METHOD_INDEX.get(method) ?? 0);
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
    countDecision(reason) {
        let entry = this.#decisions.get(reason);
        if (entry === undefined) {
            entry = { labels: { route: this.route, version: this.version, reason }, value: 0 };
            this.#decisions.set(reason, entry);
        }
        entry.value++;
    }
    countUpstreamError(kind) {
        this.addUpstreamErrors(kind, 1);
    }
    countClientTimeout(kind) {
        this.addClientTimeouts(kind, 1);
    }
    requestCounts() {
        return this.#requests.values();
    }
    decisionCounts() {
        return this.#decisions.values();
    }
    upstreamErrorCounts() {
        return this.#upstreamErrors.values();
    }
    clientTimeoutCounts() {
        return this.#clientTimeouts.values();
    }
    addRequests(method, code, count) {
        const key = Number(code) * 16 + (METHOD_INDEX.get(method) ?? 0);
        let entry = this.#requests.get(key);
        if (entry === undefined) {
            entry = { labels: { route: this.route, version: this.version, method, code }, value: 0 };
            this.#requests.set(key, entry);
        }
        entry.value += count;
    }
    addDecisions(reason, count) {
        let entry = this.#decisions.get(reason);
        if (entry === undefined) {
            entry = { labels: { route: this.route, version: this.version, reason }, value: 0 };
            this.#decisions.set(reason, entry);
        }
        entry.value += count;
    }
    addUpstreamErrors(kind, count) {
        addKindCount(this.#upstreamErrors, this.route, this.version, kind, count);
    }
    addClientTimeouts(kind, count) {
        addKindCount(this.#clientTimeouts, this.route, this.version, kind, count);
    }
    addDurations(buckets, sum, count) {
        for (let i = 0; i < this.buckets.length; i++)
            this.buckets[i] += buckets[i];
        this.durationSum += sum;
        this.durationCount += count;
    }
}
function addKindCount(counts, route, version, kind, count) {
    let entry = counts.get(kind);
    if (entry === undefined) {
        entry = { labels: { route, version, kind }, value: 0 };
        counts.set(kind, entry);
    }
    entry.value += count;
}
class CountedHistogram extends Histogram {
    #series;
    #name;
    #help;
    constructor(configuration, series) {
        super(configuration);
        this.#series = series;
        this.#name = configuration.name;
        this.#help = configuration.help;
    }
    async getForPromString() {
        return this.get();
    }
    async get() {
        const values = [];
        for (const series of this.#series()) {
            if (series.count === 0)
                continue;
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
        return rendered;
    }
}
export class SeriesBook {
    #series = new Map();
    constructor(metrics) {
        metrics.seriesBooks.push(this);
    }
    get(route, version) {
        const key = `${route}\n${version}`;
        let series = this.#series.get(key);
        if (series === undefined) {
            series = new VersionSeries(route, version);
            this.#series.set(key, series);
        }
        return series;
    }
    find(route, version) {
        return this.#series.get(`${route}\n${version}`);
    }
    all() {
        return this.#series.values();
    }
}
//# sourceMappingURL=metrics.js.map