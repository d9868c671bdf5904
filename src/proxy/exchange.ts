/**
 * One proxied exchange, as an undici dispatch handler: upstream response headers and body are written to the
 * client as they arrive, with backpressure both ways, and the exchange ends exactly once (complete, upstream
 * error, or client gone).
 *
 * This uses undici's raw handler callbacks (onConnect/onHeaders/onData/onComplete/onError), which undici 7 still
 * runs natively: its newer controller API converts every response's raw headers into an object first. Measured
 * in ../shared/BENCHMARKING.md, `dispatch` with a small handler is the fastest way through undici (~15 k req/s a
 * core, against ~7 k for `request` + `pipeline`).
 *
 * Client disconnects abort the upstream request: a handler that does not would leave pooled connections wedged.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SplitgateError } from '../errors.js';
import type { UpstreamErrorKind } from '../metrics/metrics.js';
import type { MirrorTap } from '../mirror/mirror.js';
import type { RouteDecision } from '../routing/table.js';
import type { BackendBinding } from '../state/table-store.js';
import { trackOnConnection, untrackOnConnection, type ClientConnection, type ConnectionBound } from './client-connections.js';
import { buildClientHeaders } from './headers.js';
import { errorBody, mapUpstreamError } from './upstream-errors.js';

/** What an exchange reports when it ends; the service turns it into metrics and a log line. */
export interface ExchangeOutcome {
  readonly exchange: ProxyExchange;
  /** Status sent to the client, or 499 when the client went away first (NGINX's convention). */
  readonly status: number;
  readonly error: { code: string; kind: UpstreamErrorKind | null } | null;
}

export interface ExchangeObserver {
  exchangeEnded(outcome: ExchangeOutcome): void;
}

export const CLIENT_CLOSED_STATUS = 499;


const enum State {
  Waiting = 0,
  Streaming = 1,
  Done = 2,
}

export class ClientAbortError extends SplitgateError {
  constructor() {
    super('SG_CLIENT_CLOSED', 'client closed the connection before the response completed', CLIENT_CLOSED_STATUS);
  }
}

export class ProxyExchange implements ConnectionBound {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly backend: BackendBinding;
  readonly decision: RouteDecision;
  readonly routeName: string;
  readonly requestId: string;
  readonly startedAt: number;
  /** Set when this request is mirrored: it sees the response the client gets. */
  readonly tap: MirrorTap | null;
  readonly #observer: ExchangeObserver;
  readonly #setCookie: string | null;
  readonly #connection: ClientConnection;
  #state = State.Waiting;
  #abort: ((reason?: Error) => void) | null = null;
  #resume: (() => void) | null = null;
  #clientGone = false;
  #drainListening = false;
  #status = 0;

  constructor(
    req: IncomingMessage,
    res: ServerResponse,
    /** `req`'s connection (node:http clears `req.socket` once a request body has been read to the end). */
    connection: ClientConnection,
    routeName: string,
    backend: BackendBinding,
    decision: RouteDecision,
    requestId: string,
    setCookie: string | null,
    startedAt: number,
    observer: ExchangeObserver,
    tap: MirrorTap | null,
  ) {
    this.req = req;
    this.res = res;
    this.routeName = routeName;
    this.backend = backend;
    this.decision = decision;
    this.requestId = requestId;
    this.#setCookie = setCookie;
    this.startedAt = startedAt;
    this.#observer = observer;
    this.tap = tap;
    this.#connection = connection;
    if (!trackOnConnection(this.#connection, this)) this.#clientGone = true;
  }

  // undici handler callbacks ------------------------------------------------------------------------------

  onConnect(abort: (reason?: Error) => void): void {
    if (this.#state === State.Done || this.#clientGone) {
      abort(new ClientAbortError());
      return;
    }
    this.#abort = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    // 1xx (100-continue, 103) are between undici and the upstream; node:http answers the client's own Expect.
    if (statusCode < 200 || this.#state !== State.Waiting) return true;
    this.#resume = resume;
    const headers = buildClientHeaders(rawHeaders, this.#setCookie);
    try {
      this.res.writeHead(statusCode, statusText || undefined, headers);
    } catch (error) {
      // node:http refuses a header it considers invalid; the client gets a clean 502 instead of a broken reply.
      this.#abort?.(new SplitgateError('SG_UPSTREAM_PROTOCOL', 'upstream sent a header that cannot be relayed', 502, { cause: error }));
      return false;
    }
    this.#status = statusCode;
    this.#state = State.Streaming;
    this.tap?.primaryHeaders(statusCode, rawHeaders);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.#state !== State.Streaming) return true;
    this.tap?.primaryData(chunk);
    if (this.res.write(chunk)) return true;
    if (!this.#drainListening) {
      this.#drainListening = true;
      this.res.on('drain', () => this.clientDrained());
    }
    return false;
  }

  onComplete(): void {
    if (this.#state === State.Done) return;
    const wasStreaming = this.#state === State.Streaming;
    this.#state = State.Done;
    untrackOnConnection(this.#connection, this);
    if (wasStreaming) this.res.end();
    if (wasStreaming) this.tap?.primaryComplete();
    else this.tap?.primaryFailed();
    this.#observer.exchangeEnded({ exchange: this, status: this.#status, error: null });
  }

  onError(error: Error): void {
    if (this.#state === State.Done) return;
    const wasStreaming = this.#state === State.Streaming;
    this.#state = State.Done;
    untrackOnConnection(this.#connection, this);
    this.tap?.primaryFailed();
    const res = this.res;
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
      // Headers are out: the only honest signal left is to cut the response short, so the client sees it fail.
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

  // client side ------------------------------------------------------------------------------------------

  /** The client's connection closed: cancel the upstream request (see client-connections.ts). */
  clientClosed(): void {
    if (this.#state === State.Done || this.res.writableFinished) return;
    this.#clientGone = true;
    if (this.#abort !== null) this.#abort(new ClientAbortError());
    // Not connected yet: onConnect sees #clientGone and aborts then.
  }

  clientDrained(): void {
    this.#resume?.();
  }
}
