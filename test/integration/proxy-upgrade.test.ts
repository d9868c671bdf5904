/**
 * Upgrade requests. A WebSocket handshake is routed and decided like any request, the upstream's 101 relayed, and
 * bytes spliced both ways; a handshake the upstream declines gets the client that answer as it is, counted by its
 * status (issue 14, item 6). Any other Upgrade (h2c) is proxied as a plain request without the Upgrade offer.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPort, sendRaw } from '../helpers/http.js';
import { parsePrometheus, samplesOf, sampleValue } from '../helpers/prometheus.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';
import { replayAsRequest } from '../../src/proxy/upgrade.js';

interface WsUpstream {
  server: Server;
  url: string;
  upgrades: IncomingMessage[];
}

/** What the upstream's plain request handler saw, echoed back as JSON. */
interface PlainSeen {
  method: string;
  url: string;
  upgrade: string | null;
  http2Settings: string | null;
  body: string;
}

/**
 * An upstream that answers every upgrade with 101 and then echoes bytes upper-cased, prefixed with its version
 * (`/refuse*` handshakes are declined), and plain requests with a JSON account of what it received.
 */
async function startWsUpstream(version: string): Promise<WsUpstream> {
  const upgrades: IncomingMessage[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const seen: PlainSeen = {
        method: req.method ?? '',
        url: req.url ?? '',
        upgrade: req.headers.upgrade ?? null,
        http2Settings: (req.headers['http2-settings'] as string | undefined) ?? null,
        body: Buffer.concat(chunks).toString(),
      };
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(seen));
    });
  });
  server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
    upgrades.push(req);
    if (req.url === '/refuse') {
      socket.end('HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\ncontent-length: 8\r\nx-reason: banned\r\nconnection: close\r\n\r\nno entry');
      return;
    }
    if (req.url === '/refuse-chunked') {
      socket.end('HTTP/1.1 401 Unauthorized\r\nwww-authenticate: Bearer\r\ntransfer-encoding: chunked\r\n\r\nd\r\nplease log in\r\n0\r\n\r\n');
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

function handshake(path: string): string {
  return `GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`;
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

  it('answers 502 with a JSON error when the upstream refuses the connection', async () => {
    const down = await openUpgrade(proxy.url, '/down');
    expect(down.head).toMatch(/^HTTP\/1\.1 502 /);
    expect(down.rest.toString()).toContain('SG_UPSTREAM_CONNECT_REFUSED');
    down.socket.destroy();
  });

  it('relays a declined handshake as it is (status, headers, body), counted by its status and not as an upstream error', async () => {
    const before = parsePrometheus(await (await fetch(`${proxy.adminUrl}/metrics`)).text());
    const reply = await sendRaw(proxy.url, handshake('/refuse'));
    expect(reply.text).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(reply.text.toLowerCase()).toContain('x-reason: banned');
    expect(reply.text.toLowerCase()).toContain('content-type: text/plain');
    expect(reply.text.endsWith('\r\n\r\nno entry')).toBe(true);

    const chunked = await sendRaw(proxy.url, handshake('/refuse-chunked'));
    expect(chunked.text).toMatch(/^HTTP\/1\.1 401 Unauthorized\r\n/);
    expect(chunked.text.toLowerCase()).toContain('www-authenticate: bearer');
    expect(chunked.text).toContain('please log in');

    const after = parsePrometheus(await (await fetch(`${proxy.adminUrl}/metrics`)).text());
    const requests = (samples: typeof after, code: string): number =>
      sampleValue(samples, 'http_requests_total', { route: 'ws', version: 'stable', method: 'GET', code }) ?? 0;
    expect(requests(after, '403') - requests(before, '403')).toBe(1);
    expect(requests(after, '401') - requests(before, '401')).toBe(1);
    expect(requests(after, '502')).toBe(requests(before, '502'));
    const upstreamErrors = (samples: typeof after): number =>
      samplesOf(samples, 'splitgate_upstream_errors_total').filter((s) => s.labels.route === 'ws').reduce((sum, s) => sum + s.value, 0);
    expect(upstreamErrors(after)).toBe(upstreamErrors(before));
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

describe('other Upgrade offers (h2c)', () => {
  it('proxies them as plain requests without the Upgrade offer, body included', async () => {
    const upgradesBefore = stable.upgrades.length + canary.upgrades.length;
    const reply = await sendRaw(
      proxy.url,
      'POST /h2c?x=1 HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, HTTP2-Settings, close\r\nUpgrade: h2c\r\n' +
        'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello',
    );
    expect(reply.text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    const seen = JSON.parse(reply.text.slice(reply.text.indexOf('\r\n\r\n') + 4)) as PlainSeen;
    expect(seen).toEqual({ method: 'POST', url: '/h2c?x=1', upgrade: null, http2Settings: null, body: 'hello' });
    expect(stable.upgrades.length + canary.upgrades.length).toBe(upgradesBefore);
  });

  it('keeps the connection open for the next request when the client asks for keep-alive', async () => {
    const url = new URL(proxy.url);
    const socket = connect(Number(url.port), url.hostname);
    try {
      const read = (): Promise<string> =>
        new Promise((resolve, reject) => {
          let text = '';
          const timer = setTimeout(() => reject(new Error(`no complete response in 5 s: ${text}`)), 5_000);
          const onData = (chunk: Buffer): void => {
            text += chunk.toString('latin1');
            const end = text.indexOf('\r\n\r\n');
            const length = /content-length: (\d+)/i.exec(text);
            if (end !== -1 && length && text.length >= end + 4 + Number(length[1])) {
              clearTimeout(timer);
              socket.off('data', onData);
              resolve(text);
            }
          };
          socket.on('data', onData);
        });
      socket.write('GET /first HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n');
      expect(await read()).toMatch(/^HTTP\/1\.1 200 [\s\S]*"url":"\/first"/);
      socket.write('GET /second HTTP/1.1\r\nHost: localhost\r\n\r\n');
      expect(await read()).toMatch(/^HTTP\/1\.1 200 [\s\S]*"url":"\/second"/);
    } finally {
      socket.destroy();
    }
  });
  it('answers a request pipelined in the same packet right after a declined h2c offer (none is lost, on any Node)', async () => {
    const url = new URL(proxy.url);
    const socket = connect(Number(url.port), url.hostname);
    try {
      let text = '';
      const both = new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`not two responses in 5 s: ${text}`)), 5_000);
        socket.on('data', (chunk: Buffer) => {
          text += chunk.toString('latin1');
          if ((text.match(/"url":"\/(first|second)"/g) ?? []).length === 2) {
            clearTimeout(timer);
            resolve(text);
          }
        });
      });
      socket.write(
        'GET /first HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n' +
          'GET /second HTTP/1.1\r\nHost: localhost\r\n\r\n',
      );
      const replies = await both;
      expect(replies.indexOf('"url":"/first"')).toBeLessThan(replies.indexOf('"url":"/second"'));
      expect(replies.match(/HTTP\/1\.1 200 OK\r\n/g)).toHaveLength(2);
    } finally {
      socket.destroy();
    }
  });
});

