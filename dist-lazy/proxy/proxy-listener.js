import { createServer } from 'node:http';
import { isWebSocketUpgrade, replayAsRequest } from './upgrade.js';
const CONNECTIONS_CHECKING_INTERVAL_MS = 1_000;
export function createProxyServer(service, limits) {
    const proxyServer = createServer({
        keepAliveTimeout: limits.keepAliveTimeout,
        maxHeaderSize: limits.maxHeaderBytes,
        headersTimeout: limits.headersTimeout,
        requestTimeout: limits.requestTimeout,
        connectionsCheckingInterval: CONNECTIONS_CHECKING_INTERVAL_MS,
        insecureHTTPParser: false,
        requireHostHeader: true,
    }, (req, res) => service.handle(req, res));
    applyLimits(proxyServer, limits);
    const rejections = service.rejections;
    proxyServer.on('drop', () => rejections.count('connection_limit'));
    proxyServer.on('clientError', (error, socket) => answerClientError(error, socket, rejections));
    proxyServer.on('upgrade', (req, socket, head) => {
        if (isWebSocketUpgrade(req))
            service.handleUpgrade(req, socket, head);
        else
            replayAsRequest(proxyServer, req, socket, head);
    });
    return proxyServer;
}
export function applyLimits(server, limits) {
    server.maxConnections = limits.maxConnections === 0 ? Infinity : limits.maxConnections;
    server.maxHeadersCount = limits.maxHeaderCount + 1;
    server.headersTimeout = limits.headersTimeout;
    server.requestTimeout = limits.requestTimeout;
    server.keepAliveTimeout = limits.keepAliveTimeout;
    server.maxHeaderSize = limits.maxHeaderBytes;
}
const HEADER_TOO_LARGE = 'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n';
const REQUEST_TIMEOUT = 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n';
const BAD_REQUEST = 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n';
const CHUNK_EXTENSIONS_TOO_LARGE = 'HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\n\r\n';
function answerClientError(error, socket, rejections) {
    const code = error.code ?? '';
    let response = null;
    if (code === 'HPE_HEADER_OVERFLOW') {
        rejections.count('header_too_large');
        response = HEADER_TOO_LARGE;
    }
    else if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
        rejections.count('request_timeout');
        response = REQUEST_TIMEOUT;
    }
    else if (code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW') {
        rejections.count('bad_request');
        response = CHUNK_EXTENSIONS_TOO_LARGE;
    }
    else if (code.startsWith('HPE_')) {
        rejections.count('bad_request');
        response = BAD_REQUEST;
    }
    else if (code !== 'ECONNRESET' && code !== 'EPIPE') {
        response = BAD_REQUEST;
    }
    const inFlight = socket._httpMessage;
    if (response !== null && socket.writable && (inFlight == null || inFlight.headersSent !== true))
        socket.write(response);
    socket.destroy(error);
}
export async function drainProxy(proxyServer, service, drainTimeoutMs, logger) {
    service.startDraining();
    const closed = new Promise((resolve) => proxyServer.close(() => resolve()));
    proxyServer.closeIdleConnections();
    const inFlight = service.inFlight;
    let timer;
    const drained = await Promise.race([
        service.idle().then(() => true),
        new Promise((resolve) => {
            timer = setTimeout(() => resolve(false), drainTimeoutMs);
        }),
    ]);
    clearTimeout(timer);
    if (!drained)
        logger.warn({ inFlight: service.inFlight, drainTimeoutMs }, 'drain timeout: closing remaining connections');
    proxyServer.closeAllConnections();
    service.closeUpgraded();
    await closed;
    return { drained, inFlightAtStop: inFlight };
}
export function listenOn(server, options) {
    return new Promise((resolve, reject) => {
        const onError = (error) => reject(error);
        server.once('error', onError);
        server.listen(options, () => {
            server.off('error', onError);
            resolve();
        });
    });
}
//# sourceMappingURL=proxy-listener.js.map