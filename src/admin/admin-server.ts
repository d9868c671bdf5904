/**
 * The admin listener: metrics, health, status, the audit trail, mirror diffs, the dashboard, and the mutating
 * control endpoints. Bound to loopback by default (the config refuses a non-loopback address without a token).
 * With a token configured, every call needs `Authorization: Bearer <token>` (compared in constant time) except
 * those in PUBLIC_READS: reads show upstream URLs, mirrored requests and responses, and the audit trail.
 *
 * Errors are `{"error": {"code", "message"}}`: 400 invalid, 401 no or wrong token, 404 unknown route or endpoint,
 * 405 wrong method (SG_METHOD_NOT_ALLOWED, with `Allow`: RFC 9110 §15.5.6), 409 conflicting state, 413 body too large.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Controller } from '../control/controller.js';
import { ConflictError, InvalidRequestError } from '../control/controller.js';
import type { EventLog } from '../control/event-log.js';
import { isLoopback } from '../config/listen.js';
import { SplitgateError } from '../errors.js';
import type { Metrics, SeriesBook } from '../metrics/metrics.js';
import { quantileOf } from '../metrics/rolling-window.js';
import type { MirrorBook } from '../mirror/mirror-records.js';
import type { RolloutManager } from '../rollout/rollout-manager.js';
import { IN_PROGRESS } from '../rollout/machine.js';
import { ownGuardState, type GuardStateOf } from '../proxy/canary-guard.js';
import type { TableStore } from '../state/table-store.js';
import type { ExperimentsView } from '../experiments/experiments-view.js';
import { changeFlag, flagsView } from './flag-routes.js';
import { chartedRoutesOf, type SeriesHistory } from '../metrics/series-history.js';
import { routeInsight } from './route-insight.js';
import { processMemory } from '../process-footprint.js';
import { sameSecret } from '../auth/same-secret.js';

export interface AdminContext {
  readonly metrics: Metrics;
  readonly store: TableStore;
  readonly mirrors: MirrorBook;
  readonly events: EventLog;
  readonly controller: Controller;
  readonly series: SeriesBook;
  /** The dashboard's charts (GET /series); absent: 404. */
  readonly history?: SeriesHistory;
  /** False before the proxy listens and once it starts draining. */
  readonly ready: () => boolean;
  readonly startedAt: number;
  readonly rollouts?: RolloutManager;
  /** Set in a supervisor (`workers` > 1): its workers, and how they share the proxy port. */
  readonly workers?: WorkersView;
  /** The upstreams' active health checks (those that configure `health`). */
  readonly health?: () => unknown[];
  /** Set with `fleet:`: this replica's membership (GET /fleet, the `fleet` block of /status). */
  readonly fleet?: { status(): unknown; view(): Promise<unknown> };
  /** A/B experiments: GET /experiments and /experiments/{key}. */
  readonly experiments?: ExperimentsView;
  /** A route's canary guard as this machine sees it (a supervisor: its workers'); the table's own by default. */
  readonly guardState?: GuardStateOf;
}

export interface WorkersView {
  readonly listening: 'reusePort' | 'cluster';
  /** The proxy port the workers serve (the kernel's pick with `listen: …:0`). */
  port(): number;
  /** Brings the workers' counters in (bounded wait, never fails): before /metrics, /status and /diffs. */
  collect(): Promise<void>;
  status(): unknown[];
  /** Pid of the loaded idle worker that replaces the next one to exit (null while none is loaded). */
  sparePid?(): number | null;
}

/** Reads that show traffic counters, which in a supervisor live in the workers until collected. */
const COUNTED_READS = new Set(['/metrics', '/status', '/diffs', '/diffs/summary', '/flags']);

const MAX_BODY_BYTES = 64 * 1024;
/**
 * Served without the token: probes and Prometheus scrape without one, and the dashboard page itself holds no data
 * (its script asks for the token and sends it on every read).
 */
const PUBLIC_READS = new Set(['/', '/healthz', '/readyz', '/metrics']);
/** RFC 9110 §7.2: Host = uri-host [":" port]; an IPv6 literal keeps its brackets. */
const HOST_HEADER = /^(\[[^\]]*\]|[^:[\]]*)(?::\d*)?$/;
const STATUS_WINDOW_SECONDS = 60;

