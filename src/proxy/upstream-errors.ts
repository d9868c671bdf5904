/**
 * Upstream failures → what the client gets. One place, so every path answers alike: a refused or reset
 * connection is the upstream's fault (502 Bad Gateway, RFC 9110 §15.6.3); a timeout is 504 (§15.6.5);
 * a request body the client cut short is not the upstream's fault at all.
 */
import { SplitgateError } from '../errors.js';
import type { UpstreamErrorKind } from '../metrics/metrics.js';

export interface MappedUpstreamError {
  readonly status: number;
  readonly code: string;
  /** Null when the failure is the client's, not the upstream's. */
  readonly kind: UpstreamErrorKind | null;
  readonly message: string;
}

const TABLE: Record<string, MappedUpstreamError> = {
  ECONNREFUSED: { status: 502, code: 'SG_UPSTREAM_CONNECT_REFUSED', kind: 'connect_refused', message: 'upstream refused the connection' },
  UND_ERR_CONNECT_TIMEOUT: { status: 504, code: 'SG_UPSTREAM_CONNECT_TIMEOUT', kind: 'connect_timeout', message: 'upstream did not accept the connection in time' },
  ECONNRESET: { status: 502, code: 'SG_UPSTREAM_RESET', kind: 'reset', message: 'upstream reset the connection' },
  EPIPE: { status: 502, code: 'SG_UPSTREAM_RESET', kind: 'reset', message: 'upstream closed the connection' },
  UND_ERR_SOCKET: { status: 502, code: 'SG_UPSTREAM_RESET', kind: 'reset', message: 'upstream closed the connection' },
  UND_ERR_CLOSED: { status: 502, code: 'SG_UPSTREAM_RESET', kind: 'reset', message: 'upstream connection closed' },
  UND_ERR_HEADERS_TIMEOUT: { status: 504, code: 'SG_UPSTREAM_TIMEOUT', kind: 'headers_timeout', message: 'upstream did not answer in time' },
  UND_ERR_BODY_TIMEOUT: { status: 504, code: 'SG_UPSTREAM_BODY_TIMEOUT', kind: 'body_timeout', message: 'upstream stopped sending the body' },
  ENOTFOUND: { status: 502, code: 'SG_UPSTREAM_DNS', kind: 'dns', message: 'upstream host name did not resolve' },
  EAI_AGAIN: { status: 502, code: 'SG_UPSTREAM_DNS', kind: 'dns', message: 'upstream host name did not resolve' },
  EHOSTUNREACH: { status: 502, code: 'SG_UPSTREAM_UNREACHABLE', kind: 'connect_refused', message: 'upstream host unreachable' },
  ENETUNREACH: { status: 502, code: 'SG_UPSTREAM_UNREACHABLE', kind: 'connect_refused', message: 'upstream network unreachable' },
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: { status: 502, code: 'SG_UPSTREAM_PROTOCOL', kind: 'protocol', message: 'upstream sent a body of the wrong length' },
  HPE_INVALID_CONSTANT: { status: 502, code: 'SG_UPSTREAM_PROTOCOL', kind: 'protocol', message: 'upstream sent an invalid HTTP response' },
  // undici's maxHeaderSize (16 KiB by default, as node:http's): NGINX says "upstream sent too big header".
  UND_ERR_HEADERS_OVERFLOW: { status: 502, code: 'SG_UPSTREAM_HEADERS_TOO_LARGE', kind: 'protocol', message: 'upstream sent a response head larger than undici accepts' },
  UND_ERR_REQ_CONTENT_LENGTH_MISMATCH: { status: 400, code: 'SG_CLIENT_BODY_INCOMPLETE', kind: null, message: 'request body did not match its content-length' },
  UND_ERR_INVALID_ARG: { status: 400, code: 'SG_BAD_REQUEST', kind: null, message: 'request cannot be forwarded' },
  UND_ERR_NOT_SUPPORTED: { status: 400, code: 'SG_BAD_REQUEST', kind: null, message: 'request cannot be forwarded' },
};

/**
 * The upstream's certificate was not accepted (node:tls and OpenSSL verification codes), or the handshake failed.
 * The code is part of the message: it says what to fix (`ca`, `servername`, an expired certificate).
 */
const TLS_CODES = new Set([
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REVOKED',
  'CERT_SIGNATURE_FAILURE',
  'HOSTNAME_MISMATCH',
  'EPROTO',
]);

/**
 * undici destroys the connection with a SocketError (code UND_ERR_SOCKET, as for a reset) when the upstream sends a
 * status line it cannot take: a 100 Continue it did not ask for ("bad response"; undici sends no Expect), a 101 to a
 * request that asked for no upgrade ("bad upgrade"). The upstream received the request and answered it: a protocol
 * error, not a reset, so it is never replayed as "reset before response".
 */
const BAD_RESPONSE: MappedUpstreamError = { status: 502, code: 'SG_UPSTREAM_PROTOCOL', kind: 'protocol', message: 'upstream sent a status line that was not expected (an unsolicited 100 or 101)' };
const BAD_RESPONSE_MESSAGES: ReadonlySet<string> = new Set(['bad response', 'bad upgrade']);

const OTHER: MappedUpstreamError = { status: 502, code: 'SG_UPSTREAM_ERROR', kind: 'other', message: 'upstream exchange failed' };

