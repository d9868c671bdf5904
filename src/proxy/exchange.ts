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
 * So do clients too slow to be worth a pooled connection (timeout-sweep.ts checks them): one that accepts no response
 * bytes for `timeouts.send` while the exchange is paused, one that sends no body bytes for `timeouts.clientBody`
 * while the upstream waits for them, and a request that waits longer than `timeouts.queue` for a connection.
 *
 * A canary exchange that fails before any response byte reached the client, and may be replayed, is handed back to
 * the observer to be sent to stable once (retryToStable; see canary-guard.ts for the budget): it then ends without a
 * word to the client, and a new exchange carries on with the same client request.
 */
import type { Readable } from 'node:stream';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { SplitgateError } from '../errors.js';
import type { UpstreamErrorKind } from '../metrics/metrics.js';
import type { MirrorTap } from '../mirror/mirror.js';
import type { CompiledRoute, RouteDecision } from '../routing/table.js';
import type { BackendBinding, RouteBinding } from '../state/table-store.js';
import { RetryOn } from './canary-guard.js';
import { closeAfter, DISCARD_BODY_MS, discardUnreadBody, trackOnConnection, untrackOnConnection, type ClientConnection, type ConnectionBound } from './client-connections.js';
import { BodyTooLargeError } from './client-limits.js';
import { buildClientHeaders } from './headers.js';
import { connectionTokens, HOP_BY_HOP } from './request-head.js';
import type { SweepMember, TimeoutSweep } from './timeout-sweep.js';
import { errorBody, mapUpstreamError, repeatable, staleRace, type MappedUpstreamError } from './upstream-errors.js';
import type { ExperimentVisit } from '../experiments/experiment-book.js';

/** What an exchange reports when it ends; the service turns it into metrics and a log line. */
export interface ExchangeOutcome {
  readonly exchange: ProxyExchange;
  /** Status sent to the client, or 499 when the client went away first (NGINX's convention). */
  readonly status: number;
  readonly error: { code: string; kind: UpstreamErrorKind | null } | null;
}

export interface ExchangeObserver {
  exchangeEnded(outcome: ExchangeOutcome): void;
  /**
   * `failed` (a canary exchange) failed before answering and may be replayed: send the request to stable. False when
   * the retry budget is spent (or stable is full): `failed` then answers the client with its own error.
   */
  retryToStable(failed: ProxyExchange, status: number, error: { code: string; kind: UpstreamErrorKind | null } | null): boolean;
  /**
   * The upstream closed the pooled connection `failed` went out on (staleRace): send the same request to the
   * same upstream again. False when the upstream is at `maxRequests`: `failed` then answers with its own error.
   */
  replayAfterStaleConnection(failed: ProxyExchange): boolean;
  /** Where exchanges that wait on something slow are checked for their client-side timeouts. */
  readonly sweep: TimeoutSweep;
  /** A drain has begun: answers close their connections, so keep-alive clients move on before it ends. */
  readonly draining: boolean;
}

export const CLIENT_CLOSED_STATUS = 499;

const enum State {
  Waiting = 0,
  Streaming = 1,
  Done = 2,
}

/** What an exchange waits on, as bits of `#waits`; the timeout sweep checks each while it is set. */
const enum Wait {
  /** Dispatched to a saturated pool, not yet written to a connection (undici has not called onConnect). */
  Queue = 1,
  /** onData returned false: undici is paused until the client drains. */
  Send = 2,
  /** Connected, and the request body is not complete. */
  ClientBody = 4,
}

export class ClientAbortError extends SplitgateError {
  constructor() {
    super('SG_CLIENT_CLOSED', 'client closed the connection before the response completed', CLIENT_CLOSED_STATUS);
  }
}

/** Never reaches the client as a status (the response has started); it names the cut in the log. */
export class ClientSendTimeoutError extends SplitgateError {
  constructor(ms: number) {
    super('SG_CLIENT_SEND_TIMEOUT', `client accepted no response bytes for ${ms} ms`, 408);
  }
}