export function createAdminHandler(context: AdminContext): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    handleAdmin(context, req, res).catch((error: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (error instanceof SplitgateError) {
        // RFC 6750 §3: a 401 names the scheme. Bearer (unlike Basic) never opens the browser's own login dialog.
        if (error.status === 401) res.setHeader('www-authenticate', 'Bearer realm="splitgate admin"');
        if (error instanceof MethodNotAllowedError) res.setHeader('allow', error.allow.join(', '));
        sendJson(res, error.status, error.toJSON());
      } else sendJson(res, 500, { error: { code: 'SG_ADMIN_INTERNAL', message: (error as Error).message } });
    });
  };
}

async function handleAdmin(context: AdminContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://admin');
  const path = url.pathname;
  const method = req.method ?? 'GET';
  refuseForeignHost(context, req);
  const allowed = methodsOf(path);
  if (allowed !== null && !allowed.includes(method)) throw new MethodNotAllowedError(method, path, allowed);

  if (method === 'GET' || method === 'HEAD') {
    if (!PUBLIC_READS.has(path)) authorize(context, req);
    await handleRead(context, url, res);
    return;
  }
  if (method !== 'POST' && method !== 'PUT' && method !== 'DELETE') {
    throw new SplitgateError('SG_METHOD_NOT_ALLOWED', `${method} is not allowed on ${path}`, 405);
  }
  refuseCrossSite(req);
  authorize(context, req);
  const actor = actorOf(req);
  const body = await readJsonBody(req);
  const controller = context.controller;

  if (path === '/reload' && method === 'POST') {
    const outcome = await controller.reload(actor);
    sendJson(res, outcome.ok ? 200 : 400, outcome.ok ? outcome : { error: { code: 'SG_CONFIG_INVALID', message: 'config rejected; the running config stays', details: outcome.errors } });
    return;
  }
  const flagChange = await changeFlag(controller, method, path, body, actor);
  if (flagChange !== null) {
    sendJson(res, 200, flagChange);
    return;
  }
  const shipExperiment = /^\/experiments\/([^/]+)\/ship$/.exec(path);
  if (shipExperiment !== null && method === 'POST' && context.experiments) {
    await context.workers?.collect();
    const arm = (body as { arm?: unknown } | null)?.arm;
    sendJson(res, 200, await context.experiments.ship(decodePathSegment(shipExperiment[1], path), arm, actor, (route) => assertNoRolloutSteering(context, route)));
    return;
  }
  const stopExperiment = /^\/experiments\/([^/]+)\/stop$/.exec(path);
  if (stopExperiment !== null && method === 'POST' && context.experiments) {
    // The workers' counts up to now first: the stop freezes what the supervisor holds.
    await context.workers?.collect();
    sendJson(res, 200, await context.experiments.stop(decodePathSegment(stopExperiment[1], path), actor));
    return;
  }
  const match = /^\/routes\/([^/]+)\/(.+)$/.exec(path);
  if (match === null) throw new SplitgateError('SG_NOT_FOUND', `no admin endpoint ${method} ${path}`, 404);
  const route = decodeRouteName(match[1], path);
  const action = match[2];
  const options = changeOptions(body);
  if ((action === 'weight' && (method === 'PUT' || method === 'DELETE')) || (action === 'promote' && method === 'POST')) assertNoRolloutSteering(context, route);
  if (action === 'weight' && method === 'DELETE') {
    sendJson(res, 200, await controller.clearWeight(route, actor, options));
    return;
  }
  if (action === 'weight' && method === 'PUT') {
    refuseUnknownFields(body, ['weight', 'expectedVersion']);
    const weight = (body as { weight?: unknown } | null)?.weight;
    if (weight === undefined) throw new InvalidRequestError('body must be JSON like {"weight": 20}');
    sendJson(res, 200, await controller.setWeight(route, weight, actor, 'operator', options));
    return;
  }
  if (method === 'POST' && (action === 'kill' || action === 'resume' || action === 'promote')) {
    const result = action === 'promote' ? await controller.promote(route, actor, 'operator', options) : await controller[action](route, actor, options);
    sendJson(res, 200, result);
    return;
  }
  const rolloutAction = /^rollout\/([^/]+)$/.exec(action);
  if (rolloutAction !== null && method === 'POST' && context.rollouts) {
    const status = await context.rollouts.act(route, rolloutAction[1]);
    context.events.record({ actor, action: `rollout.${rolloutAction[1]}.requested`, route, after: { phase: status.phase, weight: status.weight } });
    sendJson(res, 200, { route, rollout: status });
    return;
  }
  throw new SplitgateError('SG_NOT_FOUND', `no admin endpoint ${method} ${path}`, 404);
}

