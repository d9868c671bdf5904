/**
 * The data path: node:http request → route match → context → decision → upstream dispatch. Reads the routing
 * table once per request. Counts and logs every request exactly once, when it ends.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import { performance } from 'node:perf_hooks';
import type { AccessLog } from '../log.js';
import { methodLabel, type ClientTimeoutKind, type UpstreamErrorKind, type VersionSeries } from '../metrics/metrics.js';
import { buildContext, type Entropy, type RequestContext } from '../routing/context.js';
import { decisionOf, placedByWeight, type CompiledRoute, type RouteDecision } from '../routing/table.js';
import { decideRoute } from '../routing/decide.js';
import { matchRoute } from '../routing/match.js';
import type { ActiveTable, BackendBinding, RouteBinding, TableStore } from '../state/table-store.js';
import { Outcome } from './canary-guard.js';
import { clientConnection, type ClientConnection } from './client-connections.js';
import { ProxyExchange, type ExchangeObserver, type ExchangeOutcome } from './exchange.js';
import { dropOverrideFields, readRequestHead, upstreamHeaders, type RequestHead } from './request-head.js';
import { randomRequestId } from './request-id.js';
import { TimeoutSweep } from './timeout-sweep.js';
import { rejectUpgrade, UpgradeExchange } from './upgrade.js';
import { errorBody } from './upstream-errors.js';

export interface ProxyServiceOptions {
  readonly store: TableStore;
  readonly accessLog: AccessLog;
  readonly entropy?: Entropy;
}

const DEFAULT_ENTROPY: Entropy = { newId: randomUUID, random: Math.random };

/** Error codes of client timeouts, counted in splitgate_client_timeouts_total by kind. */
const CLIENT_TIMEOUTS: ReadonlyMap<string, ClientTimeoutKind> = new Map([
  ['SG_CLIENT_SEND_TIMEOUT', 'send'],
  ['SG_CLIENT_BODY_TIMEOUT', 'body'],
]);

const RETRY_STABLE = decisionOf('stable', 'retry_stable');

/** A client-sent request id is kept when it is short and printable; otherwise splitgate makes one. */
const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

export class ProxyService implements ExchangeObserver {
  readonly #store: TableStore;
  readonly #accessLog: AccessLog;
  readonly #entropy: Entropy;
  #inFlight = 0;
  #draining = false;
  #idleWaiters: Array<() => void> = [];
  readonly #spliced = new Set<Duplex>();
  readonly sweep = new TimeoutSweep();

