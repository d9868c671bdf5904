/**
 * Upstream failures as the client sees them, one code per failure (502 refused, reset or not HTTP, 504 timeout,
 * 404 no route), a body cut short when headers were already out, and client disconnects that abort the upstream
 * request so no pooled connection is left wedged. After each failure the proxy keeps serving.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPort, send, waitFor } from '../helpers/http.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';
import { echoHandler, startRawUpstream, startUpstream, type RawUpstream, type TestUpstream } from '../helpers/upstreams.js';

const BODY_LENGTH = 100_000;

let ok: TestUpstream;
let slow: TestUpstream;
let abortable: TestUpstream;
let reset: RawUpstream;
let closer: RawUpstream;
let midBody: RawUpstream;
let midChunk: RawUpstream;
let garbage: RawUpstream;
let proxy: StartedSplitgate;

/** What the abortable upstream has seen of its slow requests. */
const slowRequests = { received: 0, closedUnanswered: 0 };
/** Uploads it reads without answering, and downloads it never finishes. */
const uploads = { received: 0, closedUnanswered: 0 };
const downloads = { started: 0, closedUnfinished: 0 };

beforeAll(async () => {
  const echo = echoHandler('stable');
  ok = await startUpstream('stable');
  // Never answers: the proxy's timeout has to.
  slow = await startUpstream('stable', () => {});
  abortable = await startUpstream('stable', (req, res) => {
    if (req.url === '/abort/slow') {
      slowRequests.received++;
      res.on('close', () => {
        if (!res.writableEnded) slowRequests.closedUnanswered++;
      });
    } else if (req.url === '/abort/upload') {
      req.once('data', () => uploads.received++);
      req.resume();
      res.on('close', () => {
        if (!res.writableEnded) uploads.closedUnanswered++;
      });
    } else if (req.url === '/abort/download') {
      downloads.started++;
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.write(Buffer.alloc(64 * 1024, 'd'));
      res.on('close', () => {
        if (!res.writableEnded) downloads.closedUnfinished++;
      });
    } else {
      echo(req, res);
    }
  });
  reset = await startRawUpstream((socket) => socket.resetAndDestroy());
  closer = await startRawUpstream((socket) => socket.destroy());
  midBody = await startRawUpstream((socket) => {
    socket.write(`HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ${BODY_LENGTH}\r\n\r\n`);
    socket.write(Buffer.alloc(1000, 'a'), () => setTimeout(() => socket.resetAndDestroy(), 20));
  });
  midChunk = await startRawUpstream((socket) => {
    socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
    socket.write('6\r\n world\r\n', () => setTimeout(() => socket.resetAndDestroy(), 20));
  });
  garbage = await startRawUpstream((socket) => socket.end('NOT HTTP AT ALL\r\n\r\n'));
  proxy = await startSplitgate({
    upstreams: {
      ok: ok.url,
      refused: `http://127.0.0.1:${await closedPort()}`,
      reset: reset.url,
      closer: closer.url,
      slow: slow.url,
      midBody: midBody.url,
      midChunk: midChunk.url,
      garbage: garbage.url,
      abortable: { url: abortable.url, connections: 2 },
    },
    routes: [
      { name: 'ok', match: { pathPrefix: '/ok' }, stable: 'ok' },
      { name: 'refused', match: { pathPrefix: '/refused' }, stable: 'refused' },
      { name: 'reset', match: { pathPrefix: '/reset' }, stable: 'reset' },
      { name: 'closed', match: { pathPrefix: '/closed' }, stable: 'closer' },
      { name: 'slow', match: { pathPrefix: '/slow' }, stable: 'slow', timeouts: { headers: '200ms' } },
      { name: 'mid-body', match: { pathPrefix: '/mid-body' }, stable: 'midBody' },
      { name: 'mid-chunk', match: { pathPrefix: '/mid-chunk' }, stable: 'midChunk' },
      { name: 'garbage', match: { pathPrefix: '/garbage' }, stable: 'garbage' },
      { name: 'abort', match: { pathPrefix: '/abort' }, stable: 'abortable' },
      { name: 'host-only', match: { host: 'only.example.test' }, stable: 'ok' },
    ],
  });
});

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([ok, slow, abortable, reset, closer, midBody, midChunk, garbage].map((u) => u?.close()));
});

