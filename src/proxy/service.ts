/**
 * The data path: node:http request → route match → context → decision → upstream dispatch. Reads the routing
 * table once per request. Counts and logs every request exactly once, when it ends.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex, Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { performance } from 'node:perf_hooks';
import type { AccessLog, AccessLogEntry } from '../log.js';
import { methodLabel, type ClientTimeoutKind, type UpstreamErrorKind, type VersionSeries } from '../metrics/metrics.js';
import { buildContext, type Entropy, type RequestContext } from '../routing/context.js';
import { decisionOf, placedByWeight, type CompiledRoute, type RouteDecision } from '../routing/table.js';
import { decideRoute } from '../routing/decide.js';
import { AMBIGUOUS_PATH, matchRoute } from '../routing/match.js';
import type { ActiveTable, BackendBinding, RouteBinding, TableStore } from '../state/table-store.js';
import { Outcome } from './canary-guard.js';
import { clientConnection, closeAfter, type ClientConnection } from './client-connections.js';
import { ProxyExchange, type ExchangeObserver, type ExchangeOutcome } from './exchange.js';
import { dropOverrideFields, HostCheck, readRequestHead, type HeaderNameIndex, rightMostEntry, upstreamHeaders, type RequestHead } from './request-head.js';
import { randomRequestId } from './request-id.js';
import { TimeoutSweep } from './timeout-sweep.js';
import { closeWhenSent, rejectUpgrade, UpgradeExchange, type UpgradeAnswer, type UpgradeHandshake, type UpgradeObserver, type UpgradeRecord } from './upgrade.js';
import { BODY_TOO_LARGE_CODE, BodyLimit, ClientRejections } from './client-limits.js';
import { errorBody } from './upstream-errors.js';
import type { ExperimentBook } from '../experiments/experiment-book.js';
import { requestFlagsHeader, type VerifiedClaims } from '../flags/route-flags.js';
import { OfrepEndpoint, ofrepRoute } from '../flags/ofrep.js';

export interface ProxyServiceOptions {
  readonly store: TableStore;
  readonly accessLog: AccessLog;
  readonly entropy?: Entropy;
  /** Counts users and conversions of routes in A/B experiments (README "A/B experiments"). */
  readonly experiments?: ExperimentBook;
}

const DEFAULT_ENTROPY: Entropy = { newId: randomUUID, random: Math.random };

/** Error codes of client timeouts, counted in splitgate_client_timeouts_total by kind. */
const CLIENT_TIMEOUTS: ReadonlyMap<string, ClientTimeoutKind> = new Map([
  ['SG_CLIENT_SEND_TIMEOUT', 'send'],
  ['SG_CLIENT_BODY_TIMEOUT', 'body'],
]);

const RETRY_STABLE = decisionOf('stable', 'retry_stable');
/**
 * A request the canary never received (its connection was refused, timed out, or failed DNS or TLS), sent to stable
 * instead: same reason as a retry, but not a replay, so outside the retry budget (see retryToStable). Its own object
 * (decisionOf would return RETRY_STABLE itself): exchangeEnded tells the two apart by identity.
 */
const REDIRECT_STABLE: RouteDecision = Object.freeze({ ...RETRY_STABLE });

/** Upstream errors after which nothing of the request reached the canary. */
const NEVER_RECEIVED: ReadonlySet<UpstreamErrorKind> = new Set(['connect_refused', 'connect_timeout', 'dns', 'tls']);

/** A client-sent request id is kept when it is short and printable; otherwise splitgate makes one. */
const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

/** Upgraded (WebSocket) connections per route and version: open now, closed, and the bytes that went through. */
export interface UpgradeCounts {
  readonly route: string;
  readonly version: string;
  open: number;
  closed: number;
  bytesIn: number;
  bytesOut: number;
  seconds: number;
}

export class ProxyService implements ExchangeObserver, UpgradeObserver {
  readonly #store: TableStore;
  readonly #accessLog: AccessLog;
  readonly #entropy: Entropy;
  readonly #experiments: ExperimentBook | null;
  readonly #ofrep = new OfrepEndpoint();
  readonly #hosts = new HostCheck();
  #inFlight = 0;
  #draining = false;
  #idleWaiters: Array<() => void> = [];
  readonly #spliced = new Set<Duplex>();
  readonly sweep = new TimeoutSweep();
  readonly rejections = new ClientRejections();
  /** Keyed by route and version (labels from config only). */
  readonly upgrades = new Map<string, UpgradeCounts>();

