/**
 * The metric set, on a Registry passed in (never prom-client's global one, which leaks between tests and reloads).
 * Names follow the conventions PromQL users already type: `http_requests_total{version,code}` and
 * `http_request_duration_seconds_bucket{version}`. Every label value comes from config or from a closed set
 * (method names, 3-digit status codes, reasons, error kinds), never from raw request data.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DecisionReason, Version } from '../routing/table.js';
import { RollingWindow } from './rolling-window.js';

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
  | 'other';

/** Methods outside this set are counted as OTHER, so a client cannot mint label values. */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'TRACE']);

export function methodLabel(method: string | undefined): string {
  return method !== undefined && KNOWN_METHODS.has(method) ? method : 'OTHER';
}

export interface Metrics {
  readonly registry: Registry;
  readonly requests: Counter<'route' | 'version' | 'method' | 'code'>;
  readonly duration: Histogram<'route' | 'version'>;
  readonly decisions: Counter<'route' | 'version' | 'reason'>;
  readonly upstreamErrors: Counter<'route' | 'version' | 'kind'>;
  readonly routeWeight: Gauge<'route'>;
  readonly configGeneration: Gauge;
  readonly configInfo: Gauge<'generation' | 'hash'>;
  readonly configReloads: Counter<'result'>;
  readonly rolloutPhase: Gauge<'route' | 'phase'>;
  readonly rolloutStep: Gauge<'route'>;
  readonly rolloutChecks: Counter<'route' | 'check' | 'result'>;
  readonly mirrorRequests: Counter<'route' | 'outcome'>;
  readonly mirrorDiffs: Counter<'route' | 'field'>;
  readonly mirrorDuration: Histogram<'route'>;
  readonly mirrorInFlight: Gauge<'route'>;
}

export function createMetrics(registry = new Registry(), options: { processMetrics?: boolean } = {}): Metrics {
  const registers = [registry];
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });
  return {
    registry,
    requests: new Counter({
      name: 'http_requests_total',
      help: 'Requests answered, by route, version (stable|canary), method and status code.',
      labelNames: ['route', 'version', 'method', 'code'],
      registers,
    }),
    duration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'Time from request received to response completed, by route and version.',
      labelNames: ['route', 'version'],
      buckets: DURATION_BUCKETS,
      registers,
    }),
    decisions: new Counter({
      name: 'splitgate_routing_decisions_total',
      help: 'Routing decisions, by route, version chosen and the reason it was chosen.',
      labelNames: ['route', 'version', 'reason'],
      registers,
    }),
    upstreamErrors: new Counter({
      name: 'splitgate_upstream_errors_total',
      help: 'Failed upstream exchanges, by route, version and kind of failure.',
      labelNames: ['route', 'version', 'kind'],
      registers,
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
    rolloutChecks: new Counter({
      name: 'splitgate_rollout_checks_total',
      help: 'Rollout check evaluations by route, check and result (pass, fail, inconclusive).',
      labelNames: ['route', 'check', 'result'],
      registers,
    }),
    mirrorRequests: new Counter({
      name: 'splitgate_mirror_requests_total',
      help: 'Mirrored requests by outcome: match, diff, sent (not compared), shadow_error, shadow_timeout, primary_error, dropped, skipped_body, skipped_method.',
      labelNames: ['route', 'outcome'],
      registers,
    }),
    mirrorDiffs: new Counter({
      name: 'splitgate_mirror_diffs_total',
      help: 'Differences between shadow and primary responses, by normalized field (first fields seen per route; the rest as "other").',
      labelNames: ['route', 'field'],
      registers,
    }),
    mirrorDuration: new Histogram({
      name: 'splitgate_mirror_duration_seconds',
      help: 'Shadow exchange time, by route.',
      labelNames: ['route'],
      buckets: DURATION_BUCKETS,
      registers,
    }),
    mirrorInFlight: new Gauge({
      name: 'splitgate_mirror_in_flight',
      help: 'Shadow exchanges in flight, by route.',
      labelNames: ['route'],
      registers,
    }),
  };
}

/**
 * The series of one (route, version), with label sets built once so the request path does no label work
 * beyond prom-client's own lookup, and a rolling window of recent traffic for /status and rollout analysis.
 */
export class VersionSeries {
  readonly window = new RollingWindow();
  readonly #metrics: Metrics;
  readonly #route: string;
  readonly #version: string;
  readonly #durationLabels: { route: string; version: string };
  readonly #requestLabels = new Map<string, { route: string; version: string; method: string; code: string }>();
  readonly #decisionLabels = new Map<string, { route: string; version: string; reason: string }>();

  constructor(metrics: Metrics, route: string, version: Version | 'none') {
    this.#metrics = metrics;
    this.#route = route;
    this.#version = version;
    this.#durationLabels = { route, version };
  }

  observeResponse(method: string, status: number, seconds: number): void {
    const key = method + status;
    let labels = this.#requestLabels.get(key);
    if (labels === undefined) {
      labels = { route: this.#route, version: this.#version, method, code: String(status) };
      this.#requestLabels.set(key, labels);
    }
    this.#metrics.requests.inc(labels);
    this.#metrics.duration.observe(this.#durationLabels, seconds);
    this.window.observe(Date.now(), status, seconds);
  }

  countDecision(reason: DecisionReason): void {
    let labels = this.#decisionLabels.get(reason);
    if (labels === undefined) {
      labels = { route: this.#route, version: this.#version, reason };
      this.#decisionLabels.set(reason, labels);
    }
    this.#metrics.decisions.inc(labels);
  }

  countUpstreamError(kind: UpstreamErrorKind): void {
    this.#metrics.upstreamErrors.inc({ route: this.#route, version: this.#version, kind });
  }
}

/** VersionSeries by (route, version), kept across table swaps so counters and windows carry on. */
export class SeriesBook {
  readonly #metrics: Metrics;
  readonly #series = new Map<string, VersionSeries>();

  constructor(metrics: Metrics) {
    this.#metrics = metrics;
  }

  get(route: string, version: Version | 'none'): VersionSeries {
    const key = `${route}\n${version}`;
    let series = this.#series.get(key);
    if (series === undefined) {
      series = new VersionSeries(this.#metrics, route, version);
      this.#series.set(key, series);
    }
    return series;
  }
}
