/**
 * Protocol upgrades at the edge. Only a WebSocket handshake (RFC 6455 §4.1) takes the upgrade path; any other
 * `Upgrade` (h2c, TLS/1.0, ...) is an offer the server may ignore (RFC 9110 §7.8), so it is proxied as a plain
 * request, and the Upgrade field, hop-by-hop, is not forwarded.
 *
 * An upstream that declines the handshake (403, 401, 404, ...) answers with an ordinary response: it reaches the
 * client as it is and is counted by its status. Only a failure to get any answer is an upstream error.
 */
import { ServerResponse, STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { SplitgateError } from '../errors.js';
import { methodLabel } from '../metrics/metrics.js';
import type { BackendBinding } from '../state/table-store.js';
import { CLIENT_CLOSED_STATUS, ClientAbortError } from './exchange.js';
import { buildClientHeaders } from './headers.js';
import { connectionTokens } from './request-head.js';
import { errorBody, mapUpstreamError } from './upstream-errors.js';

/**
 * A WebSocket opening handshake: `websocket` among the protocols of Upgrade (case-insensitive, RFC 9110 §7.8
 * protocol names, a `/version` allowed) and `upgrade` among the Connection options.
 */
export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  const upgrade = req.headers.upgrade;
  if (upgrade === undefined || connectionTokens(req.headers.connection)?.has('upgrade') !== true) return false;
  for (const part of upgrade.split(',')) {
    const protocol = part.trim().toLowerCase();
    if (protocol === 'websocket' || protocol.startsWith('websocket/')) return true;
  }
  return false;
}

/**
 * node:http emits 'upgrade' for every upgrade request once a listener exists. Node 22.21/24.9 added a server option,
 * `shouldUpgradeCallback`, to turn the others into plain requests, but on Node 24.22 a request pipelined in the same
 * packet right after a declined offer is lost (reproduced with plain node:http), so splitgate does not use it: on
 * every Node version an upgrade request that is not a WebSocket handshake goes through this one path, which loses
 * nothing.
 *
 * An upgrade request that is not a WebSocket handshake is given back
 * to the HTTP server as a plain request. node:http has detached its parser from the connection and skipped the
 * request's body (what followed the head is in `head`), so the head is written again without the upgrade offer
 * and put back in front of those bytes, and the connection is handed to the server again ('connection' may be
 * emitted by users to inject a connection, per the node:http docs). Node's own parser then reads the request,
 * its body whatever the framing, and anything pipelined after it; keep-alive works as for any request.
 */
export function replayAsRequest(server: Server, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  // An upgrade socket that is not the connection itself cannot be handed back to the parser.
  if (!(socket instanceof Socket)) {
    socket.destroy();
    return;
  }
  let text = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i].toLowerCase();
    if (lower === 'upgrade') continue;
    if (lower === 'connection') {
      // Without the `upgrade` option the parser does not take the request for an upgrade again; the other
      // options (close, names of hop-by-hop fields such as HTTP2-Settings) keep their meaning.
      const options = raw[i + 1].split(',').filter((option) => option.trim().toLowerCase() !== 'upgrade');
      if (options.length > 0) text += `${raw[i]}: ${options.join(',')}\r\n`;
      continue;
    }
    text += `${raw[i]}: ${raw[i + 1]}\r\n`;
  }
  // rawHeaders hold the bytes as latin1 characters: latin1 writes the same bytes back.
  const replayed = Buffer.from(`${text}\r\n`, 'latin1');
  socket.unshift(head.length > 0 ? Buffer.concat([replayed, head]) : replayed);
  server.emit('connection', socket);
}

/** A WebSocket handshake as its access log line names it. */
export interface UpgradeHandshake {
  readonly requestId: string;
  readonly method: string;
  readonly path: string;
  readonly backend: BackendBinding;
  readonly reason: string;
  readonly rule: number;
  readonly durationMs: number;
}

/** An upgraded connection that closed: what the access log and the WebSocket metrics record. */
export interface UpgradeRecord extends UpgradeHandshake {
  /** Bytes the client sent through the splice (after the handshake), and bytes it received. */
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** The connection was closed for `limits.upgradeIdleTimeout` of silence. */
  readonly idleTimeout: boolean;
}

/** A handshake that ended without an upgrade: what its access log line records. */
export interface UpgradeAnswer extends UpgradeHandshake {
  /** Sent to the client (the upstream's own refusal, or splitgate's error), or 499 when the client went first. */
  readonly status: number;
  /** The error code, when the handshake failed rather than being answered by the upstream. */
  readonly error: string | null;
}

export interface UpgradeObserver {
  upgradeOpened(backend: BackendBinding): void;
  upgradeClosed(record: UpgradeRecord): void;
  upgradeAnswered(record: UpgradeAnswer): void;
}