export class ClientBodyTimeoutError extends SplitgateError {
  constructor(ms: number) {
    super('SG_CLIENT_BODY_TIMEOUT', `client sent no request body bytes for ${ms} ms`, 408);
  }
}

export const QUEUE_TIMEOUT_CODE = 'SG_UPSTREAM_QUEUE_TIMEOUT';

export class ProxyExchange implements ConnectionBound, SweepMember {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly route: CompiledRoute;
  readonly binding: RouteBinding;
  readonly backend: BackendBinding;
  readonly decision: RouteDecision;
  readonly routeName: string;
  readonly requestId: string;
  readonly startedAt: number;
  /** Set when this request is mirrored: it sees the response the client gets. */
  readonly tap: MirrorTap | null;
  /**
   * The body stream handed to undici (the client's request, the mirror's tee of it, or the body limit reading
   * either), null without a body. A retry to stable sends this same stream: the limit has already started reading
   * the request, so the request itself no longer holds the whole body.
   */
  body: Readable | null = null;
  /** Times this client request was sent again after a pooled connection closed under it (see #staleReplayable). */
  staleReplays = 0;
  /**
   * When this attempt went to undici: `startedAt` for the first (routing takes microseconds; the service sets it
   * anew after a token verification), the time of the replay for a replay; set again when a queued request gets its
   * connection. The queue timeout and the stale window count from it.
   */
  sentAt: number;
  /** Dispatched to a saturated pool (see poolSaturated): onConnect then notes when it left the queue. */
  #queued = false;
  /** The upstream sent a 1xx: the connection carried bytes of this exchange, so a close is no keep-alive race. */
  #informed = false;
  /** The header list sent upstream; a retry sends a copy naming stable. */
  readonly headers: string[];
  readonly setCookie: string | null;
  readonly connection: ClientConnection;
  readonly hasBody: boolean;
  /** Set on routes in an A/B experiment: counts the response and strips the app's conversion header. */
  readonly experiment: ExperimentVisit | null;
  readonly #observer: ExchangeObserver;
  #state = State.Waiting;
  #abort: ((reason?: Error) => void) | null = null;
  #resume: (() => void) | null = null;
  #clientGone = false;
  #drainListening = false;
  #status = 0;
  /** undici has called onComplete or onError: the request no longer holds a place in the pool. */
  #released = false;
  #waits = 0;
  #inSweep = false;
  /** Send wait: when the client last accepted bytes, and how much was still unsent then (socket buffer, libuv queue). */
  #sendSince = 0;
  #sendBuffered = 0;
  #sendQueued = 0;
  /** Client body wait: when body bytes last arrived (or the upstream last held them up), and the socket's count then. */
  #bodySince = 0;
  #bodyRead = 0;

  constructor(
    req: IncomingMessage,
    res: ServerResponse,
    /** `req`'s connection (node:http clears `req.socket` once a request body has been read to the end). */
    connection: ClientConnection,
    route: CompiledRoute,
    binding: RouteBinding,
    backend: BackendBinding,
    decision: RouteDecision,
    requestId: string,
    setCookie: string | null,
    startedAt: number,
    observer: ExchangeObserver,
    tap: MirrorTap | null,
    hasBody: boolean,
    headers: string[],
    experiment: ExperimentVisit | null = null,
  ) {
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
    this.sentAt = startedAt;
    this.#observer = observer;
    this.tap = tap;
    this.connection = connection;
    this.hasBody = hasBody;
    this.headers = headers;
    this.experiment = experiment;
    if (!trackOnConnection(connection, this)) this.#clientGone = true;
  }

