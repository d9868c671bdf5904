/**
 * A WebSocket handshake pipelined behind a request still being answered: node:http hands the handshake over as
 * soon as it parses it, and splitgate used to write its 101 and the tunnel's first bytes before that request's
 * response, so the client read the 101 as the answer to its GET. Answers go out in request order.
 */
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';

let upstream: Server;
let proxy: StartedSplitgate;
const tunnels: Duplex[] = [];

beforeAll(async () => {
  upstream = createServer((req, res) => setTimeout(() => res.end('slow-body'), req.url === '/slow' ? 600 : 0));
  upstream.on('upgrade', (_req, socket) => {
    tunnels.push(socket);
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n');
    socket.write('tunnel-hello');
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  proxy = await startSplitgate({ upstreams: { stable: url }, routes: [{ name: 'all', stable: 'stable' }] });
});

afterAll(async () => {
  await proxy?.stop();
  upstream?.closeAllConnections();
  for (const socket of tunnels) socket.destroy();
  await new Promise((resolve) => upstream?.close(resolve));
});

function exchange(bytes: string, untilText: string): Promise<string> {
  const { hostname, port } = new URL(proxy.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(bytes));
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no "${untilText}" within 3 s; got ${JSON.stringify(text)}`));
    }, 3_000);
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (!text.includes(untilText)) return;
      clearTimeout(timer);
      socket.destroy();
      resolve(text);
    });
    socket.on('error', reject);
  });
}

describe('a handshake pipelined behind a slow request', () => {
  it('gets its 101 after the response owed to the request before it', async () => {
    const handshake = 'GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
    const text = await exchange(`GET /slow HTTP/1.1\r\nHost: a\r\n\r\n${handshake}`, 'tunnel-hello');
    expect(text.startsWith('HTTP/1.1 200 OK\r\n')).toBe(true);
    const body = text.indexOf('slow-body');
    const switching = text.indexOf('HTTP/1.1 101 Switching Protocols');
    expect(body).toBeGreaterThan(0);
    expect(switching).toBeGreaterThan(body);
    expect(text.indexOf('tunnel-hello')).toBeGreaterThan(switching);
  });
});
