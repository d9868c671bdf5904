/**
 * What splitgate keeps per client connection: the peer's address, read once, and the exchanges in flight on it,
 * so that the connection closing cancels their upstream requests. One 'close' listener per connection instead of
 * one per response: keep-alive connections carry many requests, and a listener (and closure) per response cost
 * about 2 % of a proxied request's CPU time, measured.
 *
 * Usually one exchange is in flight per connection; HTTP/1.1 pipelining can make it several.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface ConnectionBound {
  /** The client's connection closed while this was in flight. */
  clientClosed(): void;
}

/** How long a client dropping the rest of an unread body may go without sending a byte when `timeouts.clientBody` is off. */
export const DISCARD_BODY_MS = 30_000;

type DumpableRequest = IncomingMessage & { _dump?: () => void };

/**
 * The request's body will not be read (the upstream answered, or failed, before taking all of it): the rest is
 * pulled off the wire and dropped, as node:http does with a body no handler read (its own `_dump`), so the client can
 * finish sending, read the answer and send its next request on the connection (NGINX discards such a body too).
 * undici has destroyed the request stream it was reading (detached from the socket first) or is about to, and a
 * socket whose request stopped reading stays paused: without this the connection hung until its idle timeout,
 * and a client that sends its whole body before reading never saw the answer. A client that sends no byte of it for
 * `idleMs` (`timeouts.clientBody`, as while the body was read) is closed.
 */
export function discardUnreadBody(req: IncomingMessage, connection: ClientConnection, idleMs: number): void {
  if (req.complete) return;
  const dump = (req as DumpableRequest)._dump;
  if (typeof dump !== 'function') {
    // A node:http without it: the connection cannot serve again, so it is closed after this response.
    connection.closing = true;
    return;
  }
  dump.call(req);
  connection.discarding = req;
  const socket = connection.socket;
  if (socket.destroyed) return;
  socket.resume();
  if (connection.discardTimer !== null) clearTimeout(connection.discardTimer);
  let readBefore = socket.bytesRead;
  // Holds the connection only (which holds the request until its next one or its close): a timer per request that
  // held the request, its response and its exchange for the whole idle time kept ~12 KB per such request alive.
  const check = (): void => {
    connection.discardTimer = null;
    const discarding = connection.discarding;
    if (discarding === null || discarding.complete || socket.destroyed) return;
    if (socket.bytesRead === readBefore) {
      socket.destroy();
      return;
    }
    readBefore = socket.bytesRead;
    connection.discardTimer = setTimeout(check, idleMs).unref();
  };
  connection.discardTimer = setTimeout(check, idleMs).unref();
}

/** `res` is the connection's last response: node:http closes the connection after it, and serves nothing after it. */
export function closeAfter(res: ServerResponse, connection: ClientConnection): void {
  res.shouldKeepAlive = false;
  connection.closing = true;
}

export class ClientConnection {
  inFlight: ConnectionBound | ConnectionBound[] | null = null;
  /**
   * A response on this connection turned keep-alive off (a request refused for its framing or its Host, a limit, a
   * drain, a body timeout): nothing node:http parses after it (a "pipelined" request) is served. Its answer could
   * never be sent, and after a framing refusal those bytes may be an attacker's body.
   */
  closing = false;
  /**
   * node:http could not read the rest of a request already being proxied (a malformed chunked body): the listener
   * answered it itself (400) and closed the connection. The exchange reports that answer, not a client gone (499).
   */
  answeredByListener: { readonly status: number; readonly code: string } | null = null;
  /** The request whose unread body is being dropped (discardUnreadBody): bytes that fail to parse are its body's. */
  discarding: IncomingMessage | null = null;
  discardTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly socket: Socket,
    /** The connected peer's address, IPv4-mapped IPv6 shown as IPv4; '' when the socket had already closed. */
    readonly peerIp: string,
  ) {}
}

const kConnection = Symbol('splitgate.connection');

type TrackedSocket = Socket & { [kConnection]?: ClientConnection };

/** The record of `socket`, made when its first request arrives. */
export function clientConnection(socket: Socket): ClientConnection {
  const tracked = socket as TrackedSocket;
  let connection = tracked[kConnection];
  if (connection === undefined) {
    const address = socket.remoteAddress ?? '';
    connection = new ClientConnection(socket, address.startsWith('::ffff:') ? address.slice(7) : address);
    tracked[kConnection] = connection;
    if (!socket.destroyed) socket.once('close', connectionClosed);
  }
  return connection;
}

/** False when the connection is already closed: the caller treats the client as gone. */
export function trackOnConnection(connection: ClientConnection, bound: ConnectionBound): boolean {
  if (connection.socket.destroyed) return false;
  const current = connection.inFlight;
  if (current === null) connection.inFlight = bound;
  else if (Array.isArray(current)) current.push(bound);
  else connection.inFlight = [current, bound];
  return true;
}

export function untrackOnConnection(connection: ClientConnection, bound: ConnectionBound): void {
  const current = connection.inFlight;
  if (current === bound) {
    connection.inFlight = null;
  } else if (Array.isArray(current)) {
    const index = current.indexOf(bound);
    if (index !== -1) current.splice(index, 1);
    if (current.length === 0) connection.inFlight = null;
  }
}

function connectionClosed(this: TrackedSocket): void {
  const connection = this[kConnection];
  if (connection === undefined) return;
  if (connection.discarding !== null) {
    connection.discarding = null;
    if (connection.discardTimer !== null) clearTimeout(connection.discardTimer);
    connection.discardTimer = null;
  }
  const current = connection.inFlight;
  connection.inFlight = null;
  if (current === null) return;
  if (Array.isArray(current)) for (const bound of current) bound.clientClosed();
  else current.clientClosed();
}
