/**
 * The proxy listener around a ProxyService, and its drain: shared by the single process (splitgate.ts) and by each
 * worker of a supervisor (cluster/worker.ts), so both stop exactly alike.
 */
import { createServer, type Server } from 'node:http';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { LimitsConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import { clientConnection } from './client-connections.js';
import type { ClientRejections } from './client-limits.js';
import type { ProxyService } from './service.js';
import { isWebSocketUpgrade, replayAsRequest } from './upgrade.js';

/**
 * How often node:http looks for requests past `headersTimeout`/`requestTimeout` (its default, 30 s, would let a
 * slowloris client hold a connection up to 30 s beyond the timeout). One pass over the open connections, in C++.
 */
const CONNECTIONS_CHECKING_INTERVAL_MS = 1_000;

export function createProxyServer(service: ProxyService, limits: LimitsConfig): Server {
  const proxyServer = createServer(
    {
      keepAliveTimeout: limits.keepAliveTimeout,
      maxHeaderSize: limits.maxHeaderBytes,
      headersTimeout: limits.headersTimeout,
      requestTimeout: limits.requestTimeout,
      connectionsCheckingInterval: CONNECTIONS_CHECKING_INTERVAL_MS,
      // Strict parsing is what keeps framing unambiguous (see test/integration/request-smuggling.test.ts). Given
      // explicitly, so NODE_OPTIONS=--insecure-http-parser cannot turn the lenient parser on for this server.
      insecureHTTPParser: false,
      // The service answers an HTTP/1.1 request without Host itself, and serves nothing pipelined after it; node:http's
      // own answer closed the connection but still handed on the requests behind it (see unreadableRequest).
      requireHostHeader: false,
    },
    (req, res) => service.handle(req, res),
  );
  proxyServer.on('checkExpectation', (req, res) => service.handle(req, res, true));
  applyLimits(proxyServer, limits);
  const rejections = service.rejections;
  // Beyond maxConnections node:http closes a new connection before reading a byte (Node >= 18.6 reports it).
  proxyServer.on('drop', () => rejections.count('connection_limit'));
  proxyServer.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => answerClientError(error, socket, rejections));
  // Without a 'connect' listener node:http closes a CONNECT request's connection without an answer.
  proxyServer.on('connect', (req, socket) => service.refuseConnect(req, socket));
  proxyServer.on('upgrade', (req, socket, head) => {
    // node:http hands over every upgrade request; only WebSocket handshakes are upgrades here (see replayAsRequest).
    if (isWebSocketUpgrade(req)) service.handleUpgrade(req, socket, head);
    else replayAsRequest(proxyServer, req, socket, head);
  });
  return proxyServer;
}

/** The limits node:http holds on the server object; a reload changes them for connections accepted from then on. */
export function applyLimits(server: Server, limits: LimitsConfig): void {
  server.maxConnections = limits.maxConnections === 0 ? Infinity : limits.maxConnections;
  // node:http silently drops fields beyond maxHeadersCount: keep one more than the limit so the service sees the
  // request is over it and answers 431 instead of forwarding a request with fields missing.
  server.maxHeadersCount = limits.maxHeaderCount + 1;
  server.headersTimeout = limits.headersTimeout;
  server.requestTimeout = limits.requestTimeout;
  server.keepAliveTimeout = limits.keepAliveTimeout;
  (server as Server & { maxHeaderSize?: number }).maxHeaderSize = limits.maxHeaderBytes;
}

interface ListenerAnswer {
  readonly bytes: string;
  readonly status: number;
  /** The code its access log line carries. */
  readonly code: string;
}

const listenerAnswer = (status: number, reason: string, code: string): ListenerAnswer => ({ bytes: `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\n\r\n`, status, code });
const HEADER_TOO_LARGE = listenerAnswer(431, 'Request Header Fields Too Large', 'SG_HEADER_TOO_LARGE');
const REQUEST_TIMEOUT = listenerAnswer(408, 'Request Timeout', 'SG_REQUEST_TIMEOUT');
const BAD_REQUEST = listenerAnswer(400, 'Bad Request', 'SG_BAD_REQUEST');
const CHUNK_EXTENSIONS_TOO_LARGE = listenerAnswer(413, 'Payload Too Large', 'SG_CHUNK_EXTENSIONS_TOO_LARGE');