async function expectStillServing(): Promise<void> {
  const res = await send(proxy.url, '/ok/after');
  expect(res.status).toBe(200);
  expect(res.json<{ url: string }>().url).toBe('/ok/after');
}

interface ErrorReply {
  status: number;
  code: string;
  requestId: string;
}

async function errorReply(path: string, headers: Record<string, string> = {}): Promise<ErrorReply> {
  const res = await send(proxy.url, path, { headers });
  expect(res.headers['content-type']).toBe('application/json');
  const body = res.json<{ error: { code: string; message: string; requestId: string } }>();
  expect(typeof body.error.message).toBe('string');
  expect(body.error.requestId).toBe(res.headers['x-request-id']);
  return { status: res.status, code: body.error.code, requestId: body.error.requestId };
}

function accessLogFor(requestId: string): Promise<Record<string, unknown> | undefined> {
  return proxy.accessLogLine(requestId);
}

function accessLogWritten(requestId: string): Record<string, unknown> | undefined {
  return proxy.logLines.find((l) => l.msg === 'request' && l.requestId === requestId);
}

describe('upstream failures before the response', () => {
  it('answers 502 SG_UPSTREAM_CONNECT_REFUSED when the upstream refuses connections', async () => {
    const reply = await errorReply('/refused/x', { 'x-request-id': 'refused-1' });
    expect(reply).toEqual({ status: 502, code: 'SG_UPSTREAM_CONNECT_REFUSED', requestId: 'refused-1' });
    expect(await accessLogFor('refused-1')).toMatchObject({ status: 502, error: 'SG_UPSTREAM_CONNECT_REFUSED', route: 'refused' });
    await expectStillServing();
  });

  it('answers 502 SG_UPSTREAM_RESET when the upstream resets before sending headers', async () => {
    const reply = await errorReply('/reset/x');
    expect(reply.status).toBe(502);
    expect(reply.code).toBe('SG_UPSTREAM_RESET');
    await expectStillServing();
  });

  it('answers 502 SG_UPSTREAM_RESET when the upstream closes without answering', async () => {
    const reply = await errorReply('/closed/x');
    expect(reply.status).toBe(502);
    expect(reply.code).toBe('SG_UPSTREAM_RESET');
    await expectStillServing();
  });

  it('answers 504 SG_UPSTREAM_TIMEOUT when the upstream is slower than the route’s headers timeout', async () => {
    const reply = await errorReply('/slow/x', { 'x-request-id': 'slow-1' });
    expect(reply.status).toBe(504);
    expect(reply.code).toBe('SG_UPSTREAM_TIMEOUT');
    expect(await accessLogFor('slow-1')).toMatchObject({ status: 504, error: 'SG_UPSTREAM_TIMEOUT' });
    await expectStillServing();
  });

  it('answers 502 SG_UPSTREAM_PROTOCOL when the upstream does not speak HTTP', async () => {
    const reply = await errorReply('/garbage/x');
    expect(reply.status).toBe(502);
    expect(reply.code).toBe('SG_UPSTREAM_PROTOCOL');
    await expectStillServing();
  });

  it('answers 404 SG_NO_ROUTE when no route matches host and path', async () => {
    const reply = await errorReply('/nowhere', { host: 'other.example.test' });
    expect(reply.status).toBe(404);
    expect(reply.code).toBe('SG_NO_ROUTE');
    // The host-only route does match its host, whatever the path.
    const routed = await send(proxy.url, '/nowhere', { headers: { host: 'ONLY.example.test:1234' } });
    expect(routed.status).toBe(200);
  });
});

interface Partial {
  status: number;
  bytes: number;
  complete: boolean;
}