  constructor(options: ProxyServiceOptions) {
    this.#store = options.store;
    this.#accessLog = options.accessLog;
    this.#entropy = options.entropy ?? DEFAULT_ENTROPY;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** From now on, responses carry `Connection: close` so keep-alive clients move to another replica. */
  startDraining(): void {
    this.#draining = true;
  }

  get draining(): boolean {
    return this.#draining;
  }

  /** Resolves when no exchange is in flight. */
  idle(): Promise<void> {
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    const startedAt = performance.now();
    const active = this.#store.current;
    if (this.#draining) res.shouldKeepAlive = false;
    const url = req.url ?? '';
    const head = readRequestHead(req.rawHeaders, active.headerNames);

    const routed = routeRequest(active, req, head, this.#entropy);
    if (!(routed instanceof Routed)) {
      respondLocally(res, routed.status, routed.code, routed.message, newRequestId(head), active.unmatched, req.method, startedAt);
      return;
    }
    const { route, context, decision, binding, backend } = routed;
    backend.series.countDecision(decision.reason);

    const requestId = newRequestId(head);
    const upstream = backend.upstream;
    if (upstream.inFlight >= upstream.maxRequests) {
      // Queueing more would only add latency for everyone; fail fast, as Envoy's circuit breaker does.
      backend.series.countUpstreamError('overflow');
      respondLocally(res, 503, 'SG_UPSTREAM_OVERLOADED', `${upstream.name} has ${upstream.inFlight} requests in flight (maxRequests)`, requestId, backend.series, req.method, startedAt, placedByWeight(decision.reason));
      return;
    }
    const headers = forwardedHeaders(head, routed, requestId);
    const setCookie = context.issuedId === null ? null : `${route.stickyCookie!.name}=${context.issuedId}${route.stickyCookie!.attributes}`;
    const hasBody = head.hasBody;
    const tap = binding.mirror === null ? null : binding.mirror.tap(req, context, decision, headers, head);
    const exchange = new ProxyExchange(req, res, routed.connection, route, binding, backend, decision, requestId, setCookie, startedAt, this, tap, hasBody, headers);
    this.#inFlight++;
    // The retry budget's base: the route's requests in flight.
    if (route.guard !== null) route.guard.active++;
    // Given back by the exchange when undici lets go of the request (onComplete/onError), not when it ends.
    upstream.inFlight++;

    const accepted = upstream.pool.dispatch(
      {
        path: url,
        method: req.method ?? 'GET',
        headers,
        body: hasBody ? (tap?.bodyStream ?? req) : null,
        headersTimeout: backend.headersTimeout,
        bodyTimeout: backend.bodyTimeout,
      },
      exchange,
    );
    // False: the pool has no free connection left, so this request may be queued (see exchange.poolSaturated).
    if (!accepted) exchange.poolSaturated();
  }

  /**
   * A WebSocket handshake (the server hands over only those, see upgrade.ts): routed and decided like any other
   * request, then the upstream's 101 is relayed and the two connections are spliced, or its refusal relayed as
   * it is. Upgraded connections outlive the request cycle, so they are not counted in flight (a drain would wait
   * for them); `stop` closes whatever is still open.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, firstBytes: Buffer): void {
    const startedAt = performance.now();
    const active = this.#store.current;
    const url = req.url ?? '';
    const requestHead = readRequestHead(req.rawHeaders, active.headerNames);
    socket.on('error', ignoreError);
    // From here the connection is splitgate's, outside node:http's list: a stop closes it with the spliced ones.
    const spliced = this.#spliced.add(socket);
    socket.once('close', () => spliced.delete(socket));
    const routed = routeRequest(active, req, requestHead, this.#entropy);
    if (!(routed instanceof Routed)) {
      rejectUpgrade(socket, routed.status, routed.code, routed.message, newRequestId(requestHead));
      active.unmatched.observeResponse(methodLabel(req.method), routed.status, (performance.now() - startedAt) / 1000);
      return;
    }
    const backend = routed.backend;
    backend.series.countDecision(routed.decision.reason);
    const requestId = newRequestId(requestHead);
    const headers = forwardedHeaders(requestHead, routed, requestId);
    backend.upstream.pool.dispatch(
      {
        path: url,
        method: (req.method ?? 'GET') as Dispatcher.HttpMethod,
        headers,
        upgrade: requestHead.upgrade ?? 'websocket',
        headersTimeout: backend.headersTimeout,
        bodyTimeout: backend.bodyTimeout,
      },
      new UpgradeExchange(req, socket, firstBytes, backend, requestId, startedAt, this.#spliced, placedByWeight(routed.decision.reason)),
    );
  }

  /** Closes upgraded (WebSocket) connections still open; for stop, after the drain. */
  closeUpgraded(): void {
    for (const socket of this.#spliced) socket.destroy();
    this.#spliced.clear();
  }

  exchangeEnded(outcome: ExchangeOutcome): void {
    const exchange = outcome.exchange;
    this.#account(exchange, outcome.status, outcome.error, false);
    const guard = exchange.route.guard;
    if (guard !== null) {
      guard.active--;
      if (exchange.decision === RETRY_STABLE) guard.retryEnded(outcome.error === null && outcome.status < 500);
    }
    if (--this.#inFlight === 0 && this.#idleWaiters.length > 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  /**
   * A canary exchange failed before answering and may be replayed (see ProxyExchange#retryable): the canary's failure
   * is counted and logged as it is (its rollout window sees it), and the same client request goes to stable once,
   * counted and logged again with reason `retry_stable`. Only retried requests pay for this path.
   */
  retryToStable(failed: ProxyExchange, status: number, error: { code: string; kind: UpstreamErrorKind | null } | null): boolean {
    const route = failed.route;
    const guard = route.guard!;
    const stable = failed.binding.stable;
    const upstream = stable.upstream;
    // A full stable is no place for a second copy, nor is a spent budget: both count as budget_exhausted.
    if (upstream.inFlight >= upstream.maxRequests) {
      guard.retries.budget_exhausted++;
      return false;
    }
    if (!guard.takeRetry(route.retry!)) return false;
    this.#account(failed, status, error, true);
    stable.series.countDecision('retry_stable');
    const headers = stableHeaders(failed.headers);
    const retry = new ProxyExchange(
      failed.req,
      failed.res,
      failed.connection,
      route,
      failed.binding,
      stable,
      RETRY_STABLE,
      failed.requestId,
      failed.setCookie,
      performance.now(),
      this,
      failed.tap,
      failed.hasBody,
      headers,
    );
    upstream.inFlight++;
    const accepted = upstream.pool.dispatch(
      {
        path: failed.req.url ?? '',
        method: failed.req.method ?? 'GET',
        headers,
        body: failed.hasBody ? (failed.tap?.bodyStream ?? failed.req) : null,
        headersTimeout: stable.headersTimeout,
        bodyTimeout: stable.bodyTimeout,
      },
      retry,
    );
    if (!accepted) retry.poolSaturated();
    return true;
  }

  /** Metrics, the canary's outlier detector and the access log line of one exchange (a retried one included). */
  #account(exchange: ProxyExchange, status: number, error: { code: string; kind: UpstreamErrorKind | null } | null, retried: boolean): void {
    const elapsedMs = performance.now() - exchange.startedAt;
    const method = methodLabel(exchange.req.method);
    const backend = exchange.backend;
    const upstreamFailed = error !== null && error.kind !== null;
    const weighted = placedByWeight(exchange.decision.reason);
    backend.series.observeResponse(method, status, elapsedMs / 1000, upstreamFailed, weighted);
    if (error !== null) {
      const clientTimeout = CLIENT_TIMEOUTS.get(error.code);
      if (error.kind !== null) backend.series.countUpstreamError(error.kind);
      else if (clientTimeout !== undefined) backend.series.countClientTimeout(clientTimeout);
    }
    // Only what the weight placed, as in rollout analysis: a client that chose the canary (an override, a pinned rule)
    // cannot eject a healthy one by sending it requests that fail.
    if (weighted && backend.version === 'canary') recordCanaryOutcome(exchange.route, status, error);
    if (this.#accessLog.wants(status)) {
      this.#accessLog.write({
        requestId: exchange.requestId,
        method,
        path: exchange.req.url ?? '',
        route: exchange.routeName,
        version: backend.version,
        reason: exchange.decision.reason,
        rule: exchange.decision.rule,
        status,
        durationMs: Math.round(elapsedMs * 1000) / 1000,
        upstream: backend.upstream.name,
        ...(error !== null ? { error: error.code } : {}),
        // undefined is left out of the JSON line, and costs no object on the common path.
        retried: retried ? true : undefined,
      });
    }
  }

}

/** What the canary's outlier detector learns from one finished exchange; the client's own failures teach it nothing. */
function recordCanaryOutcome(route: CompiledRoute, status: number, error: { code: string; kind: UpstreamErrorKind | null } | null): void {
  const guard = route.guard;
  if (guard === null) return;
  if (error === null) {
    guard.record(status >= 500 ? Outcome.Failure : Outcome.Success);
  } else if (error.kind !== null) {
    const kind = error.kind;
    guard.record(kind === 'connect_refused' || kind === 'connect_timeout' || kind === 'dns' || kind === 'tls' ? Outcome.ConnectFailure : Outcome.Failure);
  }
}

/** The canary's upstream header list, copied, with `x-splitgate-version: stable` (upstreamHeaders puts it last but one or two). */
function stableHeaders(canary: readonly string[]): string[] {
  const headers = canary.slice();
  for (let i = headers.length - 2; i >= 0; i -= 2) {
    if (headers[i] === 'x-splitgate-version') {
      headers[i + 1] = 'stable';
      break;
    }
  }
  return headers;
}

/**
 * Behind a trusted proxy: the right-most X-Forwarded-For entry, the address that proxy saw connecting to it.
 * Entries further left were written by whoever sent the request and can be anything.
 */
function forwardedClient(forwarded: string, peer: string): string {
  if (forwarded === '') return peer;
  const comma = forwarded.lastIndexOf(',');
  const last = (comma === -1 ? forwarded : forwarded.slice(comma + 1)).trim();
  return last === '' ? peer : last;
}

function newRequestId(head: RequestHead): string {
  const given = head.requestId;
  return given !== undefined && REQUEST_ID.test(given) ? given : randomRequestId();
}

/** What routing decided for one request: everything both the request path and the upgrade path need. */
class Routed {
  constructor(
    readonly route: CompiledRoute,
    readonly context: RequestContext,
    readonly decision: RouteDecision,
    readonly binding: RouteBinding,
    readonly backend: BackendBinding,
    /** The client connection: its peer address, and where the exchange registers to hear of it closing. */
    readonly connection: ClientConnection,
    readonly trustForwarded: boolean,
  ) {}
}

interface LocalAnswer {
  readonly status: number;
  readonly code: string;
  readonly message: string;
}

// Only origin-form targets (RFC 9112 §3.2.1) are routed; absolute-form and `*` are for forward proxies.
const NOT_ORIGIN_FORM: LocalAnswer = { status: 400, code: 'SG_BAD_REQUEST_TARGET', message: 'request target must start with "/"' };
const NO_ROUTE: LocalAnswer = { status: 404, code: 'SG_NO_ROUTE', message: 'no route matches this host and path' };
// RFC 9112 §3.2: a request with more than one Host field is answered 400 (node:http answers a missing one).
const HOST_REPEATED: LocalAnswer = { status: 400, code: 'SG_BAD_HOST', message: 'request has more than one Host header field' };

/** Match, context and decision, on the table the request started with. */
function routeRequest(active: ActiveTable, req: IncomingMessage, head: RequestHead, entropy: Entropy): Routed | LocalAnswer {
  const url = req.url ?? '';
  if (url.charCodeAt(0) !== 47) return NOT_ORIGIN_FORM;
  if (head.hostRepeated) return HOST_REPEATED;
  const route = matchRoute(active.table, head.host, url);
  if (route === undefined) return NO_ROUTE;
  const trustForwarded = active.config.trustForwardedFor;
  const connection = clientConnection(req.socket);
  const peerIp = connection.peerIp;
  const clientIp = trustForwarded ? forwardedClient(head.forwardedFor, peerIp) : peerIp;
  const context = buildContext(route, head.routing, clientIp, entropy);
  const decision = decideRoute(route, context);
  const binding = active.bindings[route.index];
  const backend = decision.version === 'canary' ? binding.canary! : binding.stable;
  return new Routed(route, context, decision, binding, backend, connection, trustForwarded);
}

function forwardedHeaders(head: RequestHead, routed: Routed, requestId: string): string[] {
  const route = routed.route;
  if (route.overrideSecret !== null) dropOverrideFields(head.forward, route.overrideHeader, route.overrideCookie);
  return upstreamHeaders(head, {
    peerIp: routed.connection.peerIp,
    trustForwarded: routed.trustForwarded,
    proto: 'http',
    version: routed.decision.version,
    requestId,
  });
}

function ignoreError(): void {
  // A reset client connection is seen through 'close' by whoever holds it; the error itself needs no handling.
}

function respondLocally(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  requestId: string,
  series: VersionSeries,
  method: string | undefined,
  startedAt: number,
  weighted = false,
): void {
  const body = errorBody(code, message, requestId);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'x-request-id': requestId,
  });
  res.end(body);
  series.observeResponse(methodLabel(method), status, (performance.now() - startedAt) / 1000, false, weighted);
}
