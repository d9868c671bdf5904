/**
 * Issue 14, item 4: slow clients must not pin upstream connections. A client that stops reading (send timeout,
 * NGINX's send_timeout), one that stops sending its body (client body timeout, client_body_timeout), and a request
 * that waits for a connection too long (queue timeout, Envoy's pending requests) each end with a clean error, free
 * the upstream connection, and show up in metrics and the access log. Timeouts here are 1 s; the sweep that checks
 * them ticks every second, so a timeout fires within about two.
 */
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { send, sendRaw, waitFor } from '../helpers/http.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';

/** Generous bound that catches a hang (a pinned connection never frees) without timing the implementation. */
const HANG_MS = 8_000;

const BIG = Buffer.alloc(256 * 1024, 120);

interface Upstream {
  readonly url: string;
  readonly server: Server;
  /** Request URLs the upstream saw, in order. */
  readonly seen: string[];
  /** TCP connections the upstream accepted. */
  connections(): number;
  /** Answers every request held by `/hold` so far. */
  release(): void;
  held(): number;
  close(): Promise<void>;
}

/**
 * `/big` streams 100 MiB with backpressure; `/hold` answers when released; anything else reads the body (after
 * 2.5 s for `/slow-reader`) and answers with its size.
 */
async function startUpstream(): Promise<Upstream> {
  const seen: string[] = [];
  const held: Array<() => void> = [];
  let accepted = 0;
  const server = createServer((req, res) => {
    seen.push(req.url ?? '');
    if (req.url === '/big') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': 400 * BIG.length });
      let sent = 0;
      const pump = (): void => {
        while (sent < 400 && !res.destroyed) {
          sent++;
          if (!res.write(BIG)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
      return;
    }
    if (req.url === '/hold') {
      held.push(() => res.end('released'));
      return;
    }
    let bytes = 0;
    if (req.url === '/slow-reader') {
      req.pause();
      setTimeout(() => req.resume(), 2_500);
    }
    req.on('data', (chunk: Buffer) => (bytes += chunk.length));
    req.on('end', () => res.end(JSON.stringify({ url: req.url, bytes })));
  });
  server.on('connection', () => accepted++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    seen,
    connections: () => accepted,
    release: () => {
      for (const answer of held.splice(0)) answer();
    },
    held: () => held.length,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A client that sends a request and does not read the answer until `read()`; `closed` resolves with the bytes it got. */
function nonReadingClient(baseUrl: string, path: string, requestId: string): { socket: Socket; read(): Promise<number> } {
  const url = new URL(baseUrl);
  const socket = connect({ host: url.hostname, port: Number(url.port) });
  let bytes = 0;
  socket.on('error', () => {});
  socket.on('connect', () => {
    socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nX-Request-Id: ${requestId}\r\n\r\n`);
    socket.pause();
  });
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(bytes)));
  return {
    socket,
    read: () => {
      socket.on('data', (chunk: Buffer) => (bytes += chunk.length));
      socket.resume();
      return closed;
    },
  };
}

async function metric(proxy: StartedSplitgate, line: string): Promise<boolean> {
  const text = await (await fetch(`${proxy.adminUrl}/metrics`)).text();
  return text.includes(line);
}

let upstream: Upstream | undefined;
let proxy: StartedSplitgate | undefined;
const sockets: Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  upstream?.release();
  await proxy?.stop();
  await upstream?.close();
  proxy = undefined;
  upstream = undefined;
});

describe('send timeout (a client that stops reading)', () => {
  it('frees the connections two non-reading clients held, so a third request gets through', async () => {
    upstream = await startUpstream();
    proxy = await startSplitgate({
      upstreams: { app: { url: upstream.url, connections: 2 } },
      timeouts: { send: '1s' },
      routes: [{ name: 'api', stable: 'app' }],
    });
    const first = nonReadingClient(proxy.url, '/big', 'stalled-1');
    const second = nonReadingClient(proxy.url, '/big', 'stalled-2');
    sockets.push(first.socket, second.socket);
    await waitFor('both downloads started', () => upstream!.seen.length === 2);

    // Before the fix this waited forever: both pooled connections were paused behind clients that never read.
    const third = await send(proxy.url, '/small', { timeoutMs: HANG_MS });
    expect(third.status).toBe(200);
    expect(third.json()).toEqual({ url: '/small', bytes: 0 });

    // Headers were out, so the stalled clients' responses are cut: reading what was sent, each finds its connection
    // closed well before the end of the body.
    for (const received of await Promise.all([first.read(), second.read()])) expect(received).toBeLessThan(400 * BIG.length);
    await waitFor('send timeouts counted', () => metric(proxy!, 'splitgate_client_timeouts_total{route="api",version="stable",kind="send"} 2'));
    for (const id of ['stalled-1', 'stalled-2']) {
      const line = await proxy.accessLogLine(id);
      expect(line).toMatchObject({ status: 200, error: 'SG_CLIENT_SEND_TIMEOUT', route: 'api' });
    }
    // Not the upstream's fault: no upstream error is counted (a slow client must not roll a canary back).
    expect(await metric(proxy, 'splitgate_upstream_errors_total{')).toBe(false);
  });

  it('leaves alone a client that keeps reading, with pauses shorter than the timeout', async () => {
    upstream = await startUpstream();
    proxy = await startSplitgate({
      upstreams: { app: { url: upstream.url, connections: 1 } },
      timeouts: { send: '1s' },
      routes: [{ name: 'api', stable: 'app' }],
    });
    // Stops reading for 600 ms after every 16 MiB: the proxy pauses behind it each time, for well over 1 s in all.
    const url = new URL(proxy.url);
    const socket = connect({ host: url.hostname, port: Number(url.port) });
    sockets.push(socket);
    let received = 0;
    let nextPause = 16 * 1024 * 1024;
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received < nextPause) return;
      nextPause += 16 * 1024 * 1024;
      socket.pause();
      setTimeout(() => socket.resume(), 600);
    });
    socket.write('GET /big HTTP/1.1\r\nHost: x\r\nX-Request-Id: slow-reader\r\nConnection: close\r\n\r\n');
    await new Promise((resolve) => socket.once('close', resolve));
    expect(received).toBeGreaterThan(400 * BIG.length);
    expect(await proxy.accessLogLine('slow-reader')).toMatchObject({ status: 200 });
    expect((await proxy.accessLogLine('slow-reader'))?.error).toBeUndefined();
  });
});

describe('client body timeout (a client that stops sending its body)', () => {
  it('answers 408, closes the client connection and frees the upstream connection for the next request', async () => {
    upstream = await startUpstream();
    proxy = await startSplitgate({
      upstreams: { app: { url: upstream.url, connections: 1 } },
      timeouts: { clientBody: '1s' },
      routes: [{ name: 'api', stable: 'app' }],
    });
    const head = 'POST /upload HTTP/1.1\r\nHost: x\r\nX-Request-Id: half-body\r\nContent-Length: 1000\r\n\r\n';
    const reply = await sendRaw(proxy.url, head + 'a'.repeat(500), { timeoutMs: HANG_MS });
    expect(reply.text).toMatch(/^HTTP\/1\.1 408 /);
    expect(reply.text.toLowerCase()).toContain('connection: close');
    expect(reply.text).toContain('"code":"SG_CLIENT_BODY_TIMEOUT"');

    // The only pooled connection is free again. The next request goes out on a new one: a request whose body was
    // half sent leaves its connection unusable (HTTP/1.1 cannot take bytes back), so undici closes it.
    const next = await send(proxy.url, '/next', { method: 'POST', body: 'hello', timeoutMs: HANG_MS });
    expect(next.status).toBe(200);
    expect(next.json()).toEqual({ url: '/next', bytes: 5 });

    expect(await proxy.accessLogLine('half-body')).toMatchObject({ status: 408, error: 'SG_CLIENT_BODY_TIMEOUT' });
    await waitFor('body timeout counted', () => metric(proxy!, 'splitgate_client_timeouts_total{route="api",version="stable",kind="body"} 1'));
    expect(await metric(proxy, 'splitgate_upstream_errors_total{')).toBe(false);
  });

  it('does not blame the client while the upstream is the one slow to read the body', async () => {
    upstream = await startUpstream();
    proxy = await startSplitgate({
      upstreams: { app: { url: upstream.url, connections: 1 } },
      timeouts: { clientBody: '1s' },
      routes: [{ name: 'api', stable: 'app' }],
    });
    // `/slow-reader` reads nothing for 2.5 s: the upload backs up through the proxy to the client, whose bytes stop
    // arriving for longer than the client body timeout through no fault of its own.
    const body = Buffer.alloc(32 * 1024 * 1024, 98);
    const answer = await send(proxy.url, '/slow-reader', { method: 'POST', body, timeoutMs: 30_000 });
    expect(answer.status).toBe(200);
    expect(answer.json()).toEqual({ url: '/slow-reader', bytes: body.length });
  });
});

describe('queue timeout (a request that waits for an upstream connection)', () => {
  it('answers 503 SG_UPSTREAM_QUEUE_TIMEOUT and never sends the request, keeping the pooled connection', async () => {
    upstream = await startUpstream();
    proxy = await startSplitgate({
      upstreams: { app: { url: upstream.url, connections: 1 } },
      timeouts: { queue: '1s', headers: '30s' },
      routes: [{ name: 'api', stable: 'app' }],
    });
    const holding = send(proxy.url, '/hold', { timeoutMs: HANG_MS });
    await waitFor('the only connection is busy', () => upstream!.held() === 1);

    const [queued, queuedPost] = await Promise.all([
      send(proxy.url, '/queued', { headers: { 'x-request-id': 'queued-1' }, timeoutMs: HANG_MS }),
      send(proxy.url, '/queued-post', { method: 'POST', body: 'x'.repeat(10_000), timeoutMs: HANG_MS }),
    ]);
    expect(queued.status).toBe(503);
    expect(queued.json()).toMatchObject({ error: { code: 'SG_UPSTREAM_QUEUE_TIMEOUT', requestId: 'queued-1' } });
    expect(queuedPost.status).toBe(503);

    // A client that gives up while queued is dropped the same way, without costing a connection.
    const gaveUp = send(proxy.url, '/gave-up', { timeoutMs: 200 }).catch(() => 'gave up');
    expect(await gaveUp).toBe('gave up');

    upstream.release();
    expect((await holding).status).toBe(200);
    const after = await send(proxy.url, '/after', { timeoutMs: HANG_MS });
    expect(after.status).toBe(200);

    // The abandoned requests left undici's queue unsent, and the pooled connection stayed open for the next one.
    expect(upstream.seen).toEqual(['/hold', '/after']);
    expect(upstream.connections()).toBe(1);
    expect(await proxy.accessLogLine('queued-1')).toMatchObject({ status: 503, error: 'SG_UPSTREAM_QUEUE_TIMEOUT' });
    await waitFor('queue timeout counted', () => metric(proxy!, 'splitgate_upstream_errors_total{route="api",version="stable",kind="queue_timeout"} 2'));
  });

  it('counts a timed-out request towards maxRequests until undici lets go of it', async () => {
    upstream = await startUpstream();
    proxy = await startSplitgate({
      upstreams: { app: { url: upstream.url, connections: 1, maxRequests: 2 } },
      timeouts: { queue: '1s', headers: '30s' },
      routes: [{ name: 'api', stable: 'app' }],
    });
    const holding = send(proxy.url, '/hold', { timeoutMs: HANG_MS });
    await waitFor('the only connection is busy', () => upstream!.held() === 1);
    expect((await send(proxy.url, '/queued', { timeoutMs: HANG_MS })).status).toBe(503);
    // Still in undici's queue: without this bound, requests timing out behind a stuck pool would pile up unbounded.
    const over = await send(proxy.url, '/over', { timeoutMs: HANG_MS });
    expect(over.json()).toMatchObject({ error: { code: 'SG_UPSTREAM_OVERLOADED' } });
    upstream.release();
    await holding;
    expect((await send(proxy.url, '/after', { timeoutMs: HANG_MS })).status).toBe(200);
  });
});
