import { performance } from 'node:perf_hooks';
import { SplitgateError } from '../errors.js';
import { trackOnConnection, untrackOnConnection } from './client-connections.js';
import { BodyTooLargeError } from './client-limits.js';
import { buildClientHeaders } from './headers.js';
import { errorBody, mapUpstreamError } from './upstream-errors.js';
export const CLIENT_CLOSED_STATUS = 499;
export class ClientAbortError extends SplitgateError {
    constructor() {
        super('SG_CLIENT_CLOSED', 'client closed the connection before the response completed', CLIENT_CLOSED_STATUS);
    }
}
export class ClientSendTimeoutError extends SplitgateError {
    constructor(ms) {
        super('SG_CLIENT_SEND_TIMEOUT', `client accepted no response bytes for ${ms} ms`, 408);
    }
}
export class ClientBodyTimeoutError extends SplitgateError {
    constructor(ms) {
        super('SG_CLIENT_BODY_TIMEOUT', `client sent no request body bytes for ${ms} ms`, 408);
    }
}
export const QUEUE_TIMEOUT_CODE = 'SG_UPSTREAM_QUEUE_TIMEOUT';
export class ProxyExchange {
    req;
    res;
    route;
    binding;
    backend;
    decision;
    routeName;
    requestId;
    startedAt;
    tap;
    body = null;
    headers;
    setCookie;
    connection;
    hasBody;
    experiment;
    #observer;
    #state = 0;
    #abort = null;
    #resume = null;
    #clientGone = false;
    #drainListening = false;
    #status = 0;
    #released = false;
    #waits = 0;
    #inSweep = false;
    #sendSince = 0;
    #sendBuffered = 0;
    #sendQueued = 0;
    #bodySince = 0;
    #bodyRead = 0;
    constructor(req, res, connection, route, binding, backend, decision, requestId, setCookie, startedAt, observer, tap, hasBody, headers, experiment = null) {
        this.req = req;
        this.res = res;
        this.route = route;
        this.routeName = route.name;
        this.binding = binding;
        this.backend = backend;
        this.decision = decision;
        this.requestId = requestId;
        this.setCookie = setCookie;
        this.startedAt = startedAt;
        this.#observer = observer;
        this.tap = tap;
        this.connection = connection;
        this.hasBody = hasBody;
        this.headers = headers;
        this.experiment = experiment;
        if (!trackOnConnection(connection, this))
            this.#clientGone = true;
    }
    poolSaturated() {
        if (this.#state !== 0 || this.#abort !== null || this.backend.queueTimeout === 0)
            return;
        this.#wait(1);
    }
    onConnect(abort) {
        if (this.#state === 2 || this.#clientGone) {
            throw this.#state === 2 ? new SplitgateError(QUEUE_TIMEOUT_CODE, 'request left the queue', 503) : new ClientAbortError();
        }
        this.#abort = abort;
        if (this.hasBody && !this.req.complete && this.backend.clientBodyTimeout !== 0) {
            this.#bodySince = performance.now();
            this.#bodyRead = this.connection.socket.bytesRead;
            this.#wait(4);
        }
    }
    onHeaders(statusCode, rawHeaders, resume, statusText) {
        if (statusCode < 200 || this.#state !== 0)
            return true;
        if (statusCode === 503 && this.#retryable(16) && this.#observer.retryToStable(this, 503, null)) {
            this.#end();
            return true;
        }
        this.#resume = resume;
        const headers = buildClientHeaders(rawHeaders, this.setCookie);
        if (this.experiment !== null) {
            const cookie = this.experiment.responded(statusCode, headers);
            if (cookie !== null)
                headers.push('set-cookie', cookie);
        }
        try {
            this.res.writeHead(statusCode, statusText || undefined, headers);
        }
        catch (error) {
            this.#abort?.(new SplitgateError('SG_UPSTREAM_PROTOCOL', 'upstream sent a header that cannot be relayed', 502, { cause: error }));
            return false;
        }
        this.#status = statusCode;
        this.#state = 1;
        this.tap?.primaryHeaders(statusCode, rawHeaders);
        return true;
    }
    onData(chunk) {
        if (this.#state !== 1)
            return true;
        this.tap?.primaryData(chunk);
        if (this.res.write(chunk))
            return true;
        if (!this.#drainListening) {
            this.#drainListening = true;
            this.res.on('drain', () => this.clientDrained());
        }
        if (this.backend.sendTimeout !== 0) {
            const socket = this.connection.socket;
            this.#sendSince = performance.now();
            this.#sendBuffered = socket.writableLength;
            this.#sendQueued = writeQueueSize(socket);
            this.#wait(2);
        }
        return false;
    }
    onComplete(trailers) {
        this.#release();
        if (this.#state === 2)
            return;
        const wasStreaming = this.#state === 1;
        this.#end();
        if (wasStreaming && trailers != null && trailers.length > 0)
            forwardTrailers(this.res, trailers);
        if (wasStreaming)
            this.res.end();
        if (wasStreaming)
            this.tap?.primaryComplete();
        else
            this.tap?.primaryFailed();
        this.#observer.exchangeEnded({ exchange: this, status: this.#status, error: null });
    }
    onError(error) {
        this.#release();
        if (this.#state === 2)
            return;
        if (this.#state === 0 && this.route.retry !== null && this.#retryOnError(error))
            return;
        const wasStreaming = this.#state === 1;
        this.#end();
        this.tap?.primaryFailed();
        const res = this.res;
        if (error instanceof ClientBodyTimeoutError || error instanceof BodyTooLargeError) {
            res.shouldKeepAlive = false;
        }
        if (this.#clientGone || res.destroyed || res.socket?.destroyed) {
            this.#observer.exchangeEnded({
                exchange: this,
                status: CLIENT_CLOSED_STATUS,
                error: { code: 'SG_CLIENT_CLOSED', kind: null },
            });
            return;
        }
        const mapped = mapUpstreamError(error);
        if (wasStreaming) {
            res.destroy();
            this.#observer.exchangeEnded({ exchange: this, status: this.#status, error: { code: mapped.code, kind: mapped.kind } });
            return;
        }
        const body = errorBody(mapped.code, mapped.message, this.requestId);
        res.writeHead(mapped.status, {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            'x-request-id': this.requestId,
        });
        res.end(body);
        this.#observer.exchangeEnded({ exchange: this, status: mapped.status, error: { code: mapped.code, kind: mapped.kind } });
    }
    #retryOnError(error) {
        const mapped = mapUpstreamError(error);
        if (mapped.kind === null || !this.#retryable(retryCondition(mapped)))
            return false;
        if (!this.#observer.retryToStable(this, mapped.status, { code: mapped.code, kind: mapped.kind }))
            return false;
        this.#end();
        return true;
    }
    #retryable(condition) {
        const policy = this.route.retry;
        if (policy === null || this.decision.version !== 'canary' || (policy.on & condition) === 0 || this.#clientGone)
            return false;
        if (this.res.headersSent || this.res.destroyed)
            return false;
        return this.#abort === null || (!this.hasBody && policy.methods.has(this.req.method ?? ''));
    }
    sweep(now) {
        if (this.#state === 2)
            return this.#leaveSweep();
        const backend = this.backend;
        if ((this.#waits & 1) !== 0) {
            if (this.#abort !== null) {
                this.#waits &= ~1;
            }
            else if (now - this.startedAt >= backend.queueTimeout) {
                this.#queueTimedOut();
                return this.#leaveSweep();
            }
        }
        if ((this.#waits & 4) !== 0) {
            const read = this.connection.socket.bytesRead;
            if (this.req.complete) {
                this.#waits &= ~4;
            }
            else if (read !== this.#bodyRead || !this.#upstreamAwaitsBody()) {
                this.#bodyRead = read;
                this.#bodySince = now;
            }
            else if (now - this.#bodySince >= backend.clientBodyTimeout) {
                this.res.shouldKeepAlive = false;
                this.#abort?.(new ClientBodyTimeoutError(backend.clientBodyTimeout));
                return this.#leaveSweep();
            }
        }
        if ((this.#waits & 2) !== 0) {
            const socket = this.connection.socket;
            const buffered = socket.writableLength;
            const queued = writeQueueSize(socket);
            if (buffered < this.#sendBuffered || (buffered === this.#sendBuffered && queued < this.#sendQueued))
                this.#sendSince = now;
            this.#sendBuffered = buffered;
            this.#sendQueued = queued;
            if (now - this.#sendSince >= backend.sendTimeout) {
                this.#abort?.(new ClientSendTimeoutError(backend.sendTimeout));
                return this.#leaveSweep();
            }
        }
        return this.#waits !== 0 || this.#leaveSweep();
    }
    #wait(wait) {
        this.#waits |= wait;
        if (!this.#inSweep) {
            this.#inSweep = true;
            this.#observer.sweep.add(this);
        }
    }
    #leaveSweep() {
        this.#waits = 0;
        this.#inSweep = false;
        return false;
    }
    #upstreamAwaitsBody() {
        const body = this.tap?.bodyStream ?? this.req;
        return body.readableFlowing !== false && body.readableLength === 0 && this.req.readableLength === 0;
    }
    #queueTimedOut() {
        this.#end();
        this.tap?.primaryFailed();
        const res = this.res;
        if (this.#clientGone || res.destroyed || res.socket?.destroyed) {
            this.#observer.exchangeEnded({ exchange: this, status: CLIENT_CLOSED_STATUS, error: { code: 'SG_CLIENT_CLOSED', kind: null } });
            return;
        }
        if (this.hasBody && !this.req.complete)
            res.shouldKeepAlive = false;
        const message = `no connection to ${this.backend.upstream.name} came free within ${this.backend.queueTimeout} ms`;
        const body = errorBody(QUEUE_TIMEOUT_CODE, message, this.requestId);
        res.writeHead(503, {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            'x-request-id': this.requestId,
        });
        res.end(body);
        this.#observer.exchangeEnded({ exchange: this, status: 503, error: { code: QUEUE_TIMEOUT_CODE, kind: 'queue_timeout' } });
    }
    #end() {
        this.#state = 2;
        untrackOnConnection(this.connection, this);
        if (this.#inSweep) {
            this.#observer.sweep.delete(this);
            this.#leaveSweep();
        }
    }
    #release() {
        if (this.#released)
            return;
        this.#released = true;
        this.backend.upstream.inFlight--;
    }
    clientClosed() {
        if (this.#state === 2 || this.res.writableFinished)
            return;
        this.#clientGone = true;
        if (this.#abort !== null)
            this.#abort(new ClientAbortError());
    }
    clientDrained() {
        this.#waits &= ~2;
        this.#resume?.();
    }
}
function retryCondition(mapped) {
    switch (mapped.kind) {
        case 'connect_refused':
        case 'connect_timeout':
        case 'dns':
        case 'tls':
            return 1;
        case 'reset':
            return 4;
        case 'headers_timeout':
            return 8;
        default:
            return 0;
    }
}
function forwardTrailers(res, raw) {
    const fields = [];
    for (let i = 0; i + 1 < raw.length; i += 2)
        fields.push([latin1(raw[i]), latin1(raw[i + 1])]);
    try {
        res.addTrailers(fields);
    }
    catch {
    }
}
function latin1(value) {
    return typeof value === 'string' ? value : value.toString('latin1');
}
function writeQueueSize(socket) {
    const handle = socket._handle;
    return handle?.writeQueueSize ?? 0;
}
//# sourceMappingURL=exchange.js.map