/** The decision of a handshake, for its record. */
export interface UpgradeRoute {
  readonly reason: string;
  readonly rule: number;
  readonly idleTimeoutMs: number;
  readonly observer: UpgradeObserver;
}

const enum State {
  Waiting = 0,
  /** The upstream answered with something other than 101: relaying that response. */
  Relaying = 1,
  Done = 2,
}

/**
 * One WebSocket handshake as an undici dispatch handler: a 101 splices the two connections (onUpgrade); any other
 * final answer is relayed like a normal response (onHeaders, onData, onComplete). undici's parser treats a non-101
 * answer to an upgrade request as an ordinary response (client-h1.js: `upgrade` is set for 101 only), which
 * `pool.upgrade` turns into an error; `dispatch` with this handler receives it.
 *
 * The client connection has left node:http's parser, so a relayed answer is written through a ServerResponse
 * attached to it by hand and ends with the connection closed.
 */
export class UpgradeExchange {
  readonly #req: IncomingMessage;
  readonly #client: Duplex;
  readonly #firstBytes: Buffer;
  readonly #backend: BackendBinding;
  readonly #requestId: string;
  readonly #startedAt: number;
  readonly #spliced: Set<Duplex>;
  /** The weight placed this request (placedByWeight): rollout analysis may compare it. */
  readonly #weighted: boolean;
  readonly #route: UpgradeRoute;
  #state = State.Waiting;
  #abort: ((reason?: Error) => void) | null = null;
  #res: ServerResponse | null = null;
  #resume: (() => void) | null = null;
  #status = 0;