class MethodNotAllowedError extends SplitgateError {
  readonly allow: readonly string[];

  constructor(method: string, path: string, allow: readonly string[]) {
    super('SG_METHOD_NOT_ALLOWED', `${method} is not allowed on ${path} (allowed: ${allow.join(', ')})`, 405);
    this.allow = allow;
  }
}

const READ = ['GET', 'HEAD'] as const;
const READ_PATHS = new Set(['/', '/metrics', '/healthz', '/readyz', '/status', '/config', '/events', '/diffs', '/diffs/summary', '/fleet', '/flags', '/rollouts', '/series', '/experiments']);

/** The methods an admin path takes; null for a path that is no endpoint (404). One table, so 405 and Allow agree. */
function methodsOf(path: string): readonly string[] | null {
  if (READ_PATHS.has(path) || /^\/experiments\/[^/]+$/.test(path) || /^\/routes\/[^/]+\/rollout\/plan$/.test(path)) return READ;
  if (path === '/reload' || /^\/experiments\/[^/]+\/(stop|ship)$/.test(path)) return ['POST'];
  if (/^\/flags\/[^/]+$/.test(path)) return ['PUT', 'DELETE'];
  const action = /^\/routes\/[^/]+\/(.+)$/.exec(path)?.[1];
  if (action === 'weight') return ['PUT', 'DELETE'];
  if (action === 'kill' || action === 'resume' || action === 'promote' || (action !== undefined && /^rollout\/[^/]+$/.test(action))) return ['POST'];
  return null;
}

function decodeRouteName(encoded: string, path: string): string {
  try {
    return decodeURIComponent(encoded);
  } catch {
    throw new InvalidRequestError(`route name in ${path} is not valid percent-encoding`);
  }
}

