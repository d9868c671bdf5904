/**
 * Upgrade requests (WebSocket): routed and decided like any request, the upstream's 101 relayed, and bytes spliced
 * both ways; an upstream that refuses gets the client a clean 502.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPort } from '../helpers/http.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';

interface WsUpstream {
  server: Server;
  url: string;
  upgrades: IncomingMessage[];
}

/** An upstream that answers every upgrade with 101 and then echoes bytes upper-cased, prefixed with its version. */
async function startWsUpstream(version: string): Promise<WsUpstream> {
  const upgrades: IncomingMessage[] = [];
  const server = createServer((_req, res) => res.end('plain'));
  server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
    upgrades.push(req);
    if (req.url === '/refuse') {
      socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
      return;
    }
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Upstream-Version: ${version}\r\n\r\n`);
    socket.on('data', (chunk: Buffer) => socket.write(`${version}:${chunk.toString().toUpperCase()}`));
    // Upgraded server sockets allow half-open connections: close ours when the proxy closes its side.
    socket.on('end', () => socket.end());
    upstreamSockets.add(socket);
    socket.on('close', () => upstreamSockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, upgrades };
}

/** Sends an upgrade request over raw TCP; resolves with the response head and a way to talk afterwards. */
function openUpgrade(proxyUrl: string, path: string, extraHeaders = ''): Promise<{ head: string; socket: Socket; rest: Buffer }> {
  const url = new URL(proxyUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    let buffered = Buffer.alloc(0);
    const timer = setTimeout(() => reject(new Error('no upgrade response in 5 s')), 5_000);
    socket.on('error', reject);
    socket.on('data', function onData(chunk: Buffer) {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end === -1) return;
      clearTimeout(timer);
      socket.off('data', onData);
      resolve({ head: buffered.subarray(0, end).toString(), rest: buffered.subarray(end + 4), socket });
    });
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nX-Splitgate-Version: forged\r\n${extraHeaders}\r\n`,
    );
  });
}

function nextData(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no data in 5 s')), 5_000);
    socket.once('data', (chunk: Buffer) => {
      clearTimeout(timer);
      resolve(chunk.toString());
    });
  });
}

const upstreamSockets = new Set<Socket>();
let stable: WsUpstream;
let canary: WsUpstream;
let proxy: StartedSplitgate;

beforeAll(async () => {
  stable = await startWsUpstream('stable');
  canary = await startWsUpstream('canary');
  proxy = await startSplitgate({
    log: { level: 'silent' },
    upstreams: { stable: stable.url, canary: canary.url, gone: `http://127.0.0.1:${await closedPort()}` },
    routes: [
      { name: 'down', match: { pathPrefix: '/down' }, stable: 'gone' },
      { name: 'ws', stable: 'stable', canary: 'canary', weight: 0 },
    ],
  });
});

afterAll(async () => {
  await proxy?.stop();
  for (const upstream of [stable, canary]) {
    upstream?.server.closeAllConnections();
    await new Promise((resolve) => upstream?.server.close(resolve));
  }
});

describe('Upgrade (WebSocket) requests', () => {
  it('relays the 101 and splices bytes both ways, on the decided version', async () => {
    const { head, socket } = await openUpgrade(proxy.url, '/chat?room=1');
    expect(head).toMatch(/^HTTP\/1\.1 101 Switching Protocols/);
    expect(head.toLowerCase()).toContain('x-upstream-version: stable');
    socket.write('hello');
    expect(await nextData(socket)).toBe('stable:HELLO');
    socket.write('again');
    expect(await nextData(socket)).toBe('stable:AGAIN');
    socket.destroy();
    const seen = stable.upgrades.at(-1)!;
    expect(seen.url).toBe('/chat?room=1');
    expect(seen.headers['x-splitgate-version']).toBe('stable');
    expect(seen.headers['sec-websocket-key']).toBe('dGhlIHNhbXBsZSBub25jZQ==');
    expect(seen.headers.upgrade?.toLowerCase()).toBe('websocket');
  });

  it('follows overrides like any request', async () => {
    const { head, socket } = await openUpgrade(proxy.url, '/chat', 'X-Canary: always\r\n');
    expect(head.toLowerCase()).toContain('x-upstream-version: canary');
    socket.write('hi');
    expect(await nextData(socket)).toBe('canary:HI');
    socket.destroy();
  });

  it('answers 502 with a JSON error when the upstream refuses the connection or the upgrade', async () => {
    const down = await openUpgrade(proxy.url, '/down');
    expect(down.head).toMatch(/^HTTP\/1\.1 502 /);
    expect(down.rest.toString()).toContain('SG_UPSTREAM_CONNECT_REFUSED');
    down.socket.destroy();
    const refused = await openUpgrade(proxy.url, '/refuse');
    expect(refused.head).toMatch(/^HTTP\/1\.1 5\d\d /);
    refused.socket.destroy();
  });

  it('closes the upstream side when the client goes away', async () => {
    const { socket } = await openUpgrade(proxy.url, '/bye');
    socket.write('x');
    await nextData(socket);
    expect(upstreamSockets.size).toBeGreaterThan(0);
    socket.destroy();
    const deadline = Date.now() + 5_000;
    while (upstreamSockets.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(upstreamSockets.size).toBe(0);
  });

  it('counts upgrades in http_requests_total with code 101', async () => {
    const metrics = await (await fetch(`${proxy.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/http_requests_total\{route="ws",version="stable",method="GET",code="101"\} [1-9]/);
  });
});
