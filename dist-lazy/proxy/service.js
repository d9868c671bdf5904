import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { methodLabel } from '../metrics/metrics.js';
import { buildContext } from '../routing/context.js';
import { decisionOf, placedByWeight } from '../routing/table.js';
import { decideRoute } from '../routing/decide.js';
import { matchRoute } from '../routing/match.js';
import { clientConnection } from './client-connections.js';
import { ProxyExchange } from './exchange.js';
import { dropOverrideFields, readRequestHead, upstreamHeaders } from './request-head.js';
import { randomRequestId } from './request-id.js';
import { TimeoutSweep } from './timeout-sweep.js';
import { rejectUpgrade, UpgradeExchange } from './upgrade.js';
import { BODY_TOO_LARGE_CODE, BodyLimit, ClientRejections } from './client-limits.js';
import { errorBody } from './upstream-errors.js';
import { requestFlagsHeader } from '../flags/route-flags.js';
import { OfrepEndpoint, ofrepRoute } from '../flags/ofrep.js';
const DEFAULT_ENTROPY = { newId: randomUUID, random: Math.random };
const CLIENT_TIMEOUTS = new Map([
    ['SG_CLIENT_SEND_TIMEOUT', 'send'],
    ['SG_CLIENT_BODY_TIMEOUT', 'body'],
]);
const RETRY_STABLE = decisionOf('stable', 'retry_stable');
const REDIRECT_STABLE = decisionOf('stable', 'retry_stable');
const NEVER_RECEIVED = new Set(['connect_refused', 'connect_timeout', 'dns', 'tls']);
const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;
export class ProxyService {
    #store;
    #accessLog;
    #entropy;
    #experiments;
    #ofrep = new OfrepEndpoint();
    #inFlight = 0;
    #draining = false;
    #idleWaiters = [];
    #spliced = new Set();
    sweep = new TimeoutSweep();
    rejections = new ClientRejections();
    upgrades = new Map();
    constructor(options) {
        this.#store = options.store;
        this.#accessLog = options.accessLog;
        this.#entropy = options.entropy ?? DEFAULT_ENTROPY;
        this.#experiments = options.experiments ?? null;
    }
    get inFlight() {
        return this.#inFlight;
    }
    startDraining() {
        this.#draining = true;
    }
    get draining() {
        return this.#draining;
    }
    idle() {
        if (this.#inFlight === 0)
            return Promise.resolve();
        return new Promise((resolve) => this.#idleWaiters.push(resolve));
    }
    handle(req, res) {
        const startedAt = performance.now();
        const active = this.#store.current;
        if (this.#draining)
            res.shouldKeepAlive = false;
        const connection = clientConnection(req.socket);
        if (connection.framingBroken)
            return;
        const head = readRequestHead(req.rawHeaders, active.headerNames);
        if (head.transferEncodingInvalid) {
            connection.framingBroken = true;
            res.shouldKeepAlive = false;
            this.rejections.count('bad_request');
            respondLocally(res, BAD_TRANSFER_ENCODING.status, BAD_TRANSFER_ENCODING.code, BAD_TRANSFER_ENCODING.message, newRequestId(head), active.unmatched, req.method, startedAt);
            return;
        }
        const limits = active.config.limits;
        const over = overLimit(req, head, limits.maxHeaderCount, limits.maxBodyBytes);
        if (over !== null) {
            res.shouldKeepAlive = false;
            this.rejections.count(over === TOO_MANY_HEADERS ? 'too_many_headers' : 'body_too_large');
            respondLocally(res, over.status, over.code, over.message, newRequestId(head), active.unmatched, req.method, startedAt);
            return;
        }
        const ofrep = active.table.ofrep;
        if (ofrep !== null) {
            const target = ofrepRoute(ofrep, req.url ?? '');
            if (target !== null) {
                const series = active.ofrep;
                const fallbackKey = ofrep.targetingKeyOf === null ? null : ofrep.targetingKeyOf(head.routing, clientIpOf(active.config.trustForwardedFor, connection.peerIp, head));
                this.#ofrep.handle(req, res, ofrep, active.table.flagSet, target.key, fallbackKey, (status) => series.observeResponse(methodLabel(req.method), status, (performance.now() - startedAt) / 1000, false, false));
                return;
            }
        }
        const routed = routeRequest(active, req, head, this.#entropy);
        if (routed instanceof Promise)
            this.#afterVerification(routed, req, res, head, active, startedAt);
        else
            this.#forward(routed, req, res, head, active, startedAt);
    }
    #afterVerification(pending, req, res, head, active, startedAt) {
        this.#inFlight++;
        pending
            .then((routed) => {
            if (res.destroyed || req.socket.destroyed)
                return;
            const current = this.#store.current;
            if (current !== active) {
                const again = routeRequest(current, req, head, this.#entropy);
                if (again instanceof Promise)
                    return this.#afterVerification(again, req, res, head, current, startedAt);
                return this.#forward(again, req, res, head, current, startedAt);
            }
            this.#forward(routed, req, res, head, active, startedAt);
        })
            .catch((error) => {
            if (!res.headersSent && !res.destroyed) {
                respondLocally(res, 500, 'SG_INTERNAL', `request failed after token verification: ${error.message}`, newRequestId(head), active.unmatched, req.method, startedAt);
            }
        })
            .finally(() => this.#leftFlight());
    }
    #leftFlight() {
        if (--this.#inFlight === 0 && this.#idleWaiters.length > 0) {
            const waiters = this.#idleWaiters;
            this.#idleWaiters = [];
            for (const resolve of waiters)
                resolve();
        }
    }
    #forward(routed, req, res, head, active, startedAt) {
        const url = req.url ?? '';
        const limits = active.config.limits;
        if (!(routed instanceof Routed)) {
            respondLocally(res, routed.status, routed.code, routed.message, newRequestId(head), active.unmatched, req.method, startedAt);
            return;
        }
        const { route, context, decision, binding, backend } = routed;
        backend.series.countDecision(decision.reason);
        const requestId = newRequestId(head);
        const upstream = backend.upstream;
        if (upstream.inFlight >= upstream.maxRequests) {
            backend.series.countUpstreamError('overflow');
            respondLocally(res, 503, 'SG_UPSTREAM_OVERLOADED', `${upstream.name} has ${upstream.inFlight} requests in flight (maxRequests)`, requestId, backend.series, req.method, startedAt, placedByWeight(decision.reason));
            return;
        }
        const headers = forwardedHeaders(head, routed, requestId);
        const setCookie = context.issuedId === null ? null : `${route.stickyCookie.name}=${context.issuedId}${route.stickyCookie.attributes}`;
        const hasBody = head.hasBody;
        const tap = binding.mirror === null ? null : binding.mirror.tap(req, context, decision, headers, head);
        let body = hasBody ? (tap?.bodyStream ?? req) : null;
        if (body !== null && head.chunked && limits.maxBodyBytes !== 0)
            body = new BodyLimit(body, limits.maxBodyBytes);
        const cookieHeader = head.routing.cookie;
        const experiment = this.#experiments === null
            ? null
            : this.#experiments.begin(active.config, route.name, decision.version, context.stickyKey, req.method ?? 'GET', url, typeof cookieHeader === 'string' ? cookieHeader : undefined, active.table.flagSet, routed);
        const exchange = new ProxyExchange(req, res, routed.connection, route, binding, backend, decision, requestId, setCookie, startedAt, this, tap, hasBody, headers, experiment);
        exchange.body = body;
        this.#inFlight++;
        if (route.guard !== null)
            route.guard.active++;
        upstream.inFlight++;
        const accepted = upstream.pool.dispatch({
            path: url,
            method: req.method ?? 'GET',
            headers,
            body,
            headersTimeout: backend.headersTimeout,
            bodyTimeout: backend.bodyTimeout,
        }, exchange);
        if (!accepted)
            exchange.poolSaturated();
    }
    handleUpgrade(req, socket, firstBytes) {
        const startedAt = performance.now();
        const active = this.#store.current;
        socket.on('error', ignoreError);
        if (clientConnection(req.socket).framingBroken) {
            socket.end();
            return;
        }
        const requestHead = readRequestHead(req.rawHeaders, active.headerNames);
        if (requestHead.transferEncodingInvalid) {
            clientConnection(req.socket).framingBroken = true;
            this.rejections.count('bad_request');
            rejectUpgrade(socket, BAD_TRANSFER_ENCODING.status, BAD_TRANSFER_ENCODING.code, BAD_TRANSFER_ENCODING.message, newRequestId(requestHead));
            return;
        }
        const spliced = this.#spliced.add(socket);
        socket.once('close', () => spliced.delete(socket));
        const tooMany = overLimit(req, requestHead, active.config.limits.maxHeaderCount, 0);
        const routed = tooMany ?? routeRequest(active, req, requestHead, this.#entropy);
        if (tooMany !== null)
            this.rejections.count('too_many_headers');
        if (routed instanceof Promise) {
            routed
                .then((decided) => {
                if (!socket.destroyed)
                    this.#upgradeRouted(decided, req, socket, firstBytes, requestHead, active, startedAt);
            })
                .catch(() => socket.destroy());
            return;
        }
        this.#upgradeRouted(routed, req, socket, firstBytes, requestHead, active, startedAt);
    }
    #upgradeRouted(routed, req, socket, firstBytes, requestHead, active, startedAt) {
        const url = req.url ?? '';
        if (!(routed instanceof Routed)) {
            rejectUpgrade(socket, routed.status, routed.code, routed.message, newRequestId(requestHead));
            active.unmatched.observeResponse(methodLabel(req.method), routed.status, (performance.now() - startedAt) / 1000);
            return;
        }
        const backend = routed.backend;
        backend.series.countDecision(routed.decision.reason);
        const requestId = newRequestId(requestHead);
        const headers = forwardedHeaders(requestHead, routed, requestId);
        backend.upstream.pool.dispatch({
            path: url,
            method: (req.method ?? 'GET'),
            headers,
            upgrade: requestHead.upgrade ?? 'websocket',
            headersTimeout: backend.headersTimeout,
            bodyTimeout: backend.bodyTimeout,
        }, new UpgradeExchange(req, socket, firstBytes, backend, requestId, startedAt, this.#spliced, placedByWeight(routed.decision.reason), {
            reason: routed.decision.reason,
            rule: routed.decision.rule,
            idleTimeoutMs: active.config.limits.upgradeIdleTimeout,
            observer: this,
        }));
    }
    closeUpgraded() {
        for (const socket of this.#spliced)
            socket.destroy();
        this.#spliced.clear();
    }
    upgradeOpened(backend) {
        this.#upgradeCounts(backend).open++;
    }
    upgradeClosed(record) {
        const counts = this.#upgradeCounts(record.backend);
        counts.open--;
        counts.closed++;
        counts.bytesIn += record.bytesIn;
        counts.bytesOut += record.bytesOut;
        counts.seconds += record.durationMs / 1000;
        if (record.idleTimeout)
            this.rejections.count('upgrade_idle_timeout');
        if (!this.#accessLog.wants(101))
            return;
        this.#accessLog.write({
            requestId: record.requestId,
            method: methodLabel(record.method),
            path: record.path,
            route: record.backend.series.route,
            version: record.backend.version,
            reason: record.reason,
            rule: record.rule,
            status: 101,
            durationMs: record.durationMs,
            upstream: record.backend.upstream.name,
            bytesIn: record.bytesIn,
            bytesOut: record.bytesOut,
            ...(record.idleTimeout ? { error: 'SG_UPGRADE_IDLE_TIMEOUT' } : {}),
        });
    }
    #upgradeCounts(backend) {
        const key = `${backend.series.route}\0${backend.version}`;
        let counts = this.upgrades.get(key);
        if (counts === undefined) {
            counts = { route: backend.series.route, version: backend.version, open: 0, closed: 0, bytesIn: 0, bytesOut: 0, seconds: 0 };
            this.upgrades.set(key, counts);
        }
        return counts;
    }
    exchangeEnded(outcome) {
        const exchange = outcome.exchange;
        this.#account(exchange, outcome.status, outcome.error, false);
        const guard = exchange.route.guard;
        if (guard !== null) {
            guard.active--;
            if (exchange.decision === RETRY_STABLE)
                guard.retryEnded(outcome.error === null && outcome.status < 500);
            else if (exchange.decision === REDIRECT_STABLE)
                guard.redirectEnded(outcome.error === null && outcome.status < 500);
        }
        this.#leftFlight();
    }
    retryToStable(failed, status, error) {
        const route = failed.route;
        const guard = route.guard;
        const stable = failed.binding.stable;
        const upstream = stable.upstream;
        if (upstream.inFlight >= upstream.maxRequests) {
            guard.retries.budget_exhausted++;
            return false;
        }
        const redirect = error !== null && error.kind !== null && NEVER_RECEIVED.has(error.kind);
        if (redirect)
            guard.takeRedirect();
        else if (!guard.takeRetry(route.retry))
            return false;
        this.#account(failed, status, error, true);
        stable.series.countDecision('retry_stable');
        const headers = stableHeaders(failed.headers);
        const retry = new ProxyExchange(failed.req, failed.res, failed.connection, route, failed.binding, stable, redirect ? REDIRECT_STABLE : RETRY_STABLE, failed.requestId, failed.setCookie, performance.now(), this, failed.tap, failed.hasBody, headers, failed.experiment);
        retry.body = failed.body;
        upstream.inFlight++;
        const accepted = upstream.pool.dispatch({
            path: failed.req.url ?? '',
            method: failed.req.method ?? 'GET',
            headers,
            body: failed.body,
            headersTimeout: stable.headersTimeout,
            bodyTimeout: stable.bodyTimeout,
        }, retry);
        if (!accepted)
            retry.poolSaturated();
        return true;
    }
    #account(exchange, status, error, retried) {
        const elapsedMs = performance.now() - exchange.startedAt;
        const method = methodLabel(exchange.req.method);
        const backend = exchange.backend;
        const upstreamFailed = error !== null && error.kind !== null;
        const weighted = placedByWeight(exchange.decision.reason);
        backend.series.observeResponse(method, status, elapsedMs / 1000, upstreamFailed, weighted);
        if (error !== null) {
            const clientTimeout = CLIENT_TIMEOUTS.get(error.code);
            if (error.kind !== null)
                backend.series.countUpstreamError(error.kind);
            else if (clientTimeout !== undefined)
                backend.series.countClientTimeout(clientTimeout);
            else if (error.code === BODY_TOO_LARGE_CODE)
                this.rejections.count('body_too_large');
        }
        if (weighted && backend.version === 'canary')
            recordCanaryOutcome(exchange.route, status, error);
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
                retried: retried ? true : undefined,
            });
        }
    }
}
function recordCanaryOutcome(route, status, error) {
    const guard = route.guard;
    if (guard === null)
        return;
    if (error === null) {
        if (status < 500)
            guard.earnRetryCredit();
        guard.record(status >= 500 ? 1 : 0);
    }
    else if (error.kind !== null) {
        const kind = error.kind;
        guard.record(kind === 'connect_refused' || kind === 'connect_timeout' || kind === 'dns' || kind === 'tls' ? 2 : 1);
    }
}
function stableHeaders(canary) {
    const headers = canary.slice();
    for (let i = headers.length - 2; i >= 0; i -= 2) {
        if (headers[i] === 'x-splitgate-version') {
            headers[i + 1] = 'stable';
            break;
        }
    }
    return headers;
}
function forwardedClient(forwarded, peer) {
    if (forwarded === '')
        return peer;
    const comma = forwarded.lastIndexOf(',');
    const last = (comma === -1 ? forwarded : forwarded.slice(comma + 1)).trim();
    return last === '' ? peer : last;
}
function newRequestId(head) {
    const given = head.requestId;
    return given !== undefined && REQUEST_ID.test(given) ? given : randomRequestId();
}
class Routed {
    route;
    context;
    decision;
    binding;
    backend;
    connection;
    trustForwarded;
    claims;
    constructor(route, context, decision, binding, backend, connection, trustForwarded, claims) {
        this.route = route;
        this.context = context;
        this.decision = decision;
        this.binding = binding;
        this.backend = backend;
        this.connection = connection;
        this.trustForwarded = trustForwarded;
        this.claims = claims;
    }
}
const NOT_ORIGIN_FORM = { status: 400, code: 'SG_BAD_REQUEST_TARGET', message: 'request target must start with "/"' };
const HTTP_VERSION = { status: 505, code: 'SG_HTTP_VERSION', message: 'only HTTP/1.0 and HTTP/1.1 requests are accepted' };
const NO_ROUTE = { status: 404, code: 'SG_NO_ROUTE', message: 'no route matches this host and path' };
const BAD_TRANSFER_ENCODING = { status: 400, code: 'SG_BAD_FRAMING', message: 'Transfer-Encoding must end with chunked (RFC 9112 §6.1)' };
const HOST_REPEATED = { status: 400, code: 'SG_BAD_HOST', message: 'request has more than one Host header field' };
const TOO_MANY_HEADERS = { status: 431, code: 'SG_TOO_MANY_HEADERS', message: 'request has more header fields than limits.maxHeaderCount' };
const BODY_TOO_LARGE = { status: 413, code: BODY_TOO_LARGE_CODE, message: 'request body is larger than limits.maxBodyBytes' };
function overLimit(req, head, maxHeaderCount, maxBodyBytes) {
    if (req.rawHeaders.length > maxHeaderCount * 2)
        return TOO_MANY_HEADERS;
    if (maxBodyBytes !== 0 && head.contentLength !== undefined && Number(head.contentLength) > maxBodyBytes)
        return BODY_TOO_LARGE;
    return null;
}
function clientIpOf(trustForwarded, peerIp, head) {
    return trustForwarded ? forwardedClient(head.forwardedFor, peerIp) : peerIp;
}
function routeRequest(active, req, head, entropy) {
    const url = req.url ?? '';
    if (req.httpVersionMajor !== 1)
        return HTTP_VERSION;
    if (url.charCodeAt(0) !== 47)
        return NOT_ORIGIN_FORM;
    if (head.hostRepeated)
        return HOST_REPEATED;
    const route = matchRoute(active.table, head.host, url);
    if (route === undefined)
        return NO_ROUTE;
    const trustForwarded = active.config.trustForwardedFor;
    const connection = clientConnection(req.socket);
    const context = buildContext(route, head.routing, clientIpOf(trustForwarded, connection.peerIp, head), entropy);
    const binding = active.bindings[route.index];
    const verifier = binding.claims;
    if (verifier === null)
        return decided(route, context, binding, connection, trustForwarded);
    const token = verifier.tokenFrom(context.headers, context.cookies);
    if (token === null)
        return decided(route, context, binding, connection, trustForwarded);
    const known = verifier.cached(token);
    if (known !== undefined)
        return decided(route, context.withClaims(known), binding, connection, trustForwarded);
    return verifier.verify(token).then((claims) => decided(route, context.withClaims(claims), binding, connection, trustForwarded));
}
function decided(route, context, binding, connection, trustForwarded) {
    const decision = decideRoute(route, context);
    const backend = decision.version === 'canary' ? binding.canary : binding.stable;
    return new Routed(route, context, decision, binding, backend, connection, trustForwarded, context.claims ?? undefined);
}
function forwardedHeaders(head, routed, requestId) {
    const route = routed.route;
    if (route.overrideSecret !== null)
        dropOverrideFields(head.forward, route.overrideHeader, route.overrideCookie);
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
        if (value !== '')
            headers.push(flags.header, value);
    }
    return headers;
}
function ignoreError() {
}
function respondLocally(res, status, code, message, requestId, series, method, startedAt, weighted = false) {
    const body = errorBody(code, message, requestId);
    res.writeHead(status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'x-request-id': requestId,
    });
    res.end(body);
    series.observeResponse(methodLabel(method), status, (performance.now() - startedAt) / 1000, false, weighted);
}
//# sourceMappingURL=service.js.map