  constructor(options: ProxyServiceOptions) {
    this.#store = options.store;
    this.#accessLog = options.accessLog;
    this.#entropy = options.entropy ?? DEFAULT_ENTROPY;
    this.#experiments = options.experiments ?? null;
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

  /**
   * `unmetExpectation`: the request has an Expect other than 100-continue (node:http's 'checkExpectation', which it
   * would otherwise answer itself and then serve what was pipelined after, even behind a request that cannot be
   * read): 417, as RFC 9110 §10.1.1 says, unless the request is unreadable (400, and nothing after it is served).
   */
  handle(req: IncomingMessage, res: ServerResponse, unmetExpectation = false): void {
    const startedAt = performance.now();
    const active = this.#store.current;
    const connection = clientConnection(req.socket);
    // node:http parsed this after the connection's last response (see ClientConnection.closing).
    if (connection.closing) return;
    if (this.#draining) closeAfter(res, connection);
    const head = readRequestHead(req.rawHeaders, active.headerNames);
    if (this.#refusedUnreadable(req, res, head, connection, active, startedAt)) return;
    // RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing (a 1.0 hop may read it by length or
    // to the close): read chunked and answered, then the connection closes, keep-alive asked or not.
    if (head.chunked && req.httpVersionMinor === 0) closeAfter(res, connection);
    if (unmetExpectation) {
      this.#answerLocally(req, res, 417, 'SG_EXPECTATION_FAILED', 'only Expect: 100-continue is supported', newRequestId(head), active.unmatched, startedAt);
      return;
    }
    const limits = active.config.limits;
    const over = overLimit(req, head, limits.maxHeaderCount, limits.maxBodyBytes);
    if (over !== null) {
      // The body (if any) is not read: the connection cannot carry another request.
      closeAfter(res, connection);
      this.rejections.count(over === TOO_MANY_HEADERS ? 'too_many_headers' : 'body_too_large');
      this.#answerLocally(req, res, over.status, over.code, over.message, newRequestId(head), active.unmatched, startedAt);
      return;
    }

    const refused = refusedRequest(req, head, this.#hosts, active.headerNames);
    if (refused !== null) {
      this.#answerLocally(req, res, refused.status, refused.code, refused.message, newRequestId(head), active.unmatched, startedAt);
      return;
    }

    const ofrep = active.table.ofrep;
    if (ofrep !== null) {
      const target = ofrepRoute(ofrep, req.url ?? '');
      if (target !== null) {
        // Answered here, never proxied: the same flag set as the header, for the context the client sends.
        const series = active.ofrep!;
        const fallbackKey = ofrep.targetingKeyOf === null ? null : ofrep.targetingKeyOf(head.routing, clientIpOf(active.config.trustForwardedFor, connection.peerIp, head));
        this.#ofrep.handle(req, res, ofrep, active.table.flagSet!, target.key, fallbackKey, (status) => series.observeResponse(methodLabel(req.method), status, (performance.now() - startedAt) / 1000, false, false));
        return;
      }
    }
    const routed = routeRequest(active, req, head, this.#entropy);
    if (routed instanceof Promise) this.#afterVerification(routed, req, res, head, active, startedAt);
    else this.#forward(routed, req, res, head, active, startedAt);
  }

  /**
   * An answer splitgate gives itself: sent, counted in `series`, and access-logged like any request (a refusal always
   * carries its error code, so `errors: true` keeps its line). `decided`: the route's decision, for an answer given
   * after one (a full upstream); the line then names the route, version and upstream.
   */
  #answerLocally(req: IncomingMessage, res: ServerResponse, status: number, code: string, message: string, requestId: string, series: VersionSeries, startedAt: number, decided: Routed | null = null): void {
    respondLocally(res, status, code, message, requestId, series, req.method, startedAt, decided !== null && placedByWeight(decided.decision.reason));
    this.#logLocal(req.method, req.url ?? '', requestId, status, code, startedAt, series, decided);
  }

  #logLocal(method: string | undefined, path: string, requestId: string, status: number, code: string, startedAt: number, series: VersionSeries, decided: Routed | null): void {
    if (!this.#accessLog.wants(status, true)) return;
    this.#accessLog.write({
      requestId,
      method: methodLabel(method),
      path,
      route: series.route,
      version: series.version,
      reason: decided === null ? 'local' : decided.decision.reason,
      rule: decided === null ? -1 : decided.decision.rule,
      status,
      durationMs: Math.round((performance.now() - startedAt) * 1000) / 1000,
      upstream: decided === null ? '' : decided.backend.upstream.name,
      error: code,
    });
  }

  /** Answers 400 and closes the connection when the request cannot be read (see unreadableRequest). */
  #refusedUnreadable(req: IncomingMessage, res: ServerResponse, head: RequestHead, connection: ClientConnection, active: ActiveTable, startedAt: number): boolean {
    const unreadable = unreadableRequest(req, head);
    if (unreadable === null) return false;
    closeAfter(res, connection);
    this.rejections.count('bad_request');
    this.#answerLocally(req, res, unreadable.status, unreadable.code, unreadable.message, newRequestId(head), active.unmatched, startedAt);
    return true;
  }

  /**
   * The route reads claims and the request's token was not in the verifier's cache: the decision waits for the
   * verification (bounded: a JWKS fetch has its timeout, see auth/jwt-verifier.ts). Counted in flight meanwhile, so
   * a drain waits for it. Only these requests pay for a promise; cached and claim-free ones stay synchronous.
   */
  #afterVerification(pending: Promise<Routed>, req: IncomingMessage, res: ServerResponse, head: RequestHead, active: ActiveTable, startedAt: number): void {
    this.#inFlight++;
    pending
      .then((routed) => {
        // The client went away while its token was verified: nothing to answer, nothing to send upstream.
        if (res.destroyed || req.socket.destroyed) return;
        // A reload while the token was verified may have closed the pools of the table the request started with:
        // decide again on the table in force (the token is cached now, so this is synchronous).
        const current = this.#store.current;
        if (current !== active) {
          const again = routeRequest(current, req, head, this.#entropy);
          if (again instanceof Promise) return this.#afterVerification(again, req, res, head, current, startedAt);
          return this.#forward(again, req, res, head, current, startedAt, true);
        }
        this.#forward(routed, req, res, head, active, startedAt, true);
      })
      .catch((error: unknown) => {
        if (!res.headersSent && !res.destroyed) {
          this.#answerLocally(req, res, 500, 'SG_INTERNAL', `request failed after token verification: ${(error as Error).message}`, newRequestId(head), active.unmatched, startedAt);
        }
      })
      // Only after the forward counted its own exchange in flight: a drain must not see zero in between.
      .finally(() => this.#leftFlight());
  }

  #leftFlight(): void {
    if (--this.#inFlight === 0 && this.#idleWaiters.length > 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  /** `verifiedLate`: the decision waited for a token's verification, so the request goes out only now. */
  #forward(routed: Routed | LocalAnswer, req: IncomingMessage, res: ServerResponse, head: RequestHead, active: ActiveTable, startedAt: number, verifiedLate = false): void {
    const url = req.url ?? '';
    const limits = active.config.limits;
    if (!(routed instanceof Routed)) {
      this.#answerLocally(req, res, routed.status, routed.code, routed.message, newRequestId(head), active.unmatched, startedAt);
      return;
    }
    const { route, context, decision, binding, backend } = routed;
    backend.series.countDecision(decision.reason);

    const requestId = newRequestId(head);
    const upstream = backend.upstream;
    if (upstream.inFlight >= upstream.maxRequests) {
      // Queueing more would only add latency for everyone; fail fast, as Envoy's circuit breaker does.
      backend.series.countUpstreamError('overflow');
      this.#answerLocally(req, res, 503, 'SG_UPSTREAM_OVERLOADED', `${upstream.name} has ${upstream.inFlight} requests in flight (maxRequests)`, requestId, backend.series, startedAt, routed);
      return;
    }
    const headers = forwardedHeaders(head, routed, requestId);
    const setCookie = context.issuedId === null ? null : `${route.stickyCookie!.name}=${context.issuedId}${route.stickyCookie!.attributes}`;
    const hasBody = head.hasBody;
    const tap = binding.mirror === null ? null : binding.mirror.tap(req, context, decision, headers, head);
    let body: Readable | null = hasBody ? (tap?.bodyStream ?? req) : null;
    // A chunked body announces no size: count it on its way (an allocation only for these, only with a limit set).
    if (body !== null && head.chunked && limits.maxBodyBytes !== 0) body = new BodyLimit(body, limits.maxBodyBytes);
    const cookieHeader = head.routing.cookie;
    const experiment =
      this.#experiments === null
        ? null
        : this.#experiments.begin(active.config, route.name, decision.version, context.stickyKey, req.method ?? 'GET', url, typeof cookieHeader === 'string' ? cookieHeader : undefined, active.table.flagSet, routed);
    const exchange = new ProxyExchange(req, res, routed.connection, route, binding, backend, decision, requestId, setCookie, startedAt, this, tap, hasBody, headers, experiment);
    exchange.body = body;
    if (verifiedLate) exchange.sentAt = performance.now();
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
        body,
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
    socket.on('error', ignoreError);
    // node:http hands a handshake over as soon as it parses it, even behind requests still being answered on the
    // connection: its 101 (and the tunnel's bytes) must not overtake their responses.
    afterOwedResponses(socket, () => {
      if (!socket.destroyed) this.#upgrade(req, socket, firstBytes);
    });
  }

  #upgrade(req: IncomingMessage, socket: Duplex, firstBytes: Buffer): void {
    const startedAt = performance.now();
    const active = this.#store.current;
    // A handshake node:http parsed after the connection's last response is not served (see ClientConnection.closing).
    if (clientConnection(req.socket).closing) {
      // end, not destroy: the refused request's 400 may still be on its way out.
      socket.end();
      return;
    }
    const requestHead = readRequestHead(req.rawHeaders, active.headerNames);
    const unreadable = unreadableRequest(req, requestHead);
    if (unreadable !== null) {
      clientConnection(req.socket).closing = true;
      this.rejections.count('bad_request');
      rejectUpgrade(socket, unreadable.status, unreadable.code, unreadable.message, newRequestId(requestHead));
      return;
    }
    // From here the connection is splitgate's, outside node:http's list: a stop closes it with the spliced ones.
    const spliced = this.#spliced.add(socket);
    socket.once('close', () => spliced.delete(socket));
    const tooMany = overLimit(req, requestHead, active.config.limits.maxHeaderCount, 0);
    const routed = tooMany ?? refusedRequest(req, requestHead, this.#hosts, active.headerNames) ?? routeRequest(active, req, requestHead, this.#entropy);
    if (tooMany !== null) this.rejections.count('too_many_headers');
    if (routed instanceof Promise) {
      // As for requests (#afterVerification); an upgraded connection is not counted in flight.
      routed
        .then((decided) => {
          if (!socket.destroyed) this.#upgradeRouted(decided, req, socket, firstBytes, requestHead, active, startedAt);
        })
        .catch(() => socket.destroy());
      return;
    }
    this.#upgradeRouted(routed, req, socket, firstBytes, requestHead, active, startedAt);
  }

  /**
   * CONNECT asks for a tunnel (RFC 9110 §9.3.6), which splitgate, a reverse proxy, never opens: 405, as nginx answers,
   * and the connection closed, since node:http has handed it over and what follows the request is tunnel data, not
   * requests. Without a listener node:http closed it with no answer at all. Answered after the responses still owed
   * to requests pipelined before it, so answers stay in order.
   */
  refuseConnect(req: IncomingMessage, socket: Duplex): void {
    const startedAt = performance.now();
    const active = this.#store.current;
    socket.on('error', ignoreError);
    // After the connection's last response (see ClientConnection.closing) nothing more is answered.
    const closing = clientConnection(req.socket).closing;
    const requestId = closing ? '' : newRequestId(readRequestHead(req.rawHeaders, active.headerNames));
    afterOwedResponses(socket, () => {
      if (closing) return closeWhenSent(socket);
      rejectUpgrade(socket, CONNECT_REFUSED.status, CONNECT_REFUSED.code, CONNECT_REFUSED.message, requestId);
      active.unmatched.observeResponse(methodLabel(req.method), CONNECT_REFUSED.status, (performance.now() - startedAt) / 1000);
      this.#logLocal(req.method, req.url ?? '', requestId, CONNECT_REFUSED.status, CONNECT_REFUSED.code, startedAt, active.unmatched, null);
    });
  }

  #upgradeRouted(routed: Routed | LocalAnswer, req: IncomingMessage, socket: Duplex, firstBytes: Buffer, requestHead: RequestHead, active: ActiveTable, startedAt: number): void {
    const url = req.url ?? '';
    if (!(routed instanceof Routed)) {
      const requestId = newRequestId(requestHead);
      rejectUpgrade(socket, routed.status, routed.code, routed.message, requestId);
      active.unmatched.observeResponse(methodLabel(req.method), routed.status, (performance.now() - startedAt) / 1000);
      this.#logLocal(req.method, url, requestId, routed.status, routed.code, startedAt, active.unmatched, null);
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
      new UpgradeExchange(req, socket, firstBytes, backend, requestId, startedAt, this.#spliced, placedByWeight(routed.decision.reason), {
        reason: routed.decision.reason,
        rule: routed.decision.rule,
        idleTimeoutMs: active.config.limits.upgradeIdleTimeout,
        observer: this,
      }),
    );
  }