async function handleRead(context: AdminContext, url: URL, res: ServerResponse): Promise<void> {
  const path = url.pathname;
  if (context.workers && (COUNTED_READS.has(path) || path === '/experiments' || path.startsWith('/experiments/'))) await context.workers.collect();
  // With `fleet:` the guardrails judge every member's traffic, read from Redis (bounded, never fails).
  if (context.experiments && (path === '/experiments' || path.startsWith('/experiments/'))) await context.experiments.refresh();
  const planRoute = /^\/routes\/([^/]+)\/rollout\/plan$/.exec(path);
  if (planRoute !== null) {
    if (!context.rollouts) throw new ConflictError('rollouts are not run by this process');
    const route = decodeRouteName(planRoute[1], path);
    sendJson(res, 200, { route, plan: context.rollouts.plan(route) });
    return;
  }
  switch (path) {
    case '/': {
      // Loaded on the first visit: the page and uPlot's code (~0.5 MB of memory) are not held by a process nobody
      // looks at.
      const { DASHBOARD_CSP, DASHBOARD_HTML } = await import('./dashboard-page.js');
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'content-security-policy': `${DASHBOARD_CSP}; frame-ancestors 'none'`,
        'x-frame-options': 'DENY',
      });
      res.end(DASHBOARD_HTML);
      return;
    }
    case '/metrics': {
      const text = await context.metrics.registry.metrics();
      res.writeHead(200, { 'content-type': context.metrics.registry.contentType, 'cache-control': 'no-store' });
      res.end(text);
      return;
    }
    case '/healthz':
      sendJson(res, 200, { status: 'ok' });
      return;
    case '/readyz': {
      const ready = context.ready();
      sendJson(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready' });
      return;
    }
    case '/status':
      sendJson(res, 200, statusOf(context));
      return;
    case '/config':
      sendJson(res, 200, redactConfig(context.controller.config));
      return;
    case '/events': {
      const limit = clampInt(url.searchParams.get('limit'), 100, 1, 1000);
      const since = url.searchParams.get('since');
      // Not Number(): 'abc' would be NaN and silently list everything.
      if (since !== null && !/^\d+$/.test(since)) throw new InvalidRequestError(`since must be an event id (a whole number), not ${JSON.stringify(since)}`);
      sendJson(res, 200, {
        events: context.events.list({ route: url.searchParams.get('route') ?? undefined, limit, since: since === null ? undefined : Number(since) }),
      });
      return;
    }
    case '/diffs': {
      const route = url.searchParams.get('route');
      if (route === null) throw new InvalidRequestError('query parameter route is required, e.g. /diffs?route=api');
      const records = context.mirrors.get(route);
      if (!records && !context.store.current.table.routes.some((r) => r.name === route)) {
        throw new SplitgateError('SG_UNKNOWN_ROUTE', `no route named "${route}"`, 404);
      }
      sendJson(res, 200, { route, diffs: records?.recent(clampInt(url.searchParams.get('limit'), 50, 1, 1000)) ?? [] });
      return;
    }
    case '/fleet':
      if (context.fleet === undefined) throw new SplitgateError('SG_NO_FLEET', 'this splitgate is not part of a fleet (no fleet: in its config)', 404);
      sendJson(res, 200, await context.fleet.view());
      return;
    case '/flags':
      sendJson(res, 200, flagsView(context.controller, context.store.current.table.flagSet, context.metrics.flagCounts));
      return;
    case '/rollouts':
      sendJson(res, 200, { rollouts: context.rollouts?.statuses() ?? {} });
      return;
    case '/series': {
      // The charts of one route: 15 minutes of request rate, error rate and p99 per version (metrics/series-history.ts).
      // Not a counted read: the workers' own pushes (≤ 1 s old) are fresh enough for a chart of 10 s steps.
      const name = url.searchParams.get('route');
      if (name === null) throw new InvalidRequestError('query parameter route is required, e.g. /series?route=api');
      const route = chartedRoutesOf(context.store.current.table.routes).find((r) => r.name === name);
      if (route === undefined || context.history === undefined) throw new SplitgateError('SG_UNKNOWN_ROUTE', `no charted route named "${name}"`, 404);
      sendJson(res, 200, context.history.read(route, Date.now()));
      return;
    }
    case '/diffs/summary':
      sendJson(res, 200, { routes: context.mirrors.all().map((records) => records.summary()) });
      return;
    case '/experiments':
      sendJson(res, 200, { experiments: context.experiments?.list() ?? [] });
      return;
    default: {
      const experiment = /^\/experiments\/([^/]+)$/.exec(path);
      if (experiment !== null) {
        const key = decodePathSegment(experiment[1], path);
        const report = context.experiments?.get(key);
        if (report === undefined) throw new SplitgateError('SG_UNKNOWN_EXPERIMENT', `no experiment with key "${key}"`, 404);
        sendJson(res, 200, report);
        return;
      }
      throw new SplitgateError('SG_NOT_FOUND', `no admin endpoint at ${path}`, 404);
    }
  }
}

function decodePathSegment(segment: string, path: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new InvalidRequestError(`${path} is not valid percent-encoding`);
  }
}

