/**
 * A broken canary does not break users: a canary exchange that fails before answering (connection refused, reset,
 * 503, no headers in time) is sent to stable once, so idempotent requests see no error at all. What cannot be
 * replayed is not: a POST whose body went to the canary, a response whose headers already went out. The canary's
 * failure still counts (metrics, access log), so analysis sees it; retries are bounded by the route's budget; and
 * with stable itself down, clients get stable's honest error, never a detour to the canary.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPort, inParallel, send, waitFor } from '../helpers/http.js';
import { parsePrometheus, sampleValue } from '../helpers/prometheus.js';
import { startSplitgate, type StartedSplitgate } from '../helpers/splitgate.js';
import { echoHandler, startRawUpstream, startUpstream, type RawUpstream, type TestUpstream } from '../helpers/upstreams.js';

const REQUESTS = 20;

async function metric(sg: StartedSplitgate, name: string, labels: Record<string, string>): Promise<number> {
  const res = await send(sg.adminUrl, '/metrics');
  return sampleValue(parsePrometheus(res.text), name, labels) ?? 0;
}

function accessLines(sg: StartedSplitgate, requestId: string): Array<Record<string, unknown>> {
  return sg.logLines.filter((line) => line.msg === 'request' && line.requestId === requestId);
}

describe('retry to stable when the canary fails before answering', () => {
  let stable: TestUpstream;
  let unavailable: TestUpstream;
  let hanging: TestUpstream;
  let reset: RawUpstream;
  let headersThenReset: RawUpstream;
  let sg: StartedSplitgate;

  beforeAll(async () => {
    stable = await startUpstream('stable');
    unavailable = await startUpstream('canary', (_req, res) => {
      res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '1' });
      res.end('canary unavailable');
    });
    hanging = await startUpstream('canary', () => {});
    reset = await startRawUpstream((socket) => socket.resetAndDestroy());
    headersThenReset = await startRawUpstream((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\npartial');
      setTimeout(() => socket.resetAndDestroy(), 20);
    });
    const canaryRoute = (name: string, canary: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
      name,
      match: { pathPrefix: `/${name}` },
      stable: 'stable',
      canary,
      weight: 100,
      // Ejection would take the canary out after a few failures, and 5 requests failing at once (a headers timeout)
      // would exceed the default budget (3 retries at once); these tests are about the retry alone.
      outlier: false,
      retry: { minRetryConcurrency: 10 },
      ...extra,
    });
    sg = await startSplitgate({
      // A chunked body is then read through the body limit (client-limits.ts BodyLimit); Content-Length ones are not.
      limits: { maxBodyBytes: 1_000_000 },
      upstreams: {
        stable: stable.url,
        refused: `http://127.0.0.1:${await closedPort()}`,
        reset: reset.url,
        unavailable: unavailable.url,
        hanging: hanging.url,
        headersThenReset: headersThenReset.url,
      },
      routes: [
        canaryRoute('refused', 'refused'),
        canaryRoute('reset', 'reset'),
        canaryRoute('unavailable', 'unavailable'),
        canaryRoute('hanging', 'hanging', { timeouts: { headers: '300ms' } }),
        canaryRoute('cut', 'headersThenReset'),
        canaryRoute('no-retry', 'refused', { retry: false }),
      ],
    });
  });

  afterAll(async () => {
    await sg?.stop();
    await Promise.all([stable, unavailable, hanging, reset, headersThenReset].map((u) => u?.close()));
  });

  for (const [route, kind, status] of [
    ['refused', 'connect_refused', '502'],
    ['reset', 'reset', '502'],
    ['unavailable', null, '503'],
    ['hanging', 'headers_timeout', '504'],
  ] as const) {
    it(`${route}: every GET is answered by stable, and the canary's failure is still counted`, async () => {
      const stableSeen = stable.seen.length;
      const replies = await inParallel(REQUESTS, 5, (i) => send(sg.url, `/${route}/${i}`));
      expect(replies.map((r) => r.status)).toEqual(Array(REQUESTS).fill(200));
      for (const reply of replies) {
        const body = reply.json<{ version: string; headers: Record<string, string> }>();
        expect(body.version).toBe('stable');
        // The upstream that answered is told it is stable, as on any stable request.
        expect(body.headers['x-splitgate-version']).toBe('stable');
      }
      expect(stable.seen.length - stableSeen).toBe(REQUESTS);
      expect(await metric(sg, 'splitgate_retries_total', { route, result: 'ok' })).toBe(REQUESTS);
      expect(await metric(sg, 'splitgate_routing_decisions_total', { route, version: 'stable', reason: 'retry_stable' })).toBe(REQUESTS);
      expect(await metric(sg, 'http_requests_total', { route, version: 'canary', method: 'GET', code: status })).toBe(REQUESTS);
      expect(await metric(sg, 'http_requests_total', { route, version: 'stable', method: 'GET', code: '200' })).toBe(REQUESTS);
      if (kind !== null) expect(await metric(sg, 'splitgate_upstream_errors_total', { route, version: 'canary', kind })).toBe(REQUESTS);
    });
  }

  it('logs the canary failure and the stable answer as two lines of one request', async () => {
    const reply = await send(sg.url, '/refused/logged', { headers: { 'x-request-id': 'retry-logged-1' } });
    expect(reply.status).toBe(200);
    await waitFor('two access log lines', () => accessLines(sg, 'retry-logged-1').length === 2);
    const [canary, answered] = accessLines(sg, 'retry-logged-1');
    expect(canary).toMatchObject({ version: 'canary', reason: 'weight', status: 502, error: 'SG_UPSTREAM_CONNECT_REFUSED', retried: true });
    expect(answered).toMatchObject({ version: 'stable', reason: 'retry_stable', status: 200, upstream: 'stable' });
    expect(answered.error).toBeUndefined();
  });

  it('replays a POST whose body the canary never received (connection refused)', async () => {
    const stableSeen = stable.seen.length;
    const reply = await send(sg.url, '/refused/post', { method: 'POST', body: 'x'.repeat(10_000), headers: { 'content-type': 'text/plain' } });
    expect(reply.status).toBe(200);
    expect(reply.json<{ version: string; bodyBytes: number }>()).toMatchObject({ version: 'stable', bodyBytes: 10_000 });
    expect(stable.seen.length - stableSeen).toBe(1);
  });

  it('replays a chunked POST read through the body limit whole (connection refused)', async () => {
    const stableSeen = stable.seen.length;
    const reply = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`${sg.url}/refused/chunked`, { method: 'POST', headers: { 'content-type': 'text/plain' } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      // No Content-Length: node:http sends it chunked, in these pieces.
      for (let i = 0; i < 10; i++) req.write('y'.repeat(1_000));
      req.end();
    });
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toMatchObject({ version: 'stable', bodyBytes: 10_000 });
    expect(stable.seen.length - stableSeen).toBe(1);
  });

  it('does not replay a POST whose streamed body went to the canary: the client gets the error, stable never sees it', async () => {
    const stableSeen = stable.seen.length;
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: new URL(sg.url).port, method: 'POST', path: '/reset/upload', headers: { 'transfer-encoding': 'chunked' } });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write('first part of a streamed body');
      setTimeout(() => req.end('and the rest'), 50);
    });
    expect(status).toBe(502);
    expect(stable.seen.length).toBe(stableSeen);
  });

  it('does not replay a POST without a body once it was sent (not idempotent), but does a PUT', async () => {
    const stableSeen = stable.seen.length;
    const reply = await send(sg.url, '/reset/post-empty', { method: 'POST' });
    expect(reply.status).toBe(502);
    expect(stable.seen.length).toBe(stableSeen);
    // PUT is idempotent (RFC 9110 §9.2.2): without a body it is replayed.
    const put = await send(sg.url, '/reset/put-empty', { method: 'PUT' });
    expect(put.status).toBe(200);
    expect(stable.seen.length).toBe(stableSeen + 1);
  });

  it('never retries once response bytes went to the client: the response is cut short', async () => {
    const stableSeen = stable.seen.length;
    const outcome = await new Promise<string>((resolve) => {
      const req = request({ host: '127.0.0.1', port: new URL(sg.url).port, path: '/cut/x' });
      req.on('response', (res) => {
        let bytes = '';
        res.on('data', (chunk: Buffer) => (bytes += chunk.toString()));
        res.on('error', () => resolve(`cut after ${JSON.stringify(bytes)}`));
        res.on('end', () => resolve(`complete ${bytes}`));
        res.on('aborted', () => resolve(`cut after ${JSON.stringify(bytes)}`));
      });
      req.on('error', () => resolve('error'));
      req.end();
    });
    expect(outcome).toBe('cut after "partial"');
    expect(stable.seen.length).toBe(stableSeen);
  });

  it('with retry: false the client gets the canary error', async () => {
    const reply = await send(sg.url, '/no-retry/x');
    expect(reply.status).toBe(502);
    expect(reply.json<{ error: { code: string } }>().error.code).toBe('SG_UPSTREAM_CONNECT_REFUSED');
  });
});

describe('retry budget under concurrent load', () => {
  const CONCURRENT = 40;
  let stable: TestUpstream;
  let unavailable: TestUpstream;
  let sg: StartedSplitgate;

  beforeAll(async () => {
    // Stable holds each request long enough that every retry is still in flight when the last canary failure arrives:
    // otherwise a retry that completed frees room in the budget and the ceiling of 8 below no longer holds. 2 s, as
    // the 40 requests and their 503s can take longer than 600 ms to get through a loaded 2-core CI machine. The
    // tests below then take about 2 s each (all requests held at once), well inside the 30 s test timeout and the
    // 10 s a request may take.
    const echo = echoHandler('stable');
    stable = await startUpstream('stable', (req, res) => setTimeout(() => echo(req, res), 2_000));
    // A canary that answers 503 at once: it received each request, so sending it to stable is a replay.
    unavailable = await startUpstream('canary', (_req, res) => {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('canary unavailable');
    });
    sg = await startSplitgate({
      upstreams: { stable: stable.url, unavailable: unavailable.url, refused: `http://127.0.0.1:${await closedPort()}` },
      routes: [
        { name: 'replayed', match: { pathPrefix: '/replayed' }, stable: 'stable', canary: 'unavailable', weight: 100, outlier: false, retry: { budget: 20, minRetryConcurrency: 3, burst: 0 } },
        { name: 'moved', match: { pathPrefix: '/moved' }, stable: 'stable', canary: 'refused', weight: 100, outlier: false, retry: { budget: 20, minRetryConcurrency: 3 } },
      ],
    });
  });

  afterAll(async () => {
    await sg?.stop();
    await Promise.all([stable?.close(), unavailable?.close()]);
  });

  it('replays at most budget % of the requests in flight; the rest get the canary error', async () => {
    const seenBefore = stable.seen.length;
    const replies = await inParallel(CONCURRENT, CONCURRENT, (i) => send(sg.url, `/replayed/${i}`, { agent: false }));
    const ok = await metric(sg, 'splitgate_retries_total', { route: 'replayed', result: 'ok' });
    const exhausted = await metric(sg, 'splitgate_retries_total', { route: 'replayed', result: 'budget_exhausted' });
    expect(ok + exhausted).toBe(CONCURRENT);
    // 20 % of 40 in flight: at most 8 retries at once, and every retry is still in flight when the last failure comes.
    expect(ok).toBeGreaterThanOrEqual(3);
    expect(ok).toBeLessThanOrEqual(8);
    expect(replies.filter((r) => r.status === 200)).toHaveLength(ok);
    expect(replies.filter((r) => r.status === 503)).toHaveLength(exhausted);
    expect(stable.seen.length - seenBefore).toBe(ok);
  });

  it('moves requests the canary never received (connection refused) to stable outside the budget: every one is answered', async () => {
    const seenBefore = stable.seen.length;
    const replies = await inParallel(CONCURRENT, CONCURRENT, (i) => send(sg.url, `/moved/${i}`, { agent: false }));
    expect(replies.map((r) => r.status)).toEqual(new Array(CONCURRENT).fill(200));
    expect(await metric(sg, 'splitgate_retries_total', { route: 'moved', result: 'ok' })).toBe(CONCURRENT);
    expect(await metric(sg, 'splitgate_retries_total', { route: 'moved', result: 'budget_exhausted' })).toBe(0);
    // Each request reached stable exactly once.
    expect(stable.seen.length - seenBefore).toBe(CONCURRENT);
    // The canary's failures still count, for analysis and ejection.
    expect(await metric(sg, 'splitgate_upstream_errors_total', { route: 'moved', version: 'canary', kind: 'connect_refused' })).toBe(CONCURRENT);
    // Each move was given back as a move, not as a replay: the budget's counts are where they started.
    const guard = sg.splitgate.store.current.table.routes.find((route) => route.name === 'moved')!.guard!;
    expect({ retries: guard.activeRetries, redirects: guard.activeRedirects }).toEqual({ retries: 0, redirects: 0 });
  });
});

describe('stable down', () => {
  let canary: TestUpstream;
  let sg: StartedSplitgate;

  beforeAll(async () => {
    canary = await startUpstream('canary');
    sg = await startSplitgate({
      upstreams: { down: `http://127.0.0.1:${await closedPort()}`, canary: canary.url },
      routes: [{ name: 'api', stable: 'down', canary: 'canary', weight: 0 }],
    });
  });

  afterAll(async () => {
    await sg?.stop();
    await canary?.close();
  });

  it('answers the honest 502 even though a healthy canary is right there', async () => {
    const replies = await inParallel(10, 5, (i) => send(sg.url, `/x/${i}`));
    for (const reply of replies) {
      expect(reply.status).toBe(502);
      expect(reply.json<{ error: { code: string } }>().error.code).toBe('SG_UPSTREAM_CONNECT_REFUSED');
    }
    expect(canary.seen).toHaveLength(0);
    // Stable is never ejected: the next request still goes to it.
    expect((await send(sg.url, '/again')).status).toBe(502);
    expect(await metric(sg, 'splitgate_upstream_ejected', { route: 'api', version: 'canary' })).toBe(0);
  });
});
