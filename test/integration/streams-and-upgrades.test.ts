/**
 * Streams and upgrades (issue 17): a Server-Sent Events response streams through without buffering (the client
 * has event 1 before the upstream writes event 2), response trailers are forwarded, request trailers are not
 * (undici cannot send them; the body is), and WebSocket connections are counted when they close (metrics, an
 * access log line with bytes each way and duration) and closed after `limits.upgradeIdleTimeout` of silence.
 */
import { createServer, request, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send, waitFor } from '../helpers/http.js';
import { parsePrometheus, sampleValue } from '../helpers/prometheus.js';
import { rawExchange } from '../helpers/raw-client.js';
import { startRecordingUpstream, type RecordingUpstream } from '../helpers/recording-upstream.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';

let releaseSecondEvent: () => void = () => {};
let secondEventSentAt = 0;
let app: Server;
let wsServer: Server;
let recorder: RecordingUpstream;
let proxy: StartedSplitgate;
const upstreamSockets = new Set<Socket>();

beforeAll(async () => {
  app = createServer((req, res) => {
    if (req.url === '/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write('id: 1\ndata: first\n\n');
      // Event 2 waits until the test has seen event 1 through the proxy.
      new Promise<void>((resolve) => (releaseSecondEvent = resolve)).then(() => {
        secondEventSentAt = Date.now();
        res.end('id: 2\ndata: second\n\n');
      });
      return;
    }
    if (req.url === '/bad-trailers') {
      // node:http sends any trailer field it is given; an upstream may send ones no trailer should carry.
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.addTrailers([['Connection', 'close'], ['Set-Cookie', 'evil=1'], ['Content-Type', 'text/html'], ['X-Checksum', 'sha256=def'], ['Keep-Alive', 'timeout=1'], ['Location', '/elsewhere']]);
      res.end('body');
      return;
    }
    if (req.url === '/trailers') {
      res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum, x-status' });
      res.write('part one;');
      res.addTrailers({ 'x-checksum': 'sha256=abc', 'x-status': 'complete' });
      res.end('part two');
      return;
    }
    res.end('ok');
  });
  wsServer = createServer();
  wsServer.on('upgrade', (_req, socket: Socket) => {
    upstreamSockets.add(socket);
    socket.on('close', () => upstreamSockets.delete(socket));
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    socket.on('data', (chunk: Buffer) => socket.write(`echo:${chunk.toString()}`));
    socket.on('end', () => socket.end());
  });
  await Promise.all([app, wsServer].map((server) => new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))));
  recorder = await startRecordingUpstream();
  const url = (server: Server): string => `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy = await startSplitgate({
    upstreams: { app: url(app), ws: url(wsServer), recorder: recorder.url },
    routes: [
      { name: 'ws', match: { pathPrefix: '/ws' }, stable: 'ws' },
      { name: 'upload', match: { pathPrefix: '/upload' }, stable: 'recorder' },
      { name: 'app', stable: 'app' },
    ],
    limits: { upgradeIdleTimeout: '1s' },
    log: { level: 'info' },
  });
});

afterAll(async () => {
  await proxy?.stop();
  for (const socket of upstreamSockets) socket.destroy();
  for (const server of [app, wsServer]) {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  }
  await recorder?.close();
});

describe('Server-Sent Events', () => {
  it('streams each event to the client as the upstream writes it (event 1 arrives before event 2 is sent)', async () => {
    const { hostname, port } = new URL(proxy.url);
    const events: Array<{ text: string; at: number }> = [];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no complete stream in 5 s; got ${JSON.stringify(events)}`)), 5_000);
      const req = request({ host: hostname, port, path: '/events', agent: false }, (res) => {
        expect(res.headers['content-type']).toBe('text/event-stream');
        res.setEncoding('utf8');
        res.on('data', (text: string) => {
          events.push({ text, at: Date.now() });
          // Event 1 is here while the upstream still holds event 2 back: nothing was buffered.
          if (text.includes('data: first')) releaseSecondEvent();
        });
        res.on('end', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      req.on('error', reject);
      req.end();
    });
    const all = events.map((e) => e.text).join('');
    expect(all).toBe('id: 1\ndata: first\n\nid: 2\ndata: second\n\n');
    const first = events.find((e) => e.text.includes('data: first'))!;
    expect(first.text).not.toContain('data: second');
    expect(first.at).toBeLessThanOrEqual(secondEventSentAt);
  });
});