function statusOf(context: AdminContext): unknown {
  const active = context.store.current;
  const controller = context.controller;
  const now = Date.now();
  const guardStateOf = context.guardState ?? ownGuardState;
  return {
    generation: active.generation,
    configHash: controller.configHash,
    ready: context.ready(),
    uptimeSeconds: Math.round((now - context.startedAt) / 1000),
    lastReloadError: controller.lastReloadError,
    stateError: controller.stateError,
    // The process serving this API: the single process, or the supervisor (workers' memory is the bench's to read).
    process: processMemory(),
    // `single`: one process (workers: 1) owns the proxy listener and this API.
    ...(context.workers ? { listening: context.workers.listening, port: context.workers.port(), workers: context.workers.status(), sparePid: context.workers.sparePid?.() ?? null } : { listening: 'single' }),
    ...(context.fleet ? { fleet: context.fleet.status() } : {}),
    windowSeconds: STATUS_WINDOW_SECONDS,
    health: context.health?.() ?? [],
    routes: active.table.routes.map((route, index) => {
      const config = active.config.routes[index];
      const mirror = context.mirrors.get(route.name)?.summary();
      const guard = guardStateOf(route);
      return {
        name: route.name,
        match: { host: route.host ?? (route.hostSuffix ? `*${route.hostSuffix}` : null), pathPrefix: route.pathPrefix },
        upstreams: route.upstreams,
        weight: route.weight,
        weightSource: route.weightSource,
        configWeight: config.weight,
        killed: route.killed,
        // Canary traffic sent to stable because this fleet rollout's state went unwatched (fleet.maxStaleness).
        ...(controller.staleFallbacks.has(route.name) ? { fallback: 'stale-rollout' } : {}),
        rules: route.rules.length,
        rollout: context.rollouts?.get(route.name)?.status ?? null,
        // The one-line verdict (same checks as the rollout runner) and the error budget left: rollout/verdict.ts.
        ...routeInsight(route, guard, context.rollouts?.get(route.name), context.series, context.mirrors, now),
        // With workers, theirs together: ejected while any of them has the canary ejected, counts summed.
        outlier: guard === null
          ? null
          : {
              phase: guard.phase,
              ejected: guard.ejected,
              unhealthy: guard.unhealthy,
              ejections: guard.ejections,
              ejectedUntil: guard.ejectedUntil === 0 ? null : new Date(guard.ejectedUntil).toISOString(),
              retries: { ...guard.retries },
              ...(guard.workers === undefined ? {} : { workers: guard.workers }),
            },
        mirror: config.mirror
          ? {
              to: config.mirror.to,
              percent: config.mirror.percent,
              active: active.bindings[index].mirror !== null,
              compared: mirror?.compared ?? 0,
              matchRate: mirror?.matchRate ?? null,
              topFields: mirror?.topFields.slice(0, 5) ?? [],
            }
          : null,
        versions: {
          stable: versionStats(context.series.get(route.name, 'stable').window.snapshot(now, STATUS_WINDOW_SECONDS)),
          canary: route.upstreams.canary === null ? null : versionStats(context.series.get(route.name, 'canary').window.snapshot(now, STATUS_WINDOW_SECONDS)),
        },
      };
    }),
  };
}

function versionStats(window: { seconds: number; requests: number; errors: number; buckets: readonly number[] }) {
  const round = (value: number | null, digits: number) => (value === null ? null : Number(value.toFixed(digits)));
  return {
    requests: window.requests,
    errors: window.errors,
    rps: round(window.requests / window.seconds, 3),
    successRate: window.requests === 0 ? null : round(((window.requests - window.errors) / window.requests) * 100, 3),
    p50Ms: round(msOrNull(quantileOf(window.buckets, 0.5)), 3),
    p99Ms: round(msOrNull(quantileOf(window.buckets, 0.99)), 3),
  };
}

function msOrNull(seconds: number | null): number | null {
  return seconds === null ? null : seconds * 1000;
}

/** The effective config minus secrets: the admin token, the OFREP credentials, passwords in URLs, and webhook metadata. */
function redactConfig(config: unknown): unknown {
  const copy = structuredClone(config) as { admin?: { token?: string; tokenFile?: string }; flags?: { ofrep?: false | { apiKey?: string; bearerToken?: string } } };
  if (copy.admin?.token !== undefined) copy.admin.token = '[redacted]';
  const ofrep = copy.flags?.ofrep;
  if (ofrep) {
    if (ofrep.apiKey !== undefined) ofrep.apiKey = '[redacted]';
    if (ofrep.bearerToken !== undefined) ofrep.bearerToken = '[redacted]';
  }
  return redactDeep(copy, '');
}

function redactDeep(value: unknown, key: string): unknown {
  if ((key === 'secret' || key === 'password') && typeof value === 'string') return '[redacted]';
  if (key === 'metadata' && value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).map((name) => [name, '[redacted]']));
  }
  if (typeof value === 'string' && /^(?:https?|rediss?):\/\/[^/]*@/i.test(value)) {
    try {
      const url = new URL(value);
      if (url.password) url.password = 'redacted';
      return url.toString();
    } catch {
      return value;
    }
  }
  if (Array.isArray(value)) return value.map((item) => redactDeep(item, key));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([name, item]) => [name, redactDeep(item, name)]));
  }
  return value;
}

/**
 * DNS rebinding: a page on evil.example whose name later resolves to 127.0.0.1 is same-origin with the admin
 * listener as far as the browser can tell. A loopback-bound admin listener therefore answers only requests
 * addressed to a literal loopback address or `localhost` (isLoopback). Judged by where the listener is bound, not
 * by the file's admin.listen, which a reload may have changed without moving the listener.
 */