describe("replayAsRequest (every Node version: node:http hands over every upgrade request)", () => {
  it('gives a non-WebSocket upgrade request back to the server as a plain request, with its body and what was pipelined after it', async () => {
    // A server as Node 20 runs one: every upgrade request goes to 'upgrade', whatever this Node supports.
    const seen: string[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        seen.push(`${req.method} ${req.url} upgrade=${req.headers.upgrade ?? '-'} connection=${req.headers.connection ?? '-'} body=${Buffer.concat(chunks).toString()}`);
        res.end(req.url);
      });
    });
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => replayAsRequest(server, req, socket, head));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const reply = await sendRaw(
        url,
        'POST /one HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMA\r\n' +
          'Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n' +
          'GET /two HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      );
      expect(reply.text.match(/HTTP\/1\.1 200 OK\r\n/g)).toHaveLength(2);
      expect(seen).toEqual(['POST /one upgrade=- connection=HTTP2-Settings body=hello', 'GET /two upgrade=- connection=close body=']);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('declined handshakes close their connection (a half-open client cannot hold it, or a stop)', () => {
  /** A client that keeps its side open after the response, as allowHalfOpen clients may. */
  function halfOpenClient(proxyUrl: string, path: string): Promise<{ socket: Socket; text: () => string; closed: Promise<void> }> {
    const url = new URL(proxyUrl);
    return new Promise((resolve, reject) => {
      const socket = connect({ port: Number(url.port), host: url.hostname, allowHalfOpen: true });
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
      socket.on('error', () => undefined);
      const closed = new Promise<void>((done) => socket.once('end', () => done()));
      socket.once('connect', () => {
        socket.write(handshake(path));
        resolve({ socket, text: () => text, closed });
      });
      socket.once('error', reject);
    });
  }

  it.each([
    ['declined by the upstream (403 relayed)', '/refuse', /^HTTP\/1\.1 403 /],
    ['answered by splitgate (no route: 404)', '/nowhere', /^HTTP\/1\.1 404 /],
  ])('%s: the connection is closed after the answer, and a stop does not wait for the client', async (_what, path, status) => {
    const upstream = await startWsUpstream('stable');
    const own = await startSplitgate({
      log: { level: 'silent' },
      upstreams: { stable: upstream.url },
      routes: [{ name: 'ws', match: { pathPrefix: '/refuse' }, stable: 'stable' }],
    });
    const client = await halfOpenClient(own.url, path);
    try {
      // splitgate ends its side within its linger time although the client never closes its own.
      await Promise.race([client.closed, new Promise((_, reject) => setTimeout(() => reject(new Error('connection still open after 5 s')), 5_000))]);
      expect(client.text()).toMatch(status);
      const second = await halfOpenClient(own.url, path);
      await waitForText(second.text, status);
      const stopping = Date.now();
      await own.splitgate.stop(300);
      expect(Date.now() - stopping).toBeLessThan(2_000);
      second.socket.destroy();
    } finally {
      client.socket.destroy();
      await own.splitgate.stop(300);
      await new Promise<void>((resolve) => upstream.server.close(() => resolve()));
    }
  });
});

async function waitForText(text: () => string, pattern: RegExp): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!pattern.test(text()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  expect(text()).toMatch(pattern);
}
