import { ServerResponse, STATUS_CODES } from 'node:http';
import { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { SplitgateError } from '../errors.js';
import { methodLabel } from '../metrics/metrics.js';
import { CLIENT_CLOSED_STATUS, ClientAbortError } from './exchange.js';
import { buildClientHeaders } from './headers.js';
import { connectionTokens } from './request-head.js';
import { errorBody, mapUpstreamError } from './upstream-errors.js';
export function isWebSocketUpgrade(req) {
    const upgrade = req.headers.upgrade;
    if (upgrade === undefined || connectionTokens(req.headers.connection)?.has('upgrade') !== true)
        return false;
    for (const part of upgrade.split(',')) {
        const protocol = part.trim().toLowerCase();
        if (protocol === 'websocket' || protocol.startsWith('websocket/'))
            return true;
    }
    return false;
}
export function replayAsRequest(server, req, socket, head) {
    if (!(socket instanceof Socket)) {
        socket.destroy();
        return;
    }
    let text = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`;
    const raw = req.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
        const lower = raw[i].toLowerCase();
        if (lower === 'upgrade')
            continue;
        if (lower === 'connection') {
            const options = raw[i + 1].split(',').filter((option) => option.trim().toLowerCase() !== 'upgrade');
            if (options.length > 0)
                text += `${raw[i]}: ${options.join(',')}\r\n`;
            continue;
        }
        text += `${raw[i]}: ${raw[i + 1]}\r\n`;
    }
    const replayed = Buffer.from(`${text}\r\n`, 'latin1');
    socket.unshift(head.length > 0 ? Buffer.concat([replayed, head]) : replayed);
    server.emit('connection', socket);
}
export class UpgradeExchange {
    #req;
    #client;
    #firstBytes;
    #backend;
    #requestId;
    #startedAt;
    #spliced;
    #weighted;
    #route;
    #state = 0;
    #abort = null;
    #res = null;
    #resume = null;
    #status = 0;
    constructor(req, client, firstBytes, backend, requestId, startedAt, spliced, weighted, route) {
        this.#weighted = weighted;
        this.#route = route;
        this.#req = req;
        this.#client = client;
        this.#firstBytes = firstBytes;
        this.#backend = backend;
        this.#requestId = requestId;
        this.#startedAt = startedAt;
        this.#spliced = spliced;
        client.once('close', () => this.#clientClosed());
    }
    onConnect(abort) {
        if (this.#state === 2 || this.#client.destroyed) {
            abort(new ClientAbortError());
            return;
        }
        this.#abort = abort;
    }
    onUpgrade(_statusCode, rawHeaders, upstream) {
        const client = this.#client;
        if (this.#state !== 0 || client.destroyed) {
            this.#state = 2;
            upstream.destroy();
            return;
        }
        this.#state = 2;
        client.write(switchingProtocols(rawHeaders));
        const socket = client;
        const readBefore = (socket.bytesRead ?? 0) - this.#firstBytes.length;
        const writtenBefore = socket.bytesWritten ?? 0;
        if (this.#firstBytes.length > 0)
            upstream.write(this.#firstBytes);
        const spliced = this.#spliced;
        spliced.add(client).add(upstream);
        upstream.on('error', ignoreError);
        const route = this.#route;
        route.observer.upgradeOpened(this.#backend);
        let closed = false;
        let idle = false;
        const close = () => {
            client.destroy();
            upstream.destroy();
            spliced.delete(client);
            spliced.delete(upstream);
            if (closed)
                return;
            closed = true;
            route.observer.upgradeClosed({
                requestId: this.#requestId,
                method: this.#req.method ?? 'GET',
                path: this.#req.url ?? '',
                backend: this.#backend,
                reason: route.reason,
                rule: route.rule,
                bytesIn: Math.max(0, (socket.bytesRead ?? 0) - readBefore),
                bytesOut: Math.max(0, (socket.bytesWritten ?? 0) - writtenBefore),
                durationMs: Math.round((performance.now() - this.#startedAt) * 1000) / 1000,
                idleTimeout: idle,
            });
        };
        if (route.idleTimeoutMs > 0 && typeof socket.setTimeout === 'function') {
            socket.setTimeout(route.idleTimeoutMs, () => {
                idle = true;
                close();
            });
        }
        client.once('end', close).once('close', close);
        upstream.once('end', close).once('close', close);
        client.pipe(upstream);
        upstream.pipe(client);
        this.#observe(101);
    }
    onHeaders(statusCode, rawHeaders, resume, statusText) {
        if (statusCode < 200 || this.#state !== 0)
            return true;
        const res = new ServerResponse(this.#req);
        res.shouldKeepAlive = false;
        res.assignSocket(this.#client);
        res.once('finish', () => endConnection(res, this.#client));
        try {
            res.writeHead(statusCode, statusText || undefined, buildClientHeaders(rawHeaders, null));
        }
        catch (error) {
            this.#abort?.(new SplitgateError('SG_UPSTREAM_PROTOCOL', 'upstream sent a header that cannot be relayed', 502, { cause: error }));
            return false;
        }
        this.#res = res;
        this.#resume = resume;
        this.#status = statusCode;
        this.#state = 1;
        return true;
    }
    onData(chunk) {
        const res = this.#res;
        if (this.#state !== 1 || res === null)
            return true;
        if (res.write(chunk))
            return true;
        const client = this.#client;
        const sendTimeout = this.#backend.sendTimeout;
        if (sendTimeout > 0 && typeof client.setTimeout === 'function')
            client.setTimeout(sendTimeout, () => client.destroy());
        res.once('drain', () => {
            if (sendTimeout > 0 && typeof client.setTimeout === 'function')
                client.setTimeout(0);
            this.#resume?.();
        });
        return false;
    }
    onComplete() {
        if (this.#state !== 1)
            return;
        this.#state = 2;
        this.#res.end();
        this.#observe(this.#status);
    }
    onError(error) {
        if (this.#state === 2)
            return;
        const relaying = this.#state === 1;
        this.#state = 2;
        const client = this.#client;
        if (client.destroyed)
            return;
        const mapped = mapUpstreamError(error);
        if (relaying) {
            client.destroy();
            this.#observe(this.#status, true);
        }
        else {
            rejectUpgrade(client, mapped.status, mapped.code, mapped.message, this.#requestId);
            this.#observe(mapped.status, mapped.kind !== null);
        }
        if (mapped.kind !== null)
            this.#backend.series.countUpstreamError(mapped.kind);
    }
    #clientClosed() {
        if (this.#state === 2)
            return;
        this.#state = 2;
        this.#abort?.(new ClientAbortError());
        this.#observe(CLIENT_CLOSED_STATUS);
    }
    #observe(status, failed = false) {
        this.#backend.series.observeResponse(methodLabel(this.#req.method), status, (performance.now() - this.#startedAt) / 1000, failed, this.#weighted);
    }
}
function endConnection(res, client) {
    res.detachSocket(client);
    closeWhenSent(client);
}
const LINGER_MS = 2_000;
export function closeWhenSent(socket, data) {
    socket.once('end', () => socket.destroy());
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    socket.resume();
    if (data === undefined)
        socket.end();
    else
        socket.end(data);
}
function ignoreError() {
}
function switchingProtocols(rawHeaders) {
    let head = 'HTTP/1.1 101 Switching Protocols\r\n';
    for (let i = 0; i < rawHeaders.length; i += 2)
        head += `${rawHeaders[i].toString('latin1')}: ${rawHeaders[i + 1].toString('latin1')}\r\n`;
    return `${head}\r\n`;
}
export function rejectUpgrade(socket, status, code, message, requestId) {
    const body = errorBody(code, message, requestId);
    closeWhenSent(socket, `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
        `x-request-id: ${requestId}\r\nconnection: close\r\n\r\n${body}`);
}
//# sourceMappingURL=upgrade.js.map