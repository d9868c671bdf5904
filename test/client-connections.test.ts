import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { trackOnConnection, untrackOnConnection, type ConnectionBound } from '../src/proxy/client-connections.js';

function fakeSocket(destroyed = false): Socket {
  return Object.assign(new EventEmitter(), { destroyed }) as unknown as Socket;
}

function bound(): ConnectionBound & { closed: number } {
  return { closed: 0, clientClosed() { this.closed++; } };
}

describe('exchanges in flight per client connection', () => {
  it('a closing connection cancels every exchange still in flight on it (pipelining), once', () => {
    const socket = fakeSocket();
    const [a, b, c] = [bound(), bound(), bound()];
    for (const x of [a, b, c]) expect(trackOnConnection(socket, x)).toBe(true);
    untrackOnConnection(socket, b);
    socket.emit('close');
    socket.emit('close');
    expect([a.closed, b.closed, c.closed]).toEqual([1, 0, 1]);
    expect(socket.listenerCount('close')).toBe(0);
  });

  it('an exchange that ended is not cancelled, and one listener serves the whole keep-alive connection', () => {
    const socket = fakeSocket();
    const first = bound();
    trackOnConnection(socket, first);
    untrackOnConnection(socket, first);
    const second = bound();
    trackOnConnection(socket, second);
    expect(socket.listenerCount('close')).toBe(1);
    socket.emit('close');
    expect([first.closed, second.closed]).toEqual([0, 1]);
  });

  it('refuses a connection that is already closed', () => {
    const socket = fakeSocket(true);
    expect(trackOnConnection(socket, bound())).toBe(false);
    expect(socket.listenerCount('close')).toBe(0);
  });
});