  /** Closes upgraded (WebSocket) connections still open; for stop, after the drain. */
  closeUpgraded(): void {
    for (const socket of this.#spliced) socket.destroy();
    this.#spliced.clear();
  }

  upgradeOpened(backend: BackendBinding): void {
    this.#upgradeCounts(backend).open++;
  }

  /** A handshake answered otherwise than 101 (the upstream's refusal relayed, an upstream error, the client gone): its line. */
  upgradeAnswered(record: UpgradeAnswer): void {
    if (this.#accessLog.wants(record.status, record.error !== null)) this.#logUpgrade(record, record.status, record.error === null ? {} : { error: record.error });
  }

  #logUpgrade(handshake: UpgradeHandshake, status: number, extra: Partial<AccessLogEntry>): void {
    this.#accessLog.write({
      requestId: handshake.requestId,
      method: methodLabel(handshake.method),
      path: handshake.path,
      route: handshake.backend.series.route,
      version: handshake.backend.version,
      reason: handshake.reason,
      rule: handshake.rule,
      status,
      durationMs: handshake.durationMs,
      upstream: handshake.backend.upstream.name,
      ...extra,
    });
  }

  /** An upgraded connection closed: counted, and logged like a request (status 101, its bytes and duration). */
  upgradeClosed(record: UpgradeRecord): void {
    const counts = this.#upgradeCounts(record.backend);
    counts.open--;
    counts.closed++;
    counts.bytesIn += record.bytesIn;
    counts.bytesOut += record.bytesOut;
    counts.seconds += record.durationMs / 1000;
    if (record.idleTimeout) this.rejections.count('upgrade_idle_timeout');
    if (!this.#accessLog.wants(101, record.idleTimeout)) return;
    this.#logUpgrade(record, 101, { bytesIn: record.bytesIn, bytesOut: record.bytesOut, ...(record.idleTimeout ? { error: 'SG_UPGRADE_IDLE_TIMEOUT' } : {}) });
  }

  #upgradeCounts(backend: BackendBinding): UpgradeCounts {
    const key = `${backend.series.route}\0${backend.version}`;
    let counts = this.upgrades.get(key);
    if (counts === undefined) {
      counts = { route: backend.series.route, version: backend.version, open: 0, closed: 0, bytesIn: 0, bytesOut: 0, seconds: 0 };
      this.upgrades.set(key, counts);
    }
    return counts;
  }

  exchangeEnded(outcome: ExchangeOutcome): void {
    const exchange = outcome.exchange;
    this.#account(exchange, outcome.status, outcome.error, false);
    const guard = exchange.route.guard;
    if (guard !== null) {
      guard.active--;
      if (exchange.decision === RETRY_STABLE) guard.retryEnded(outcome.error === null && outcome.status < 500);
      else if (exchange.decision === REDIRECT_STABLE) guard.redirectEnded(outcome.error === null && outcome.status < 500);
    }
    this.#leftFlight();
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
    // The budget bounds replays: copies of requests the canary may have worked on, which a canary failing everywhere
    // would double on stable. A request the canary never received is moved, not copied: stable serves it once, as
    // it would after an ejection (which moves all of the canary's traffic), so only stable's maxRequests bounds it.
    // Without this, a canary that starts refusing under load fails every request over the budget until the
    // consecutive failures eject it.
    // An attempt sent again after a closed pooled connection may have reached the canary: replays, not moves.
    const redirect = failed.staleReplays === 0 && error !== null && error.kind !== null && NEVER_RECEIVED.has(error.kind);
    if (redirect) guard.takeRedirect();
    else if (!guard.takeRetry(route.retry!)) return false;
    this.#account(failed, status, error, true);
    stable.series.countDecision('retry_stable');
    const now = performance.now();
    this.#sendAgain(failed, stable, redirect ? REDIRECT_STABLE : RETRY_STABLE, now, now, stableHeaders(failed.headers));
    return true;
  }

  /**
   * The upstream closed the pooled connection `failed` went out on before answering (see ProxyExchange#staleReplayable):
   * the same request, to the same upstream, as the same exchange to the client. The failed attempt is not a response:
   * it is counted only as an upstream error of kind `stale_connection`, and the rollout window, the outlier detector
   * and the access log see the attempt that answers.
   */
  replayAfterStaleConnection(failed: ProxyExchange): boolean {
    const backend = failed.backend;
    const upstream = backend.upstream;
    // A reload retired this pool while the request was out: it takes no more requests.
    if (upstream.inFlight >= upstream.maxRequests || upstream.pool.closed || upstream.pool.destroyed) return false;
    backend.series.countUpstreamError('stale_connection');
    failed.staleReplays++;
    this.#sendAgain(failed, backend, failed.decision, failed.startedAt, performance.now(), failed.headers);
    return true;
  }

  /**
   * `failed`'s client request as a new exchange with `backend`; the caller has checked that it can take one. The
   * replays after closed pooled connections are counted per client request, across a retry to stable too.
   */
  #sendAgain(failed: ProxyExchange, backend: BackendBinding, decision: RouteDecision, startedAt: number, sentAt: number, headers: string[]): void {
    const again = new ProxyExchange(
      failed.req,
      failed.res,
      failed.connection,
      failed.route,
      failed.binding,
      backend,
      decision,
      failed.requestId,
      failed.setCookie,
      startedAt,
      this,
      failed.tap,
      failed.hasBody,
      headers,
      failed.experiment,
    );
    again.body = failed.body;
    again.staleReplays = failed.staleReplays;
    again.sentAt = sentAt;
    const upstream = backend.upstream;
    upstream.inFlight++;
    const accepted = upstream.pool.dispatch(
      {
        path: failed.req.url ?? '',
        method: failed.req.method ?? 'GET',
        headers,
        body: failed.body,
        headersTimeout: backend.headersTimeout,
        bodyTimeout: backend.bodyTimeout,
      },
      again,
    );
    if (!accepted) again.poolSaturated();
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
      else if (error.code === BODY_TOO_LARGE_CODE) this.rejections.count('body_too_large');
    }
    // Only what the weight placed, as in rollout analysis: a client that chose the canary (an override, a pinned rule)
    // cannot eject a healthy one by sending it requests that fail.
    if (weighted && backend.version === 'canary') recordCanaryOutcome(exchange.route, status, error);
    if (this.#accessLog.wants(status, error !== null)) {
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
        staleReplays: exchange.staleReplays > 0 ? exchange.staleReplays : undefined,
      });
    }
  }

}

