import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { clientConnection, trackOnConnection, untrackOnConnection, type ConnectionBound } from '../src/proxy/client-connections.js';

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