const kAfterLastRequest = Symbol('splitgate.afterLastRequest');

type ClientSocket = Duplex & {
  _httpMessage?: { headersSent?: boolean } | null;
  [kAfterLastRequest]?: true;
};

/**
 * node:http's own answer to a request it could not read (lib/_http_server.js socketOnError), counted by reason: a
 * listener for 'clientError' replaces that answer, so it is written here the same way.
 */
function answerClientError(error: NodeJS.ErrnoException, socket: ClientSocket, rejections: ClientRejections): void {
  const code = error.code ?? '';
  if (code === 'HPE_CLOSED_CONNECTION' || (socket[kAfterLastRequest] === true && code.startsWith('HPE_'))) {
    ignoreAfterLastRequest(socket);
    return;
  }
  let response: ListenerAnswer | null = null;
  if (code === 'HPE_HEADER_OVERFLOW') {
    rejections.count('header_too_large');
    response = HEADER_TOO_LARGE;
  } else if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    rejections.count('request_timeout');
    response = REQUEST_TIMEOUT;
  } else if (code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW') {
    rejections.count('bad_request');
    response = CHUNK_EXTENSIONS_TOO_LARGE;
  } else if (code.startsWith('HPE_')) {
    rejections.count('bad_request');
    response = BAD_REQUEST;
  } else if (code !== 'ECONNRESET' && code !== 'EPIPE') {
    response = BAD_REQUEST;
  }
  // A body being dropped after its request was answered (discardUnreadBody) that turns out malformed: its answer went
  // already, and a 400 now would answer no request. The connection just closes.
  const connection = socket instanceof Socket ? clientConnection(socket) : null;
  const discarding = connection?.discarding ?? null;
  if (discarding !== null && !discarding.complete) response = null;
  // As node:http does: only while no response on this connection has sent its head, or the stream would be corrupt.
  const inFlight = socket._httpMessage;
  if (response !== null && socket.writable && (inFlight == null || inFlight.headersSent !== true)) {
    socket.write(response.bytes);
    // A request being proxied (its body was what could not be read) reports this answer, not a client gone.
    if (inFlight != null && connection !== null) connection.answeredByListener = response;
  }
  socket.destroy(error);
}

/**
 * llhttp's HPE_CLOSED_CONNECTION: bytes after a request that closes the connection (`Connection: close`, or HTTP/1.0
 * without keep-alive). That request was read whole and is being answered (it may already have been forwarded): a
 * 400 here would replace the answer to a request that ran. As nginx does, the bytes are ignored: reading stops,
 * and node:http sends the owed response in full and closes the connection after it (it is the last one).
 */
function ignoreAfterLastRequest(socket: ClientSocket): void {
  socket[kAfterLastRequest] = true;
  // Nothing owed and the connection not closing (not expected): nothing is left to wait for.
  if (socket._httpMessage == null && !socket.writableEnded) {
    socket.destroy();
    return;
  }
  socket.pause();
}

export interface DrainResult {
  /** False when the drain timeout closed exchanges still in flight. */
  readonly drained: boolean;
  readonly inFlightAtStop: number;
}

/** Refuses new connections, lets in-flight exchanges finish for up to `drainTimeoutMs`, then closes what is left. */
export async function drainProxy(proxyServer: Server, service: ProxyService, drainTimeoutMs: number, logger: Logger): Promise<DrainResult> {
  service.startDraining();
  const closed = new Promise<void>((resolve) => proxyServer.close(() => resolve()));
  proxyServer.closeIdleConnections();
  const inFlight = service.inFlight;
  let timer: NodeJS.Timeout | undefined;
  const drained = await Promise.race([
    service.idle().then(() => true),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), drainTimeoutMs);
    }),
  ]);
  clearTimeout(timer);
  if (!drained) logger.warn({ inFlight: service.inFlight, drainTimeoutMs }, 'drain timeout: closing remaining connections');
  proxyServer.closeAllConnections();
  service.closeUpgraded();
  await closed;
  return { drained, inFlightAtStop: inFlight };
}

export function listenOn(server: Server, options: { host: string; port: number; reusePort?: boolean; exclusive?: boolean }): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    server.once('error', onError);
    server.listen(options, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