/** What the canary's outlier detector learns from one finished exchange; the client's own failures teach it nothing. */
function recordCanaryOutcome(route: CompiledRoute, status: number, error: { code: string; kind: UpstreamErrorKind | null } | null): void {
  const guard = route.guard;
  if (guard === null) return;
  if (error === null) {
    if (status < 500) guard.earnRetryCredit();
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
  const last = rightMostEntry(forwarded);
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
    /** Claims of the request's verified JWT (auth/jwt-verifier.ts), for the flags' evaluation context; never unverified ones. */
    readonly claims: VerifiedClaims | undefined,
  ) {}
}

interface LocalAnswer {
  readonly status: number;
  readonly code: string;
  readonly message: string;
}

// Only origin-form targets (RFC 9112 §3.2.1) are routed; absolute-form and `*` are for forward proxies.
const NOT_ORIGIN_FORM: LocalAnswer = { status: 400, code: 'SG_BAD_REQUEST_TARGET', message: 'request target must start with "/"' };
// llhttp reads `HTTP/2.0` (and 0.9) request lines too; HTTP/1 framing claiming another major version is not one
// splitgate can forward faithfully (RFC 9110 §15.6.6).
const HTTP_VERSION: LocalAnswer = { status: 505, code: 'SG_HTTP_VERSION', message: 'only HTTP/1.0 and HTTP/1.1 requests are accepted' };
const NO_ROUTE: LocalAnswer = { status: 404, code: 'SG_NO_ROUTE', message: 'no route matches this host and path' };
/** Spellings of the path an upstream may resolve differently pick different routes (routing/path.ts). */
const PATH_AMBIGUOUS: LocalAnswer = { status: 400, code: 'SG_AMBIGUOUS_PATH', message: 'the request path reads as different routes depending on how it is decoded and resolved' };
// RFC 9112 §3.2: a request with more than one Host field is answered 400 (one without: see unreadableRequest).
const BAD_TRANSFER_ENCODING: LocalAnswer = { status: 400, code: 'SG_BAD_FRAMING', message: 'Transfer-Encoding must end with chunked (RFC 9112 §6.1)' };
const HOST_REPEATED: LocalAnswer = { status: 400, code: 'SG_BAD_HOST', message: 'request has more than one Host header field' };
const HOST_MISSING: LocalAnswer = { status: 400, code: 'SG_BAD_HOST', message: 'an HTTP/1.1 request must have a Host header field' };
const HOST_INVALID: LocalAnswer = { status: 400, code: 'SG_BAD_HOST', message: 'Host must be a host name or IP address and an optional port (RFC 9112 §3.2)' };
// Routing (JWT claims) reads the first Authorization, an upstream may read the last: two users, one request.
const AUTHORIZATION_REPEATED: LocalAnswer = { status: 400, code: 'SG_DUPLICATE_AUTHORIZATION', message: 'request has more than one Authorization header field' };
// TRACE echoes the request back, cookies and credentials included (cross-site tracing): never forwarded, as nginx.
const TRACE_REFUSED: LocalAnswer = { status: 405, code: 'SG_METHOD_NOT_ALLOWED', message: 'TRACE is not allowed' };
const CONNECT_REFUSED: LocalAnswer = { status: 405, code: 'SG_METHOD_NOT_ALLOWED', message: 'CONNECT is not allowed: splitgate opens no tunnels' };

