import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it, vi } from 'vitest';
import { clientConnection, discardUnreadBody, trackOnConnection, untrackOnConnection, type ConnectionBound } from '../src/proxy/client-connections.js';

/** `remoteAddress` null: unknown, as node reports it for a socket that closed before anyone asked. */
function fakeSocket(destroyed = false, remoteAddress: string | null = '127.0.0.1'): Socket {
  return Object.assign(new EventEmitter(), { destroyed, remoteAddress: remoteAddress ?? undefined }) as unknown as Socket;
}

function bound(): ConnectionBound & { closed: number } {
  return { closed: 0, clientClosed() { this.closed++; } };
}

describe('exchanges in flight per client connection', () => {
  it('a closing connection cancels every exchange still in flight on it (pipelining), once', () => {
    const socket = fakeSocket();
    const connection = clientConnection(socket);
    const [a, b, c] = [bound(), bound(), bound()];
    for (const x of [a, b, c]) expect(trackOnConnection(connection, x)).toBe(true);
    untrackOnConnection(connection, b);
    socket.emit('close');
    socket.emit('close');
    expect([a.closed, b.closed, c.closed]).toEqual([1, 0, 1]);
    expect(socket.listenerCount('close')).toBe(0);
  });

  it('an exchange that ended is not cancelled, and one listener serves the whole keep-alive connection', () => {
    const socket = fakeSocket();
    const first = bound();
    trackOnConnection(clientConnection(socket), first);
    untrackOnConnection(clientConnection(socket), first);
    const second = bound();
    trackOnConnection(clientConnection(socket), second);
    expect(socket.listenerCount('close')).toBe(1);
    socket.emit('close');
    expect([first.closed, second.closed]).toEqual([0, 1]);
  });

  it('refuses a connection that is already closed', () => {
    const socket = fakeSocket(true);
    expect(trackOnConnection(clientConnection(socket), bound())).toBe(false);
    expect(socket.listenerCount('close')).toBe(0);
  });

  it('reads the peer address once per connection, IPv4-mapped IPv6 shown as IPv4', () => {
    const mapped = fakeSocket(false, '::ffff:10.1.2.3');
    expect(clientConnection(mapped).peerIp).toBe('10.1.2.3');
    (mapped as { remoteAddress?: string }).remoteAddress = '10.9.9.9';
    expect(clientConnection(mapped).peerIp).toBe('10.1.2.3');
    expect(clientConnection(fakeSocket(false, '2001:db8::1')).peerIp).toBe('2001:db8::1');
    expect(clientConnection(fakeSocket(true, null)).peerIp).toBe('');
  });
});

describe('dropping an unread request body (discardUnreadBody)', () => {
  /** A request whose body is not complete, as node:http's IncomingMessage looks to discardUnreadBody. */
  function unreadRequest(): IncomingMessage & { dumped: number } {
    const req = { complete: false, dumped: 0, _dump: () => void req.dumped++ };
    return req as unknown as IncomingMessage & { dumped: number };
  }

  function droppingSocket(): Socket & { bytesRead: number; destroyCalls: number } {
    const socket = Object.assign(fakeSocket(), { bytesRead: 100, destroyCalls: 0, resume() {}, destroy() { socket.destroyCalls++; } });
    return socket as unknown as Socket & { bytesRead: number; destroyCalls: number };
  }

  it('holds nothing of the request once its connection closes (a timer per request held ~12 KB for 60 s)', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const socket = droppingSocket();
    const connection = clientConnection(socket);
    let refs: Array<WeakRef<object>> = [];
    (() => {
      const req = unreadRequest();
      discardUnreadBody(req, connection, 60_000);
      expect(req.dumped).toBe(1);
      refs = [new WeakRef(req)];
    })();
    expect(connection.discarding).not.toBeNull();
    socket.emit('close');
    expect(connection.discarding).toBeNull();
    expect(connection.discardTimer).toBeNull();
    // A WeakRef keeps its target until the job that made it ends.
    await new Promise((resolve) => setTimeout(resolve, 0));
    gc();
    expect(refs[0].deref()).toBeUndefined();
  });

  it('closes a client that sends no byte of the rest for the idle time, not one that keeps sending', () => {
    vi.useFakeTimers();
    try {
      const steady = droppingSocket();
      discardUnreadBody(unreadRequest(), clientConnection(steady), 1_000);
      for (let i = 0; i < 5; i++) {
        steady.bytesRead += 10;
        vi.advanceTimersByTime(1_000);
      }
      expect(steady.destroyCalls).toBe(0);
      vi.advanceTimersByTime(1_000);
      expect(steady.destroyCalls).toBe(1);

      const done = droppingSocket();
      const req = unreadRequest();
      discardUnreadBody(req, clientConnection(done), 1_000);
      (req as { complete: boolean }).complete = true;
      vi.advanceTimersByTime(5_000);
      expect(done.destroyCalls).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});
