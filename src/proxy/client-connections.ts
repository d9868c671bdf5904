/**
 * The exchanges in flight on each client connection, so that a connection closing cancels their upstream
 * requests. One 'close' listener per connection instead of one per response: keep-alive connections carry many
 * requests, and a listener (and closure) per response cost about 2 % of a proxied request's CPU time, measured.
 *
 * Usually one exchange is in flight per connection; HTTP/1.1 pipelining can make it several.
 */
import type { Socket } from 'node:net';

export interface ConnectionBound {
  /** The client's connection closed while this was in flight. */
  clientClosed(): void;
}

const kInFlight = Symbol('splitgate.inFlight');

type TrackedSocket = Socket & { [kInFlight]?: ConnectionBound | ConnectionBound[] | null };

/** False when the connection is already closed: the caller treats the client as gone. */
export function trackOnConnection(socket: Socket, bound: ConnectionBound): boolean {
  const tracked = socket as TrackedSocket;
  if (tracked.destroyed) return false;
  const current = tracked[kInFlight];
  if (current === undefined) {
    tracked.once('close', connectionClosed);
    tracked[kInFlight] = bound;
  } else if (current === null) {
    tracked[kInFlight] = bound;
  } else if (Array.isArray(current)) {
    current.push(bound);
  } else {
    tracked[kInFlight] = [current, bound];
  }
  return true;
}

export function untrackOnConnection(socket: Socket, bound: ConnectionBound): void {
  const tracked = socket as TrackedSocket;
  const current = tracked[kInFlight];
  if (current === bound) {
    tracked[kInFlight] = null;
  } else if (Array.isArray(current)) {
    const index = current.indexOf(bound);
    if (index !== -1) current.splice(index, 1);
    if (current.length === 0) tracked[kInFlight] = null;
  }
}

function connectionClosed(this: TrackedSocket): void {
  const current = this[kInFlight];
  this[kInFlight] = null;
  if (current === null || current === undefined) return;
  if (Array.isArray(current)) for (const bound of current) bound.clientClosed();
  else current.clientClosed();
}