/**
 * A request splitgate answers itself, before any route is matched (OFREP included): not HTTP/1.x, not origin form,
 * a Host that is repeated or not a host (RFC 9112 §3.2), two Authorization fields, TRACE. The connection goes on:
 * the request was read whole.
 */
function refusedRequest(req: IncomingMessage, head: RequestHead, hosts: HostCheck, names: HeaderNameIndex): LocalAnswer | null {
  if (req.httpVersionMajor !== 1) return HTTP_VERSION;
  if (head.hostRepeated) return HOST_REPEATED;
  // RFC 9112 §3.2: the Host field is checked whatever the target's form, before an absolute-form authority replaces it.
  if ((req.url ?? '').charCodeAt(0) !== 47) {
    if (head.host !== undefined && !hosts.valid(head.host)) return HOST_INVALID;
    if (!tookAbsoluteForm(req, head, names)) return NOT_ORIGIN_FORM;
  }
  if (head.host !== undefined && !hosts.valid(head.host)) return HOST_INVALID;
  if (head.authorizations > 1) return AUTHORIZATION_REPEATED;
  if (req.method === 'TRACE') return TRACE_REFUSED;
  return null;
}

/**
 * `http://authority/path?query`, the scheme in any case; no userinfo (RFC 9110 §4.2.4: deprecated, a phishing
 * vector), no empty host (§4.2.1), no fragment.
 */