  /**
   * The service's dispatch found the pool saturated (undici's dispatch returned false): unless a connection has
   * already taken it, this request waits in undici's queue, and the queue timeout starts counting from its start.
   */
  poolSaturated(): void {
    if (this.#state !== State.Waiting || this.#abort !== null) return;
    this.#queued = true;
    if (this.backend.queueTimeout !== 0) this.#wait(Wait.Queue);
  }

  // undici handler callbacks ------------------------------------------------------------------------------

  onConnect(abort: (reason?: Error) => void): void {
    if (this.#state === State.Done || this.#clientGone) {
      // Ended while queued (queue timeout, client gone). Throwing, unlike calling `abort`, makes undici drop the
      // request before writing a byte of it (client-h1 writeH1 catches, errors the request, skips it) and keep the
      // connection for the next request; `abort` would destroy a healthy pooled connection.
      throw this.#state === State.Done ? new SplitgateError(QUEUE_TIMEOUT_CODE, 'request left the queue', 503) : new ClientAbortError();
    }
    this.#abort = abort;
    if (this.#queued) this.sentAt = performance.now();
    if (this.hasBody && !this.req.complete && this.backend.clientBodyTimeout !== 0) {
      this.#bodySince = performance.now();
      this.#bodyRead = this.connection.socket.bytesRead;
      this.#wait(Wait.ClientBody);
    }
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    // 100-continue is between undici and the upstream (node:http answers the client's own Expect); 103 Early Hints
    // are the client's (RFC 9110 §15.2: a proxy forwards 1xx it did not ask for); 102 is obsolete and dropped.
    if (statusCode < 200) {
      this.#informed = true;
      if (statusCode === 103 && this.#state === State.Waiting) relayEarlyHints(this.req, this.res, rawHeaders);
      return true;
    }
    if (this.#state !== State.Waiting) return true;
    if (statusCode === 503 && this.#retryable(RetryOn.Status503) && this.#observer.retryToStable(this, 503, null)) {
      // The canary's 503 body is read and dropped (onData ignores it) so its connection stays pooled.
      this.#end();
      return true;
    }
    this.#resume = resume;
    const headers = buildClientHeaders(rawHeaders, this.setCookie);
    if (headers === null) {
      this.#abort?.(new SplitgateError('SG_UPSTREAM_PROTOCOL', 'upstream used a transfer coding other than chunked, which splitgate does not decode', 502));
      return false;
    }
    if (statusCode === 204) dropContentLength(headers);
    if (this.experiment !== null) {
      const cookie = this.experiment.responded(statusCode, headers);
      if (cookie !== null) headers.push('set-cookie', cookie);
    }
    // Out before a drain began: its answer still closes the connection (the service does so for later requests).
    if (this.#observer.draining) closeAfter(this.res, this.connection);
    try {
      // No reason phrase from the upstream: the code's standard one, or none (node:http would invent "unknown").
      this.res.writeHead(statusCode, statusText || (STATUS_CODES[statusCode] ?? ''), headers);
    } catch (error) {
      if (!this.#writeHeadStandardReason(statusCode, statusText, headers)) {
        // node:http refuses a header it considers invalid; the client gets a clean 502 instead of a broken reply.
        this.#abort?.(new SplitgateError('SG_UPSTREAM_PROTOCOL', 'upstream sent a header that cannot be relayed', 502, { cause: error }));
        return false;
      }
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
    // Paused: undici's body timeout does not run until resume, so the send timeout watches the client instead.
    if (this.backend.sendTimeout !== 0) {
      const socket = this.connection.socket;
      this.#sendSince = performance.now();
      this.#sendBuffered = socket.writableLength;
      this.#sendQueued = writeQueueSize(socket);
      this.#wait(Wait.Send);
    }
    return false;
  }

  onComplete(trailers?: ReadonlyArray<Buffer | string> | null): void {
    this.#release();
    if (this.#state === State.Done) return;
    const wasStreaming = this.#state === State.Streaming;
    this.#end();
    if (wasStreaming && trailers != null && trailers.length > 0) forwardTrailers(this.res, trailers);
    if (wasStreaming) this.res.end();
    if (wasStreaming) this.tap?.primaryComplete();
    else this.tap?.primaryFailed();
    if (this.hasBody) this.#bodyNotRead();
    this.#observer.exchangeEnded({ exchange: this, status: this.#status, error: null });
  }

  /** An answer came before the whole request body went upstream (an early 401 or 413, a reset): see discardUnreadBody. */
  #bodyNotRead(): void {
    if (this.#clientGone || this.connection.closing || this.req.complete) return;
    // A mirror's copy can never have the whole body now: its tee ends here (the copy: primary_error), before the
    // dropped rest could end it as if it were complete (undici destroyed the body limit reading it, not the tee).
    this.tap?.bodyStream?.destroy();
    // No body byte for the time a client may take between them (timeouts.clientBody; 30 s when that is off): closed.
    discardUnreadBody(this.req, this.connection, this.backend.clientBodyTimeout === 0 ? DISCARD_BODY_MS : this.backend.clientBodyTimeout);
  }

  onError(error: Error): void {
    this.#release();
    if (this.#state === State.Done) return;
    if (this.#state === State.Waiting && this.#staleReplayable(error) && this.#observer.replayAfterStaleConnection(this)) {
      this.#end();
      return;
    }
    if (this.#state === State.Waiting && this.route.retry !== null && this.#retryOnError(error)) return;
    const wasStreaming = this.#state === State.Streaming;
    if (wasStreaming && this.#bodilessLengthMismatch(error)) {
      this.onComplete(null);
      return;
    }
    this.#end();
    const res = this.res;
    let status = CLIENT_CLOSED_STATUS;
    let failure: { code: string; kind: UpstreamErrorKind | null } = CLIENT_CLOSED;
    // Whatever throws below (a response node:http refuses to write), the exchange is still ended and accounted, and a
    // client that cannot be given a valid answer is not left waiting for one.
    try {
      try {
        this.tap?.primaryFailed();
      } catch {
        // The mirror's trouble: it must not hide the upstream's failure from the metrics and the outlier detector.
      }
      if (error instanceof ClientBodyTimeoutError || error instanceof BodyTooLargeError) {
        // The rest of the body will not come (or be read): this connection cannot carry another request (NGINX closes it too).
        closeAfter(res, this.connection);
      }
      if (this.#clientGone || res.destroyed || res.socket?.destroyed) return;
      const mapped = mapUpstreamError(error);
      failure = { code: mapped.code, kind: mapped.kind };
      if (wasStreaming) {
        // Headers are out: the only honest signal left is to cut the response short, so the client sees it fail.
        status = this.#status;
        res.destroy();
        return;
      }
      status = mapped.status;
      if (this.#observer.draining) closeAfter(res, this.connection);
      answerError(res, mapped.status, mapped.code, mapped.message, this.requestId);
      if (this.hasBody) this.#bodyNotRead();
    } catch {
      res.destroy();
    } finally {
      const answered = this.connection.answeredByListener;
      if (answered !== null && status === CLIENT_CLOSED_STATUS) {
        status = answered.status;
        failure = { code: answered.code, kind: null };
      }
      this.#observer.exchangeEnded({ exchange: this, status, error: failure });
    }
  }

  /**
   * Off the common path: node:http refused the head. A reason phrase it cannot write (obs-text, which undici decodes
   * as UTF-8 and so turns into characters above U+00FF, or a control character) is replaced by the code's standard
   * one, or left empty: RFC 9112 §4 lets a client ignore it anyway. False when that was not the problem.
   */
  #writeHeadStandardReason(statusCode: number, statusText: string, headers: string[]): boolean {
    if (statusText === '' || !UNWRITABLE_REASON.test(statusText)) return false;
    try {
      this.res.writeHead(statusCode, STATUS_CODES[statusCode] ?? '', headers);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * undici checks Content-Length against the body it read on every response but a HEAD's, and so fails a 204 or 304
   * that carries one (RFC 9110 §8.6 allows it on a 304; RFC 9112 §6.3: such a response ends with its head, whatever
   * it says) or is followed by bytes it then must not read as a body. The head relayed is the whole response: it
   * completes, a success. undici has already closed that upstream connection, so the stray bytes go with it.
   */
  #bodilessLengthMismatch(error: Error): boolean {
    const status = this.#status;
    return (status === 204 || status === 304) && (error as { code?: unknown }).code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH';
  }

  // replays ----------------------------------------------------------------------------------------------

  /**
   * Off the common path. A keep-alive race, not a failure of the upstream: it closed an idle pooled connection just as
   * this request went out on it, and never saw the request (NGINX gives a failed cached connection another try too).
   * Taken for that only when the close came within STALE_WINDOW_MS of the request going out and before any byte of
   * an answer (a 1xx included). Sent again, to the same upstream, when nothing reached the client and the request
   * can be repeated: no body and an idempotent method (RFC 9110 §9.2.2), as a client would; or whatever it is, when
   * the reset came before undici wrote any of it.
   */
  #staleReplayable(error: Error): boolean {
    if (this.#clientGone || this.res.headersSent || this.res.destroyed) return false;
    // #abort is null when the reset came while undici checked the idle connection, before it wrote any of the request.
    return staleRace(error, this.staleReplays, this.#abort === null ? null : this.sentAt, this.#informed, repeatable(this.req.method, this.hasBody));
  }

  // retry to stable ------------------------------------------------------------------------------------

  /** Off the common path: only a canary exchange on a route with retries that fails before answering gets here. */
  #retryOnError(error: Error): boolean {
    const mapped: MappedUpstreamError = mapUpstreamError(error);
    if (mapped.kind === null || !this.#retryable(retryCondition(mapped))) return false;
    if (!this.#observer.retryToStable(this, mapped.status, { code: mapped.code, kind: mapped.kind })) return false;
    this.#end();
    return true;
  }

  /**
   * Nothing has reached the client, the route retries on `condition`, and the request can be sent again: none of it
   * was sent (no connection took it), or it has no body and its method is one the route lists (RFC 9110 §9.2.2
   * idempotent ones by default). A request body is streamed, never buffered, so once a byte of it went to the canary
   * it cannot be replayed.
   */
  #retryable(condition: number): boolean {
    const policy = this.route.retry;
    if (policy === null || this.decision.version !== 'canary' || (policy.on & condition) === 0 || this.#clientGone) return false;
    if (this.res.headersSent || this.res.destroyed) return false;
    return this.#abort === null || (!this.hasBody && policy.methods.has(this.req.method ?? ''));
  }

  // timeouts ---------------------------------------------------------------------------------------------

  /** Called by the timeout sweep about once a second while this exchange waits on something. */
  sweep(now: number): boolean {
    if (this.#state === State.Done) return this.#leaveSweep();
    const backend = this.backend;
    if ((this.#waits & Wait.Queue) !== 0) {
      if (this.#abort !== null) {
        this.#waits &= ~Wait.Queue;
      } else if (now - this.sentAt >= backend.queueTimeout) {
        this.#queueTimedOut();
        return this.#leaveSweep();
      }
    }
    if ((this.#waits & Wait.ClientBody) !== 0) {
      const read = this.connection.socket.bytesRead;
      if (this.req.complete) {
        this.#waits &= ~Wait.ClientBody;
      } else if (read !== this.#bodyRead || !this.#upstreamAwaitsBody()) {
        // Bytes arrived, or the upstream is the one holding the body up (backpressure): the client is not stalling.
        this.#bodyRead = read;
        this.#bodySince = now;
      } else if (now - this.#bodySince >= backend.clientBodyTimeout) {
        // A 408 if no response has started, else a cut response (onError decides); either way the connection closes.
        closeAfter(this.res, this.connection);
        this.#abort?.(new ClientBodyTimeoutError(backend.clientBodyTimeout));
        return this.#leaveSweep();
      }
    }
    if ((this.#waits & Wait.Send) !== 0) {
      const socket = this.connection.socket;
      const buffered = socket.writableLength;
      const queued = writeQueueSize(socket);
      // While paused nothing new is written, so any shrink of what is unsent means the client took bytes. The
      // socket buffer drops a whole chunk at a time; libuv's queue counts the bytes of the chunk being written.
      if (buffered < this.#sendBuffered || (buffered === this.#sendBuffered && queued < this.#sendQueued)) this.#sendSince = now;
      this.#sendBuffered = buffered;
      this.#sendQueued = queued;
      if (now - this.#sendSince >= backend.sendTimeout) {
        // Headers are out: abort the upstream request (frees its connection) and cut the response (onError).
        this.#abort?.(new ClientSendTimeoutError(backend.sendTimeout));
        return this.#leaveSweep();
      }
    }
    return this.#waits !== 0 || this.#leaveSweep();
  }

  #wait(wait: Wait): void {
    this.#waits |= wait;
    if (!this.#inSweep) {
      this.#inSweep = true;
      this.#observer.sweep.add(this);
    }
  }

  #leaveSweep(): false {
    this.#waits = 0;
    this.#inSweep = false;
    return false;
  }

  /**
   * The upstream is reading the request body and none of it is buffered: it waits for the client. (undici's headers
   * timer does not run while a body is being written unless the upstream applies backpressure, so nothing else
   * times out a client that stops sending.)
   */
  #upstreamAwaitsBody(): boolean {
    // undici pauses the stream it reads (the request, or the mirror's tee) when the upstream applies backpressure.
    const body = this.tap?.bodyStream ?? this.req;
    return body.readableFlowing !== false && body.readableLength === 0 && this.req.readableLength === 0;
  }

  /**
   * Answers 503 now. The request stays in undici's queue (undici cannot remove it) until a connection frees;
   * onConnect then makes undici drop it unsent, and only then does it stop counting towards `maxRequests`.
   */
  #queueTimedOut(): void {
    this.#end();
    this.tap?.primaryFailed();
    const res = this.res;
    if (this.#clientGone || res.destroyed || res.socket?.destroyed) {
      this.#observer.exchangeEnded({ exchange: this, status: CLIENT_CLOSED_STATUS, error: { code: 'SG_CLIENT_CLOSED', kind: null } });
      return;
    }
    try {
      // An unread request body would have to be read and thrown away before the connection could serve again.
      if (this.hasBody && !this.req.complete) closeAfter(res, this.connection);
      const message = `no connection to ${this.backend.upstream.name} came free within ${this.backend.queueTimeout} ms`;
      answerError(res, 503, QUEUE_TIMEOUT_CODE, message, this.requestId);
    } catch {
      res.destroy();
    } finally {
      this.#observer.exchangeEnded({ exchange: this, status: 503, error: { code: QUEUE_TIMEOUT_CODE, kind: 'queue_timeout' } });
    }
  }

  #end(): void {
    this.#state = State.Done;
    untrackOnConnection(this.connection, this);
    if (this.#inSweep) {
      this.#observer.sweep.delete(this);
      this.#leaveSweep();
    }
  }

  #release(): void {
    if (this.#released) return;
    this.#released = true;
    this.backend.upstream.inFlight--;
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
    // The sweep drops the exchange at its next tick if nothing else is waited on: no Set operation per pause.
    this.#waits &= ~Wait.Send;
    this.#resume?.();
  }
}

const CLIENT_CLOSED: { code: string; kind: UpstreamErrorKind | null } = { code: 'SG_CLIENT_CLOSED', kind: null };

/** What node:http refuses in a reason phrase (its checkInvalidHeaderChar): anything but HTAB, SP, VCHAR and obs-text. */
const UNWRITABLE_REASON = /[^\t\x20-\x7e\x80-\xff]/;

/**
 * splitgate's JSON error answer. The reason phrase is given: after a head node:http refused, `res` still holds the
 * upstream's (node:http keeps a reason it has once been given). So is `_hasBody`: node:http turned it off for a
 * refused 204 or 304 head, and would then drop this answer's body after announcing its length.
 */
function answerError(res: ServerResponse, status: number, code: string, message: string, requestId: string): void {
  const body = errorBody(code, message, requestId);
  (res as unknown as { _hasBody: boolean })._hasBody = res.req.method !== 'HEAD';
  res.writeHead(status, STATUS_CODES[status] ?? '', {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'x-request-id': requestId,
  });
  res.end(body);
}

/**
 * A 204 has no body and must not announce one (RFC 9110 §8.6), though some upstreams do, a length or one they then
 * send: NGINX drops the field too. (A 304's Content-Length is the length a 200 would have had: it is relayed.)
 */
function dropContentLength(headers: string[]): void {
  for (let i = headers.length - 2; i >= 0; i -= 2) if (headers[i].toLowerCase() === 'content-length') headers.splice(i, 2);
}

/** The retry condition an upstream failure falls under, or 0. */
function retryCondition(mapped: MappedUpstreamError): number {
  switch (mapped.kind) {
    case 'connect_refused':
    case 'connect_timeout':
    case 'dns':
    case 'tls':
      return RetryOn.ConnectFailure;
    case 'reset':
      return RetryOn.ResetBeforeResponse;
    case 'headers_timeout':
      return RetryOn.HeadersTimeout;
    default:
      return 0;
  }
}

/**
 * A 103's fields, less hop-by-hop ones, written ahead of the final response (node:http's writeEarlyHints, which sends
 * only a 103 that has a valid Link). Not to an HTTP/1.0 client, which cannot read a 1xx (RFC 9110 §15.2).
 */
function relayEarlyHints(req: IncomingMessage, res: ServerResponse, rawHeaders: Buffer[]): void {
  if (req.httpVersionMajor !== 1 || req.httpVersionMinor === 0 || res.headersSent) return;
  // No prototype: a field named `constructor` or `__proto__` is a field like any other.
  const hints: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  const links: string[] = [];
  let connection: string | undefined;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toString('latin1').toLowerCase();
    const value = rawHeaders[i + 1].toString('latin1');
    if (name === 'connection') connection = connection === undefined ? value : `${connection}, ${value}`;
    if (HOP_BY_HOP.has(name) || name === 'content-length') continue;
    if (name === 'link') links.push(value);
    else hints[name] = hints[name] === undefined ? value : `${hints[name] as string}, ${value}`;
  }
  if (links.length === 0) return;
  for (const token of connectionTokens(connection) ?? []) delete hints[token];
  hints.link = links;
  try {
    res.writeEarlyHints(hints);
  } catch {
    // A Link node:http refuses (not `<uri>; param`): the hints are dropped, the final response still comes.
  }
}

/** RFC 9110 §6.5.1's fields that are evaluated before the content, so never from a trailer. */
const NOT_IN_TRAILERS: ReadonlySet<string> = new Set([
  'content-length', 'content-type', 'content-encoding', 'content-range', 'host', 'authorization', 'proxy-authorization',
  'www-authenticate', 'proxy-authenticate', 'authentication-info', 'set-cookie', 'cookie', 'cache-control', 'expires',
  'age', 'pragma', 'location', 'retry-after', 'vary', 'date', 'max-forwards', 'range', 'if-match', 'if-none-match',
  'if-modified-since', 'if-unmodified-since', 'if-range', 'expect',
]);

/**
 * The upstream's trailer fields (RFC 9110 §6.5), after the last chunk. node:http sends them only on a chunked
 * response, i.e. to HTTP/1.1 clients of a response without Content-Length (an upstream that sends trailers sends
 * none); to an HTTP/1.0 client they are dropped. The `Trailer` announcement itself is not relayed (node:http
 * refuses it on a response it cannot chunk). A field node:http considers invalid drops all of them, not the body.
 * Hop-by-hop fields and those a trailer must not carry (RFC 9110 §6.5.1: framing, routing, authentication, cookies,
 * response controls, content format) are dropped, as they are not the response's: a client may act on them.
 */
function forwardTrailers(res: ServerResponse, raw: ReadonlyArray<Buffer | string>): void {
  const fields: Array<[string, string]> = [];
  // undici's raw handler API hands Buffers (its types say strings).
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = latin1(raw[i]);
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || NOT_IN_TRAILERS.has(lower)) continue;
    fields.push([name, latin1(raw[i + 1])]);
  }
  if (fields.length === 0) return;
  try {
    res.addTrailers(fields);
  } catch {
    // Invalid name or value: the response completes without trailers.
  }
}

function latin1(value: Buffer | string): string {
  return typeof value === 'string' ? value : value.toString('latin1');
}

/** Bytes libuv still has to write of the chunk in flight (`writeQueueSize` of the TCP handle); 0 when unknown. */
function writeQueueSize(socket: Socket): number {
  const handle = (socket as unknown as { _handle?: { writeQueueSize?: number } | null })._handle;
  return handle?.writeQueueSize ?? 0;
}