/** Reads a response to the end or to its failure; `complete` says which. */
function receive(path: string): Promise<Partial> {
  const url = new URL(proxy.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, agent: false });
    req.on('error', reject);
    req.on('response', (res) => {
      let bytes = 0;
      let complete = false;
      res.on('data', (chunk: Buffer) => (bytes += chunk.length));
      res.on('end', () => (complete = true));
      res.on('error', () => {});
      res.on('close', () => resolve({ status: res.statusCode ?? 0, bytes, complete }));
    });
    req.end();
  });
}

describe('upstream failures mid-body', () => {
  it('cuts a content-length response short when the upstream resets mid-body, then keeps serving', async () => {
    const result = await receive('/mid-body/x');
    expect(result.status).toBe(200);
    expect(result.complete).toBe(false);
    expect(result.bytes).toBeLessThan(BODY_LENGTH);
    await expectStillServing();
  });

  it('cuts a chunked response short when the upstream resets mid-body, then keeps serving', async () => {
    const result = await receive('/mid-chunk/x');
    expect(result.status).toBe(200);
    expect(result.complete).toBe(false);
    await expectStillServing();
  });
});

describe('client aborts', () => {
  it('aborts the upstream request when the client leaves, more times than the pool has connections', async () => {
    const url = new URL(proxy.url);
    const rounds = 5; // the upstream's pool has 2 connections
    for (let round = 1; round <= rounds; round++) {
      const headers = { 'x-request-id': `abort-${round}` };
      const req = request({ host: url.hostname, port: url.port, path: '/abort/slow', agent: false, headers });
      req.on('error', () => {});
      req.end();
      // A wedged pooled connection would keep this request from ever reaching the upstream.
      await waitFor(`slow request ${round} at the upstream`, () => slowRequests.received === round);
      req.destroy();
      await waitFor(`upstream request ${round} aborted`, () => slowRequests.closedUnanswered === round);
    }
    const logged = (): boolean => Array.from({ length: rounds }, (_, i) => accessLogWritten(`abort-${i + 1}`)).every(Boolean);
    await waitFor('access log lines for the aborts', logged);
    for (let round = 1; round <= rounds; round++) {
      expect(accessLogWritten(`abort-${round}`)).toMatchObject({ status: 499, route: 'abort', error: 'SG_CLIENT_CLOSED' });
    }

    await expectPoolServes();
  });

  it('aborts the upstream request when the client leaves mid-upload', async () => {
    const url = new URL(proxy.url);
    for (let round = 1; round <= 3; round++) {
      const req = request({ host: url.hostname, port: url.port, method: 'POST', path: '/abort/upload', agent: false });
      req.on('error', () => {});
      req.write(Buffer.alloc(16 * 1024, 'u'));
      await waitFor(`upload ${round} at the upstream`, () => uploads.received === round);
      req.destroy();
      await waitFor(`upload ${round} aborted upstream`, () => uploads.closedUnanswered === round);
    }
    await expectPoolServes();
  });

  it('aborts the upstream response when the client leaves mid-download', async () => {
    const url = new URL(proxy.url);
    for (let round = 1; round <= 3; round++) {
      await new Promise<void>((resolve, reject) => {
        const req = request({ host: url.hostname, port: url.port, path: '/abort/download', agent: false });
        req.on('error', () => {});
        req.on('response', (res) => {
          res.on('error', () => {});
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('close', () => reject(new Error('closed before any body arrived')));
        req.end();
      });
      await waitFor(`download ${round} aborted upstream`, () => downloads.closedUnfinished === round);
    }
    expect(downloads.started).toBe(3);
    await expectPoolServes();
  });
});

/** More requests at once than the abortable upstream's pool has connections: all answered, nothing left over. */
async function expectPoolServes(): Promise<void> {
  const after = await Promise.all(Array.from({ length: 6 }, (_, i) => send(proxy.url, `/abort/fast-${i}`)));
  expect(after.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
  await waitFor('no exchange in flight', () => proxy.splitgate.service.inFlight === 0);
}