const ABSOLUTE_FORM = /^https?:\/\/([^/?#@:][^/?#@]*)([/?][^#]*)?$/i;

/**
 * RFC 9112 §3.2.2: a server MUST accept a request-target in absolute-form, and its authority replaces the Host field.
 * Taken as NGINX and Envoy take it: routing, the upstream's Host, logs and mirrors see the authority, and the request
 * goes on in origin-form. Off the common path (a target not starting with "/").
 */
function tookAbsoluteForm(req: IncomingMessage, head: RequestHead, names: HeaderNameIndex): boolean {
  const match = ABSOLUTE_FORM.exec(req.url ?? '');
  if (match === null) return false;
  const authority = match[1];
  const rest = match[2] ?? '/';
  req.url = rest.charCodeAt(0) === 47 ? rest : `/${rest}`;
  head.host = authority;
  // A rule or sticky key that reads the Host field reads the authority too (a request with no routing field at all has
  // no record of its own yet).
  if (names.find('host')?.routing === true) {
    if (Object.isFrozen(head.routing)) head.routing = names.newRoutingValues();
    (head.routing as Record<string, string | undefined>).host = authority;
  }
  const forward = head.forward;
  let index = -1;
  for (let i = 0; i < forward.length; i += 2) if (forward[i] === 'host') index = i;
  if (index === -1) forward.push('host', authority);
  else forward[index + 1] = authority;
  return true;
}

/**
 * A request the connection cannot go on after: 400, close, and nothing node:http parses after it on that connection
 * is served (ClientConnection.closing). Its framing is unclear (a Transfer-Encoding not ending in chunked), or
 * it is HTTP/1.1 without Host (RFC 9112 §3.2). node:http's own answer to the latter (requireHostHeader) closed the
 * connection but went on to serve what was pipelined behind it, whose answers the client never got: the request
 * fuzz found one behind an empty Transfer-Encoding (seed 562203051), bytes another hop may read as a body.
 */
function unreadableRequest(req: IncomingMessage, head: RequestHead): LocalAnswer | null {
  if (head.transferEncodingInvalid) return BAD_TRANSFER_ENCODING;
  if (head.host === undefined && req.httpVersionMajor === 1 && req.httpVersionMinor === 1) return HOST_MISSING;
  return null;
}

const TOO_MANY_HEADERS: LocalAnswer = { status: 431, code: 'SG_TOO_MANY_HEADERS', message: 'request has more header fields than limits.maxHeaderCount' };
const BODY_TOO_LARGE: LocalAnswer = { status: 413, code: BODY_TOO_LARGE_CODE, message: 'request body is larger than limits.maxBodyBytes' };

/**
 * The per-request limits node:http does not enforce itself: the header count (node:http keeps one field more than
 * the limit, see applyLimits) and an announced Content-Length above the body limit (0 = none).
 */
function overLimit(req: IncomingMessage, head: RequestHead, maxHeaderCount: number, maxBodyBytes: number): LocalAnswer | null {
  if (req.rawHeaders.length > maxHeaderCount * 2) return TOO_MANY_HEADERS;
  if (maxBodyBytes !== 0 && head.contentLength !== undefined && Number(head.contentLength) > maxBodyBytes) return BODY_TOO_LARGE;
  return null;
}

/** The client's address as routing reads it: the peer, or the trusted X-Forwarded-For's client. */
function clientIpOf(trustForwarded: boolean, peerIp: string, head: RequestHead): string {
  return trustForwarded ? forwardedClient(head.forwardedFor, peerIp) : peerIp;
}

/**
 * Match, context and decision, on the table the request started with, for a request `refusedRequest` let through.
 * A promise only when the route reads claims and the request's token must be verified first (not cached);
 * everything else is decided synchronously.
 */
function routeRequest(active: ActiveTable, req: IncomingMessage, head: RequestHead, entropy: Entropy): Routed | LocalAnswer | Promise<Routed> {
  const route = matchRoute(active.table, head.host, req.url ?? '');
  if (route === undefined) return NO_ROUTE;
  if (route === AMBIGUOUS_PATH) return PATH_AMBIGUOUS;
  const trustForwarded = active.config.trustForwardedFor;
  const connection = clientConnection(req.socket);
  const context = buildContext(route, head.routing, clientIpOf(trustForwarded, connection.peerIp, head), entropy);
  const binding = active.bindings[route.index];
  const verifier = binding.claims;
  if (verifier === null) return decided(route, context, binding, connection, trustForwarded);
  const token = verifier.tokenFrom(context.headers, context.cookies);
  if (token === null) return decided(route, context, binding, connection, trustForwarded);
  const known = verifier.cached(token);
  if (known !== undefined) return decided(route, context.withClaims(known), binding, connection, trustForwarded);
  return verifier.verify(token).then((claims) => decided(route, context.withClaims(claims), binding, connection, trustForwarded));
}

function decided(route: CompiledRoute, context: RequestContext, binding: RouteBinding, connection: ClientConnection, trustForwarded: boolean): Routed {
  const decision = decideRoute(route, context);
  const backend = decision.version === 'canary' ? binding.canary! : binding.stable;
  return new Routed(route, context, decision, binding, backend, connection, trustForwarded, context.claims ?? undefined);
}

/**
 * The upstream's header list: the client's fields, splitgate's own, and the route's flags header. Built before the
 * mirror taps the request, so a shadow copy carries the same flags as the primary (and a retry on stable, which
 * copies this list, too).
 */
function forwardedHeaders(head: RequestHead, routed: Routed, requestId: string): string[] {
  const route = routed.route;
  if (route.overrideSecret !== null) dropOverrideFields(head.forward, route.overrideHeader, route.overrideCookie);
  const headers = upstreamHeaders(head, {
    peerIp: routed.connection.peerIp,
    trustForwarded: routed.trustForwarded,
    proto: 'http',
    version: routed.decision.version,
    requestId,
  });
  const flags = route.flags;
  if (flags !== null) {
    const value = requestFlagsHeader(flags, routed.context, routed.claims);
    if (value !== '') headers.push(flags.header, value);
  }
  return headers;
}

/**
 * Runs `then` once the responses owed on `socket` (node:http's, to requests pipelined before one it handed over)
 * are sent. node:http attaches one response at a time, the next when the one before finishes.
 */
function afterOwedResponses(socket: Duplex, then: () => void): void {
  const owed = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (owed == null || socket.destroyed) return then();
  // node:http's own 'finish' listener, added first, has attached the next response by the time this one runs.
  // A client that goes away first closes the socket: nothing is left to answer, and `then` never runs.
  owed.once('finish', () => afterOwedResponses(socket, then));
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