export function mapUpstreamError(error: unknown): MappedUpstreamError {
  if (error instanceof SplitgateError) return { status: error.status, code: error.code, kind: null, message: error.message };
  const code = errorCode(error);
  if (code !== undefined) {
    const found = TABLE[code];
    if (code === 'UND_ERR_SOCKET' && BAD_RESPONSE_MESSAGES.has((error as Error).message)) return BAD_RESPONSE;
    if (found !== undefined) return found;
    if (code.startsWith('HPE_')) return TABLE.HPE_INVALID_CONSTANT;
    if (TLS_CODES.has(code) || code.startsWith('ERR_SSL_')) {
      return { status: 502, code: 'SG_UPSTREAM_TLS', kind: 'tls', message: `upstream TLS handshake failed: ${code}` };
    }
  }
  // undici 7's HTTPParserError has no code (it looks llhttp's error number up in a name→number table); its name
  // is what identifies a response that is not HTTP.
  if ((error as { name?: unknown } | null)?.name === 'HTTPParserError') return TABLE.HPE_INVALID_CONSTANT;
  return OTHER;
}

/** undici and net errors carry `code`; Happy Eyeballs wraps several attempts in an AggregateError. */
function errorCode(error: unknown): string | undefined {
  if (error === null || typeof error !== 'object') return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  if (error instanceof AggregateError && error.errors.length > 0) return errorCode(error.errors[0]);
  const cause = (error as { cause?: unknown }).cause;
  return cause !== undefined ? errorCode(cause) : undefined;
}

/** RFC 9110 §9.2.2: a client may send these again after a failure, and so may a proxy on its behalf. */
export const IDEMPOTENT_METHODS: readonly string[] = ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE'];

const IDEMPOTENT: ReadonlySet<string> = new Set(IDEMPOTENT_METHODS);

/** A request that can be sent again as it is: an idempotent method and no body (bodies are streamed, not kept). */
export function repeatable(method: string | undefined, hasBody: boolean): boolean {
  return !hasBody && IDEMPOTENT.has(method ?? '');
}

/**
 * How many times one request is sent again after a pooled connection closed under it. More than once: an upstream
 * that restarts closes all its idle connections at once, and the next one undici picks may be closing too.
 */
export const MAX_STALE_REPLAYS = 2;

/**
 * How soon after the request went out the close must come to be taken for the keep-alive race. In the race the
 * upstream closed before it read the request, so its FIN arrives at most one round trip after the request was
 * written (plus this process's event-loop delay); a close that comes later may follow work the upstream did on it
 * (a handler that timed out, a crash), and sending the request again would do that work twice.
 */
export const STALE_WINDOW_MS = 100;

/**
 * Whether an attempt whose pooled connection the upstream closed under it goes again (the keep-alive race), for
 * client requests, mirror copies and health probes alike. `sentAt`: when undici wrote it, null when it had not yet
 * (then whatever it is goes again); `answered`: an answer had begun (a 1xx); `canRepeat`: see repeatable.
 */
export function staleRace(error: unknown, replays: number, sentAt: number | null, answered: boolean, canRepeat: boolean): boolean {
  if (replays >= MAX_STALE_REPLAYS || !closedWhileReused(error)) return false;
  return sentAt === null || (canRepeat && !answered && performance.now() - sentAt <= STALE_WINDOW_MS);
}

/**
 * The upstream closed a connection that had already carried its bytes (an earlier response) without answering this
 * request: a pooled keep-alive connection its idle timeout closed as the request went out on it. undici reads the
 * FIN first and fails the request with a SocketError ("other side closed") whose `socket` counts what the connection
 * read; an upstream that closes abortively gives a reset, marked by noteResetAfterUse. A fresh connection closed
 * unanswered is not this: that says the upstream is failing.
 */
function closedWhileReused(error: unknown): boolean {
  const failure = error as { code?: unknown; message?: unknown; socket?: { bytesRead?: unknown }; [RESET_AFTER_USE]?: true } | null;
  if (failure === null || typeof failure !== 'object') return false;
  // An upstream that closes idle connections abortively (RST) gives the same race a reset: marked by noteResetAfterUse.
  if (failure.code === 'ECONNRESET' || failure.code === 'EPIPE') return failure[RESET_AFTER_USE] === true;
  if (failure.code !== 'UND_ERR_SOCKET' || failure.message !== 'other side closed') return false;
  const bytesRead = failure.socket?.bytesRead;
  return typeof bytesRead === 'number' && bytesRead > 0;
}

const RESET_AFTER_USE = Symbol('splitgate.resetAfterUse');

/**
 * An 'error' listener for every upstream connection (upstream-pools.ts puts it first): undici fails the request with
 * the socket's own error, which for a reset says nothing of the connection, so it is marked here when the connection
 * had carried bytes before.
 */
export function noteResetAfterUse(this: { readonly bytesRead: number }, error: Error): void {
  const code = (error as { code?: unknown }).code;
  if ((code === 'ECONNRESET' || code === 'EPIPE') && this.bytesRead > 0) (error as { [RESET_AFTER_USE]?: true })[RESET_AFTER_USE] = true;
}

export function errorBody(code: string, message: string, requestId: string): string {
  return JSON.stringify({ error: { code, message, requestId } });
}