describe('HTTP trailers', () => {
  it('forwards the trailer fields of a chunked upstream response', async () => {
    const reply = await rawExchange(proxy.url, 'GET /trailers HTTP/1.1\r\nHost: app\r\nTE: trailers\r\nConnection: close\r\n\r\n');
    expect(reply.responses).toHaveLength(1);
    expect(reply.responses[0].head).toMatch(/\r\ntransfer-encoding: chunked/i);
    // The last chunk, then the trailer section.
    expect(reply.text).toMatch(/\r\n0\r\n(x-checksum: sha256=abc\r\nx-status: complete|x-status: complete\r\nx-checksum: sha256=abc)\r\n\r\n$/i);
    expect(reply.text).toContain('part one;');
    expect(reply.text).toContain('part two');
  });

  it('drops trailer fields that are hop-by-hop or no trailer may carry (RFC 9110 §6.5.1), forwarding the rest', async () => {
    const reply = await rawExchange(proxy.url, 'GET /bad-trailers HTTP/1.1\r\nHost: app\r\nTE: trailers\r\nConnection: close\r\n\r\n');
    expect(reply.responses.map((r) => r.status)).toEqual([200]);
    expect(reply.text).toMatch(/\r\n0\r\nX-Checksum: sha256=def\r\n\r\n$/);
  });

  it('forwards the body of a request with trailers, without the trailers (undici cannot send request trailers)', async () => {
    const reply = await rawExchange(
      proxy.url,
      'POST /upload HTTP/1.1\r\nHost: app\r\nConnection: close\r\nTransfer-Encoding: chunked\r\nTrailer: x-sum\r\n\r\n5\r\nhello\r\n0\r\nx-sum: 42\r\n\r\n',
    );
    expect(reply.responses.map((r) => r.status)).toEqual([200]);
    const seen = recorder.requests.find((r) => r.target === '/upload');
    expect(seen?.body.toString()).toBe('hello');
    expect(seen?.trailers).toEqual([]);
    expect(recorder.violations).toEqual([]);
  });
});

function openWebSocket(path: string): Promise<{ socket: Socket; head: string }> {
  const { hostname, port } = new URL(proxy.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const timer = setTimeout(() => reject(new Error('no 101 within 5 s')), 5_000);
    let buffered = '';
    socket.on('error', reject);
    socket.on('data', function onData(chunk: Buffer) {
      buffered += chunk.toString('latin1');
      const end = buffered.indexOf('\r\n\r\n');
      if (end === -1) return;
      clearTimeout(timer);
      socket.off('data', onData);
      resolve({ socket, head: buffered.slice(0, end) });
    });
    socket.write(`GET ${path} HTTP/1.1\r\nHost: app\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  });
}

async function metric(name: string, labels: Record<string, string>): Promise<number> {
  return sampleValue(parsePrometheus((await send(proxy.adminUrl, '/metrics')).text), name, labels) ?? 0;
}

describe('WebSocket accounting', () => {
  it('counts a WebSocket while open and when it closes, with bytes each way, and logs it with its duration', async () => {
    const closedBefore = await metric('splitgate_websocket_connections_closed_total', { route: 'ws', version: 'stable' });
    const { socket, head } = await openWebSocket('/ws/chat');
    expect(head).toMatch(/^HTTP\/1\.1 101 /);
    await waitFor('the upgrade counted open', async () => (await metric('splitgate_websocket_connections', { route: 'ws', version: 'stable' })) === 1);
    const echoed = new Promise<string>((resolve) => socket.once('data', (chunk: Buffer) => resolve(chunk.toString())));
    socket.write('hello');
    expect(await echoed).toBe('echo:hello');
    await new Promise((r) => setTimeout(r, 200));
    socket.end();
    await waitFor('the upgrade counted closed', async () => (await metric('splitgate_websocket_connections_closed_total', { route: 'ws', version: 'stable' })) === closedBefore + 1);
    expect(await metric('splitgate_websocket_connections', { route: 'ws', version: 'stable' })).toBe(0);
    expect(await metric('splitgate_websocket_bytes_total', { route: 'ws', version: 'stable', direction: 'in' })).toBeGreaterThanOrEqual(5);
    expect(await metric('splitgate_websocket_bytes_total', { route: 'ws', version: 'stable', direction: 'out' })).toBeGreaterThanOrEqual(10);
    await waitFor('the access log line', () => proxy.logLines.some((l) => l.msg === 'request' && l.path === '/ws/chat'), 3_000);
    const line = proxy.logLines.find((l) => l.msg === 'request' && l.path === '/ws/chat')!;
    expect(line).toMatchObject({ status: 101, route: 'ws', version: 'stable', bytesIn: 5, bytesOut: 10 });
    expect(line.durationMs as number).toBeGreaterThanOrEqual(200);
    expect(line.error).toBeUndefined();
  });

  it('closes a WebSocket silent for limits.upgradeIdleTimeout (1 s), counted and logged as such', async () => {
    const { socket } = await openWebSocket('/ws/idle');
    const started = Date.now();
    const closed = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 5_000);
      socket.on('close', () => {
        clearTimeout(timer);
        resolve(true);
      });
      socket.on('error', () => {});
      socket.resume();
    });
    expect(closed).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    await waitFor('the access log line', () => proxy.logLines.some((l) => l.msg === 'request' && l.path === '/ws/idle'), 3_000);
    expect(proxy.logLines.find((l) => l.msg === 'request' && l.path === '/ws/idle')).toMatchObject({ status: 101, error: 'SG_UPGRADE_IDLE_TIMEOUT' });
    expect(await metric('splitgate_client_rejections_total', { reason: 'upgrade_idle_timeout' })).toBeGreaterThanOrEqual(1);
  });

  it('keeps a WebSocket that talks more often than the idle timeout', async () => {
    const { socket } = await openWebSocket('/ws/busy');
    let closed = false;
    socket.on('close', () => (closed = true));
    socket.on('data', () => {});
    for (let i = 0; i < 5; i++) {
      socket.write('ping');
      await new Promise((r) => setTimeout(r, 400));
    }
    expect(closed).toBe(false);
    socket.destroy();
  });
});