function refuseForeignHost(context: AdminContext, req: IncomingMessage): void {
  if (!isLoopback(context.controller.adminListen.host)) return;
  const host = req.headers.host;
  if (host === undefined) return;
  const name = HOST_HEADER.exec(host)?.[1];
  if (name === undefined || !isLoopback(name)) {
    throw new SplitgateError('SG_FORBIDDEN_HOST', `the admin listener answers only to loopback names, not ${JSON.stringify(host)}`, 403);
  }
}

/**
 * A page on another site must not be able to flip a kill switch through the operator's browser (a form POST to
 * the loopback admin listener needs no token when none is configured). Browsers send Origin on such requests;
 * the dashboard itself is same-origin, and CLI and scripts send none.
 */
function refuseCrossSite(req: IncomingMessage): void {
  const origin = req.headers.origin;
  const site = req.headers['sec-fetch-site'];
  let sameOrigin = true;
  if (origin !== undefined) {
    try {
      sameOrigin = new URL(origin).host === req.headers.host;
    } catch {
      sameOrigin = false;
    }
  }
  if (!sameOrigin || (site !== undefined && site !== 'same-origin' && site !== 'none')) {
    throw new SplitgateError('SG_FORBIDDEN_ORIGIN', 'cross-site requests to the admin API are refused', 403);
  }
}

function authorize(context: AdminContext, req: IncomingMessage): void {
  const expected = context.controller.config.admin.token;
  if (expected === undefined) return;
  const header = req.headers.authorization;
  if (header === undefined) throw new SplitgateError('SG_UNAUTHORIZED', 'this call needs Authorization: Bearer <token>', 401);
  const match = /^Bearer\s+(.+)$/i.exec(header);
  if (match === null || !sameSecret(match[1].trim(), expected.trim())) throw new SplitgateError('SG_UNAUTHORIZED', 'wrong token', 401);
}

/** A weight set by hand while a rollout steers the route would be silently undone by its next window. */
function assertNoRolloutSteering(context: AdminContext, route: string): void {
  const rollout = context.rollouts?.get(route)?.decidedStatus;
  if (rollout && IN_PROGRESS.has(rollout.phase)) {
    const actions = rollout.phase === 'Paused' ? 'resume|promote|abort' : 'pause|promote|abort';
    throw new ConflictError(`route "${route}" has a rollout in progress (${rollout.phase}), which sets its weight; use rollout ${actions} instead`);
  }
}

function actorOf(req: IncomingMessage): string {
  const named = req.headers['x-actor'];
  const name = typeof named === 'string' && /^[\w.@:-]{1,64}$/.test(named) ? named : 'admin-api';
  return `${name}@${req.socket.remoteAddress ?? 'unknown'}`;
}

async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of req) {
    length += (chunk as Buffer).length;
    if (length > MAX_BODY_BYTES) throw new SplitgateError('SG_BODY_TOO_LARGE', `body larger than ${MAX_BODY_BYTES} bytes`, 413);
    chunks.push(chunk as Buffer);
  }
  if (length === 0) return null;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new InvalidRequestError('body is not valid JSON');
  }
}

/**
 * `expectedVersion`: the fleet state version the operator's change is based on (as /status or /fleet showed it);
 * the change is refused with 409 if the fleet has moved on. Without it, the version this replica holds.
 */
/** A field the call does not know is a typo to report (`{"wieght": 10}`), not something to ignore. */
function refuseUnknownFields(body: unknown, known: readonly string[]): void {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return;
  const unknown = Object.keys(body).filter((key) => !known.includes(key));
  if (unknown.length > 0) throw new InvalidRequestError(`unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => JSON.stringify(k)).join(', ')} (this call takes ${known.join(', ')})`);
}

function changeOptions(body: unknown): { expectedVersion?: number } {
  const expected = (body as { expectedVersion?: unknown } | null)?.expectedVersion;
  if (expected === undefined) return {};
  if (!Number.isSafeInteger(expected) || (expected as number) < 0) throw new InvalidRequestError('expectedVersion must be a whole number >= 0');
  return { expectedVersion: expected as number };
}

function clampInt(value: string | null, fallback: number, min: number, max: number): number {
  const parsed = value === null ? fallback : Number.parseInt(value, 10);
  return Number.isFinite(parsed) ? Math.max(min, Math.min(parsed, max)) : fallback;
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}