  constructor(
    req: IncomingMessage,
    client: Duplex,
    firstBytes: Buffer,
    backend: BackendBinding,
    requestId: string,
    startedAt: number,
    spliced: Set<Duplex>,
    weighted: boolean,
    route: UpgradeRoute,
  ) {
    this.#weighted = weighted;
    this.#route = route;
    this.#req = req;
    this.#client = client;
    this.#firstBytes = firstBytes;
    this.#backend = backend;
    this.#requestId = requestId;
    this.#startedAt = startedAt;
    this.#spliced = spliced;
    // One listener per handshake (not a hot path): a client that leaves before the answer cancels the request.
    client.once('close', () => this.#clientClosed());
  }

  onConnect(abort: (reason?: Error) => void): void {
    if (this.#state === State.Done || this.#client.destroyed) {
      abort(new ClientAbortError());
      return;
    }
    this.#abort = abort;
  }

  onUpgrade(_statusCode: number, rawHeaders: Buffer[], upstream: Duplex): void {
    const client = this.#client;
    if (this.#state !== State.Waiting || client.destroyed) {
      this.#state = State.Done;
      upstream.destroy();
      return;
    }
    this.#state = State.Done;
    client.write(switchingProtocols(rawHeaders));
    // Baselines after the handshake: the records count only what went through the splice. bytesWritten includes
    // what is still buffered, so the 101 just written is part of the baseline.
    const socket = client as Partial<Socket>;
    const readBefore = (socket.bytesRead ?? 0) - this.#firstBytes.length;
    const writtenBefore = socket.bytesWritten ?? 0;
    if (this.#firstBytes.length > 0) upstream.write(this.#firstBytes);
    const spliced = this.#spliced;
    spliced.add(client).add(upstream);
    upstream.on('error', ignoreError);
    const route = this.#route;
    route.observer.upgradeOpened(this.#backend);
    let closed = false;
    let idle = false;
    const close = (): void => {
      client.destroy();
      upstream.destroy();
      spliced.delete(client);
      spliced.delete(upstream);
      if (closed) return;
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
    // Both directions pass through the client socket (read one way, written the other), so its idle timer sees
    // any traffic. One timer per upgraded connection, which lives for minutes: not a per-request cost.
    if (route.idleTimeoutMs > 0 && typeof socket.setTimeout === 'function') {
      socket.setTimeout(route.idleTimeoutMs, () => {
        idle = true;
        close();
      });
    }
    // node:http server sockets allow half-open connections, so a client's FIN alone would close nothing:
    // either side ending ends the splice.
    client.once('end', close).once('close', close);
    upstream.once('end', close).once('close', close);
    client.pipe(upstream);
    upstream.pipe(client);
    this.#observe(101);
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    // 1xx (100, 103) stay between undici and the upstream; the final answer follows.
    if (statusCode < 200 || this.#state !== State.Waiting) return true;
    const res = new ServerResponse(this.#req);
    // The handshake's connection cannot carry another request: node:http no longer parses it.
    res.shouldKeepAlive = false;
    res.assignSocket(this.#client as Socket);
    res.once('finish', () => endConnection(res, this.#client));
    try {
      const headers = buildClientHeaders(rawHeaders, null);
      if (headers === null) throw new Error('a transfer coding other than chunked');
      res.writeHead(statusCode, statusText || (STATUS_CODES[statusCode] ?? ''), headers);
    } catch (error) {
      this.#abort?.(new SplitgateError('SG_UPSTREAM_PROTOCOL', 'upstream sent a header that cannot be relayed', 502, { cause: error }));
      return false;
    }
    this.#res = res;
    this.#resume = resume;
    this.#status = statusCode;
    this.#state = State.Relaying;
    return true;
  }

  onData(chunk: Buffer): boolean {
    const res = this.#res;
    if (this.#state !== State.Relaying || res === null) return true;
    if (res.write(chunk)) return true;
    // Paused behind a client that does not read: as for any response, the send timeout frees the upstream
    // connection (the socket's idle timer: this path is rare, a timer per pause is fine).
    const client = this.#client as Socket;
    const sendTimeout = this.#backend.sendTimeout;
    if (sendTimeout > 0 && typeof client.setTimeout === 'function') client.setTimeout(sendTimeout, () => client.destroy());
    res.once('drain', () => {
      if (sendTimeout > 0 && typeof client.setTimeout === 'function') client.setTimeout(0);
      this.#resume?.();
    });
    return false;
  }

  onComplete(): void {
    if (this.#state !== State.Relaying) return;
    this.#state = State.Done;
    this.#res!.end();
    this.#observe(this.#status);
    this.#answered(this.#status, null);
  }

  onError(error: Error): void {
    if (this.#state === State.Done) return;
    const relaying = this.#state === State.Relaying;
    this.#state = State.Done;
    const client = this.#client;
    if (client.destroyed) return;
    const mapped = mapUpstreamError(error);
    if (relaying) {
      // The status line is out: cutting the response short is the only signal left.
      client.destroy();
      this.#observe(this.#status, true);
      this.#answered(this.#status, mapped.code);
    } else {
      rejectUpgrade(client, mapped.status, mapped.code, mapped.message, this.#requestId);
      this.#observe(mapped.status, mapped.kind !== null);
      this.#answered(mapped.status, mapped.code);
    }
    if (mapped.kind !== null) this.#backend.series.countUpstreamError(mapped.kind);
  }

  #clientClosed(): void {
    if (this.#state === State.Done) return;
    this.#state = State.Done;
    this.#abort?.(new ClientAbortError());
    this.#observe(CLIENT_CLOSED_STATUS);
    this.#answered(CLIENT_CLOSED_STATUS, 'SG_CLIENT_CLOSED');
  }

  #answered(status: number, error: string | null): void {
    this.#route.observer.upgradeAnswered({
      requestId: this.#requestId,
      method: this.#req.method ?? 'GET',
      path: this.#req.url ?? '',
      backend: this.#backend,
      reason: this.#route.reason,
      rule: this.#route.rule,
      status,
      durationMs: Math.round((performance.now() - this.#startedAt) * 1000) / 1000,
      error,
    });
  }

  #observe(status: number, failed = false): void {
    this.#backend.series.observeResponse(methodLabel(this.#req.method), status, (performance.now() - this.#startedAt) / 1000, failed, this.#weighted);
  }
}

function endConnection(res: ServerResponse, client: Duplex): void {
  res.detachSocket(client as Socket);
  closeWhenSent(client);
}

/** How long a connection handed over by node:http may stay open after its last response was sent. */
const LINGER_MS = 2_000;

/**
 * Ends a connection node:http handed over, and makes sure it closes. node:http sockets allow half-open connections
 * and this one has left the server's timeouts and connection list, so `end()` alone would leave it open for as
 * long as the client keeps its side open (and a graceful stop would wait for it). The client gets the response,
 * then its own FIN or at most LINGER_MS (what it still sends is read and dropped, as NGINX's lingering close does,
 * so an unread byte cannot turn the close into a reset that loses the response).
 */
export function closeWhenSent(socket: Duplex, data?: string): void {
  socket.once('end', () => socket.destroy());
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  socket.resume();
  if (data === undefined) socket.end();
  else socket.end(data);
}

function ignoreError(): void {
  // A reset client or upstream connection ends the splice through 'close'; the error itself needs no handling.
}

/** The upstream's 101 as a raw response head (the headers of a 101 include its Connection and Upgrade). */
function switchingProtocols(rawHeaders: readonly Buffer[]): string {
  let head = 'HTTP/1.1 101 Switching Protocols\r\n';
  for (let i = 0; i < rawHeaders.length; i += 2) head += `${rawHeaders[i].toString('latin1')}: ${rawHeaders[i + 1].toString('latin1')}\r\n`;
  return `${head}\r\n`;
}

/** A local answer on a connection node:http has handed over (no ServerResponse): JSON error, then close. */
export function rejectUpgrade(socket: Duplex, status: number, code: string, message: string, requestId: string): void {
  const body = errorBody(code, message, requestId);
  closeWhenSent(
    socket,
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
      `x-request-id: ${requestId}\r\nconnection: close\r\n\r\n${body}`,
  );
}
